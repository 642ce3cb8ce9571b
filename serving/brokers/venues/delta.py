"""Delta Exchange (global venue) through ccxt's ``delta`` class.

Checked in the installed ccxt 4.5.64 (``ccxt/delta.py``; line numbers of that file):

- The ``delta`` class reaches the global venue (``api.delta.exchange``, lines 128-131); its
  testnet is ``set_sandbox_mode(True)`` (``urls['test']``, lines 124-127). The India venue's
  ``BTC/USD:USD`` contract is not reachable through it; the BTC perpetual here is
  ``BTC/USDT:USDT`` (symbols are ``base/quote:settle``, lines 876-878).
- Sizes are whole contracts: the amount step of every derivative is 1 (lines 871-872) and a
  contract is ``contract_value`` of the base (``contractSize``, line 867): 0.001 BTC for the
  BTC perpetual. :meth:`DeltaQuirks.amount` rounds down to whole contracts.
- ``create_order`` maps the unified ``clientOrderId`` to ``client_order_id`` (lines
  1971-1974) and ``reduceOnly`` to ``reduce_only`` (1975-1978); everything else goes to the
  venue as given (``self.extend(request, params)``, line 1979). So a stop is ``market`` with
  Delta's own ``stop_order_type='stop_loss_order'`` and ``stop_price``, and post-only and time
  in force are ``post_only`` and ``time_in_force`` (their names: the commented request, lines
  1964-1967, and the order fields parsed at 1850-1857).
- An order is found by client id with ``fetch_order(None, symbol, {'clientOrderId': id})``,
  which calls ``GET /orders/client_order_id/{client_oid}`` (lines 2175-2181).
- Private requests are signed with ``timestamp = str(self.seconds())`` (line 4023), with no
  correction for clock drift (unlike Binance's ``timeDifference``); Delta refuses a signature
  older than 5 seconds (Delta's API documentation; nothing in ccxt models it).
  :meth:`DeltaQuirks.sync_clock` measures the offset with ``fetch_time`` (line 429) and
  replaces the exchange object's ``seconds``.
- Errors: ccxt maps a few codes exactly (lines 332-348: ``insufficient_margin`` ->
  ``InsufficientFunds``, ``invalid_contract`` -> ``BadSymbol``, ``invalid_api_key`` ->
  ``AuthenticationError``...); any other code becomes a plain ``ExchangeError`` (line 4054),
  which the broker treats as unresolved. A signature-expiry error is one of those: the broker
  resynchronizes the clock and the order is resolved by lookup like any unresolved one.
- Rate limits are weighted per endpoint in a 5-minute window; ccxt only spaces calls by
  ``rateLimit`` = 300 ms (line 31). ``venues.base.WeightedWindow`` keeps our own budget; the
  venue's current quota is ``GET /rate_limits/quota`` (line 174).
- ``POST /orders/cancel_after`` (line 188) is the dead-man's switch: the venue cancels our
  orders if it is not re-armed in time.
- Funding: the ``delta`` class has no ``fetchFundingHistory``; payments are wallet
  transactions (``fetch_ledger``, ``GET /wallet/transactions``, lines 2370-2419) of type
  ``perpetual_futures_funding`` (left unmapped by ``parse_ledger_entry_type``, line 2429),
  with Delta's own signed ``amount``. One page of :data:`LEDGER_PAGE` is read per poll, the
  newest first, with no paging: more wallet transactions than that between two polls
  (commissions count) would hide the oldest. Which product a payment is for is read from its
  ``meta_data`` (``product_symbol`` or ``product_id``) when present. Neither is checked
  against a live account (no network here).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from serving.brokers.venues.base import FundingPayment, VenueQuirks, settle_currency
from serving.ledger.events import OrderIntent

LEDGER_PAGE = 100
"""Wallet transactions read per funding poll (``page_size``; the newest first, no paging)."""
SIGNATURE_EXPIRY_CODES = ("expired_signature", "signature_expired", "signature expired")


class DeltaQuirks(VenueQuirks):
    """Delta Exchange: whole contracts, own stop/post-only params, patched clock, dead-man."""

    name = "delta"

    def amount(self, market: Mapping[str, Any], qty: float) -> float:
        """Return whole contracts for ``qty`` base units (rounded down)."""
        size = float(market.get("contractSize") or 1.0)
        return float(math.floor(qty / size + 1e-6))

    def stop_params(self, intent: OrderIntent) -> dict[str, Any]:
        """Return Delta's own stop params (its prices are strings)."""
        return {"stop_order_type": "stop_loss_order", "stop_price": f"{intent.stop_price:.12g}"}

    def clock_error(self, exc: BaseException) -> bool:
        """Whether Delta refused the signature as expired (our clock is off)."""
        text = str(exc).lower()
        return any(code in text for code in SIGNATURE_EXPIRY_CODES)

    def sync_clock(self, exchange: Any) -> float:
        """Measure the venue's clock and sign with it from now on; return the offset (s)."""
        sent = time.time()
        server = float(exchange.fetch_time()) / 1000.0
        local = (sent + time.time()) / 2.0
        offset = server - local
        exchange.seconds = lambda: int(time.time() + offset)
        return offset

    def arm_dead_man(self, exchange: Any, seconds: float) -> bool:
        """Arm ``cancel_after``: the venue cancels our orders unless re-armed in time."""
        exchange.private_post_orders_cancel_after({"cancel_after": str(int(seconds * 1000))})
        return True

    def funding(
        self, exchange: Any, market: Mapping[str, Any], since_ms: int
    ) -> list[FundingPayment]:
        """Return the funding paid on ``market`` since ``since_ms`` (wallet transactions)."""
        code = settle_currency(market)
        ours = {str(market.get("id")), str(market.get("numericId"))}
        out = []
        for r in exchange.fetch_ledger(code, since_ms, LEDGER_PAGE):
            info = r.get("info") or {}
            if info.get("transaction_type") != "perpetual_futures_funding":
                continue
            meta = info.get("meta_data") or {}
            product = meta.get("product_symbol", meta.get("product_id"))
            if product is not None and str(product) not in ours:
                continue  # another contract's funding
            out.append(FundingPayment(str(r["id"]), float(r["amount"]), code, int(r["timestamp"])))
        return out
