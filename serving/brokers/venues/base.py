"""What differs between venues, behind one small class; generic ccxt behaviour by default.

A :class:`VenueQuirks` turns an :class:`~serving.ledger.OrderIntent` into the arguments of
ccxt's ``create_order``, converts quantities between base units (what the engine thinks in)
and the venue's units, looks an order up by client id, classifies exceptions into definite
refusals and ambiguous outcomes, and keeps the venue's clock and dead-man's switch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from serving.ledger.events import OrderIntent

Outcome = Literal["rejected", "unresolved"]

# ccxt exception classes (by name, so this module needs no ccxt import) that are a definite
# answer: the exchange read the request and refused it; nothing was placed.
DEFINITE_REFUSALS = (
    "AuthenticationError",  # PermissionDenied, AccountSuspended, AccountNotEnabled too
    "InsufficientFunds",
    "InvalidOrder",  # OrderImmediatelyFillable, OrderNotFillable, ...
    "BadSymbol",
    "BadRequest",
    "ArgumentsRequired",
    "NotSupported",
    "OperationRejected",
    "MarketClosed",
)
# Classes whose outcome is unknown even though they subclass a refusal above.
AMBIGUOUS = ("DuplicateOrderId", "OrderNotFound", "OrderNotCached")


def _mro_names(exc: BaseException) -> list[str]:
    return [c.__name__ for c in type(exc).__mro__]


class VenueQuirks:
    """Generic ccxt venue: unified params, amounts in base units, no clock or dead-man quirks."""

    name = "generic"

    def amount(self, market: Mapping[str, Any], qty: float) -> float:
        """Return ``qty`` (base units) in the venue's units, rounded down to its step."""
        size = float(market.get("contractSize") or 1.0)
        step = float((market.get("precision") or {}).get("amount") or 0.0)
        units = qty / size
        if step > 0.0:
            units = math.floor(units / step + 1e-9) * step
        return units

    def base_qty(self, market: Mapping[str, Any], amount: float) -> float:
        """Return an amount in the venue's units as base units."""
        return amount * float(market.get("contractSize") or 1.0)

    def min_amount(self, market: Mapping[str, Any]) -> float:
        """Return the smallest order amount (venue units); 0 when the venue says nothing."""
        return float(((market.get("limits") or {}).get("amount") or {}).get("min") or 0.0)

    def create_args(
        self, intent: OrderIntent, amount: float
    ) -> tuple[str, float | None, dict[str, Any]]:
        """Return ccxt ``create_order``'s ``type``, ``price`` and ``params`` for an intent."""
        params: dict[str, Any] = {"clientOrderId": intent.client_order_id}
        if intent.reduce_only:
            params["reduceOnly"] = True
        if intent.order_type == "stop":
            params["triggerPrice"] = intent.stop_price
            return "market", None, params
        return intent.order_type, intent.price, params

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        """Return ``fetch_order`` params that find an order by our client id."""
        return {"clientOrderId": client_order_id}

    def classify(self, exc: BaseException) -> Outcome:
        """Return ``rejected`` for a definite refusal, ``unresolved`` for anything else.

        Timeouts, network errors, 5xx (``ExchangeNotAvailable``), rate limits (the request
        may or may not have been counted) and errors ccxt could not map (plain
        ``ExchangeError``) are unresolved: only a lookup at the exchange decides them.
        """
        names = _mro_names(exc)
        if any(n in AMBIGUOUS for n in names):
            return "unresolved"
        if any(n in DEFINITE_REFUSALS for n in names):
            return "rejected"
        return "unresolved"

    def clock_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` says our request's timestamp was too far from the venue's clock."""
        return False

    def sync_clock(self, exchange: Any) -> float:
        """Align the request timestamps with the venue's clock; return the offset (s)."""
        return 0.0

    def arm_dead_man(self, exchange: Any, seconds: float) -> bool:
        """Ask the venue to cancel our orders if we go quiet for ``seconds`` (False: cannot)."""
        return False


def quirks_for(venue: str) -> VenueQuirks:
    """Return the quirks of a ccxt exchange id (generic for venues without a module)."""
    if venue == "delta":
        from serving.brokers.venues.delta import DeltaQuirks

        return DeltaQuirks()
    if venue in ("binanceusdm", "binance"):
        from serving.brokers.venues.binance import BinanceUsdmQuirks

        return BinanceUsdmQuirks()
    return VenueQuirks()
