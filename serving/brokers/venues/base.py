"""What differs between venues, behind one small class; generic ccxt behaviour by default.

A :class:`VenueQuirks` turns an :class:`~serving.ledger.OrderIntent` into the arguments of
ccxt's ``create_order``, converts quantities between base units (what the engine thinks in)
and the venue's units, looks an order up by client id, classifies exceptions into definite
refusals and ambiguous outcomes, and keeps the venue's clock and dead-man's switch.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

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


class FundingPayment(NamedTuple):
    """One funding payment as a venue reports it.

    Attributes:
        venue_id: The venue's id of the payment (the ledger stores it once).
        amount: What the account got (+) or paid (-).
        currency: The currency it was paid in.
        paid_ms: When it was paid (epoch milliseconds, UTC).
    """

    venue_id: str
    amount: float
    currency: str
    paid_ms: int


def settle_currency(market: Mapping[str, Any]) -> str:
    """Return the currency a market's margin, PnL and funding are in."""
    return str(market.get("settle") or market.get("quote") or "")


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
            units = math.floor(units / step + 1e-6) * step
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
            return self.stop_type, None, {**params, **self.stop_params(intent)}
        return intent.order_type, intent.price, params

    stop_type = "market"
    """ccxt order type of a protective stop on this venue."""

    def stop_params(self, intent: OrderIntent) -> dict[str, Any]:
        """Return the venue's params that make an order a stop at ``intent.stop_price``."""
        return {"triggerPrice": intent.stop_price}

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        """Return ``fetch_order`` params that find an order by our client id."""
        return {"clientOrderId": client_order_id}

    def cancel_params(self, client_order_id: str) -> dict[str, Any]:
        """Return ``cancel_order`` params for one of our orders (none by default)."""
        return {}

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

    def funding(
        self, exchange: Any, market: Mapping[str, Any], since_ms: int
    ) -> list[FundingPayment]:
        """Return the funding paid on ``market`` since ``since_ms`` (ccxt's funding history).

        A venue whose ccxt class has no ``fetchFundingHistory`` reports none.
        """
        if not (getattr(exchange, "has", None) or {}).get("fetchFundingHistory"):
            return []
        symbol, code = market["symbol"], settle_currency(market)
        out = []
        for r in exchange.fetch_funding_history(symbol, since_ms):
            if r.get("symbol") not in (None, symbol):
                continue
            venue_id = str(r.get("id") or r["timestamp"])
            currency = str(r.get("code") or code)
            out.append(FundingPayment(venue_id, float(r["amount"]), currency, int(r["timestamp"])))
        return out


@dataclass
class WeightedWindow:
    """A rolling budget of weighted calls (Delta counts weights over 5 minutes).

    The default weights are our configuration, not the venue's published table: set them and
    ``budget`` from the venue's documentation or quota endpoint.

    Attributes:
        budget: Weight allowed per window (set it from the venue's quota endpoint).
        window_s: Window length in seconds.
        weights: Weight per ccxt method; methods not listed weigh ``default_weight``.
        default_weight: Weight of an unlisted call.
    """

    budget: float = 10_000.0
    window_s: float = 300.0
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "create_order": 5.0,
            "cancel_order": 5.0,
            "fetch_order": 1.0,
            "fetch_open_orders": 3.0,
            "fetch_my_trades": 3.0,
            "fetch_positions": 3.0,
            "fetch_balance": 3.0,
        }
    )
    default_weight: float = 1.0
    _spent: deque[tuple[float, float]] = field(default_factory=deque)

    def wait_s(self, method: str, now: float) -> float:
        """Return how long to wait before ``method`` fits the budget (0: go now)."""
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._spent.popleft()
        need = self.weights.get(method, self.default_weight)
        used = sum(w for _, w in self._spent)
        if used + need <= self.budget:
            return 0.0
        freed, i = 0.0, 0
        while used - freed + need > self.budget and i < len(self._spent):
            freed += self._spent[i][1]
            i += 1
        return max(0.0, self._spent[i - 1][0] + self.window_s - now)

    def spend(self, method: str, now: float) -> None:
        """Count a call made at ``now``."""
        self._spent.append((now, self.weights.get(method, self.default_weight)))


def quirks_for(venue: str) -> VenueQuirks:
    """Return the quirks of a ccxt exchange id (generic for venues without a module)."""
    if venue == "delta":
        from serving.brokers.venues.delta import DeltaQuirks

        return DeltaQuirks()
    if venue in ("binanceusdm", "binance"):
        from serving.brokers.venues.binance import BinanceUsdmQuirks

        return BinanceUsdmQuirks()
    return VenueQuirks()
