"""Binance USDT-M futures through ccxt's ``binanceusdm`` class.

Checked in the installed ccxt 4.5.64 (``ccxt/binance.py``, which ``binanceusdm`` extends):

- ``create_order`` takes the unified ``clientOrderId`` as ``newClientOrderId`` (lines 6376 and
  6463); a conditional order on a linear swap goes to the algo endpoint as ``clientAlgoId``
  (6463-6464). ccxt's own generated ids are 32 characters (``'x-xcKtGhcu' + uuid22()``,
  6468-6473).
- A stop is ``STOP_MARKET`` with ``triggerPrice``/``stopPrice`` (the required fields, 6509-6524
  and 6590-6603); post-only on a contract is ``timeInForce='GTX'`` (6486-6491);
  ``reduceOnly`` goes through as given.
- An order is found by client id through ``fetch_order(None, symbol, {'clientOrderId': id})``
  (``origClientOrderId``, lines 6726-6733); a stop lives on the algo endpoint, so its lookup
  and its cancel add ``trigger=True`` (``clientAlgoId``, lines 6725-6731 and 7446-7456). Stops
  are not in the plain open-orders list: reconciliation finds them by lookup.
- Request timestamps use ``nonce() = milliseconds() - options['timeDifference']`` (2918-2919);
  ``load_time_difference`` measures the offset; error -1021 (timestamp outside the receive
  window) maps to ``BadRequest`` (2456): a definite refusal.
- Amounts are base units (contract size 1), rounded down to the market's amount step.
"""

from __future__ import annotations

from typing import Any

from serving.brokers.venues.base import VenueQuirks
from serving.order_state import parse_client_order_id


class BinanceUsdmQuirks(VenueQuirks):
    """Binance USDT-M: base-unit amounts, ``STOP_MARKET`` stops, ccxt's clock correction."""

    name = "binanceusdm"

    stop_type = "STOP_MARKET"

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        """Return lookup params; a stop is looked up on the algo endpoint."""
        return {"clientOrderId": client_order_id, **self.cancel_params(client_order_id)}

    def cancel_params(self, client_order_id: str) -> dict[str, Any]:
        """Return ``trigger=True`` for a stop (an algo order), nothing otherwise."""
        parts = parse_client_order_id(client_order_id)
        return {"trigger": True} if parts is not None and parts.leg == "stop" else {}

    def clock_error(self, exc: BaseException) -> bool:
        """Whether Binance refused the request's timestamp (-1021)."""
        return "-1021" in str(exc)

    def sync_clock(self, exchange: Any) -> float:
        """Let ccxt correct its timestamps by the measured offset; return it (s)."""
        return -float(exchange.load_time_difference()) / 1000.0
