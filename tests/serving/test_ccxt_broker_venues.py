"""Venue quirks through the real ccxt classes (no network: the HTTP layer is replaced)."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from serving.brokers.ccxt import BrokerConfigError, make_exchange
from serving.brokers.venues import quirks_for
from serving.brokers.venues.base import WeightedWindow
from serving.ledger.events import OrderIntent
from serving.order_state import client_order_id

SYMBOL = "BTC/USDT:USDT"
STOP = client_order_id("sig-1", "stop")
ENTRY = client_order_id("sig-1", "entry")


def market(**kw: Any) -> dict[str, Any]:
    values = {
        "id": "BTCUSDT", "numericId": 84, "lowercaseId": "btcusdt", "symbol": SYMBOL,
        "base": "BTC", "quote": "USDT", "settle": "USDT", "type": "swap", "spot": False,
        "margin": False, "swap": True, "future": False, "option": False, "contract": True,
        "linear": True, "inverse": False, "contractSize": 0.001, "active": True,
        "precision": {"amount": 1.0, "price": 0.5},
        "limits": {"amount": {"min": 1.0, "max": None}, "price": {}, "cost": {}, "leverage": {}},
        "info": {"orderTypes": ["LIMIT", "MARKET", "STOP_MARKET"]},
    }  # fmt: skip
    values.update(kw)
    return values


def stop_intent(amount: float) -> OrderIntent:
    return OrderIntent(STOP, "sig-1", "stop", 0, SYMBOL, "sell", "stop", 0.005, amount,
                       stop_price=95_000.0, reduce_only=True)  # fmt: skip


def answer(request: dict[str, Any], params: Any = None) -> dict[str, Any]:
    order = {"id": 7, "client_order_id": request.get("client_order_id"), "state": "open"}
    return {"result": {**order, "size": 5, "unfilled_size": 5, "product_id": 84}}


def delta() -> Any:
    x = ccxt.delta({"apiKey": "k", "secret": "s"})
    x.set_markets([market()])
    x.options["marketsByNumericId"] = {"84": x.markets[SYMBOL]}
    x.load_markets = lambda reload=False, params=None: x.markets
    return x


def test_delta_stop_goes_as_deltas_own_params_with_client_id_and_reduce_only() -> None:
    x, sent = delta(), []
    x.privatePostOrders = lambda req, params=None: (sent.append(req), answer(req))[1]
    q = quirks_for("delta")
    kind, price, params = q.create_args(stop_intent(5.0), 5.0)
    order = x.create_order(SYMBOL, kind, "sell", 5.0, price, params)
    assert sent == [{
        "product_id": 84, "size": "5", "side": "sell", "order_type": "market_order",
        "client_order_id": STOP, "reduce_only": True,
        "stop_order_type": "stop_loss_order", "stop_price": "95000",
    }]  # fmt: skip
    assert order["clientOrderId"] == STOP


def test_delta_looks_an_order_up_by_client_id() -> None:
    x, asked = delta(), []
    x.privateGetOrdersClientOrderIdClientOid = lambda req, params=None: (
        asked.append(req), answer({"client_order_id": req["client_oid"]}))[1]  # fmt: skip
    found = x.fetch_order(None, SYMBOL, quirks_for("delta").lookup_params(ENTRY))
    assert (asked, found["clientOrderId"]) == ([{"client_oid": ENTRY}], ENTRY)


def test_delta_sizes_are_whole_contracts_rounded_down() -> None:
    q = quirks_for("delta")
    m = market()
    assert (q.amount(m, 0.0059), q.amount(m, 0.0009), q.base_qty(m, 5.0)) == (5.0, 0.0, 0.005)


def test_delta_signature_expiry_is_a_clock_error_and_sync_patches_the_signing_clock() -> None:
    x = delta()
    x.fetch_time = lambda params=None: x.milliseconds() + 30_000
    q = quirks_for("delta")
    assert q.clock_error(ccxt.ExchangeError('delta {"error":{"code":"expired_signature"}}'))
    offset = q.sync_clock(x)
    assert offset == pytest.approx(30.0, abs=1.0)
    assert x.seconds() - ccxt.Exchange.seconds() in (29, 30, 31)


def test_delta_dead_mans_switch_posts_cancel_after_in_milliseconds() -> None:
    x, sent = delta(), []
    x.privatePostOrdersCancelAfter = lambda req, params=None: sent.append(req) or {}
    x.private_post_orders_cancel_after = x.privatePostOrdersCancelAfter
    assert quirks_for("delta").arm_dead_man(x, 60)
    assert sent == [{"cancel_after": "60000"}]


def test_binance_usdm_stop_goes_to_the_algo_endpoint_and_is_looked_up_there() -> None:
    x = ccxt.binanceusdm({"apiKey": "k", "secret": "s"})
    x.set_markets([market(contractSize=1.0, precision={"amount": 0.001, "price": 0.1})])
    x.load_markets = lambda reload=False, params=None: x.markets
    sent: dict[str, Any] = {}

    def capture(name: str) -> Any:
        def call(req: dict[str, Any], params: Any = None) -> dict[str, Any]:
            sent[name] = req
            return {"orderId": 1, "algoId": 1, "status": "NEW", "symbol": "BTCUSDT"}

        return call

    x.fapiPrivatePostAlgoOrder = capture("algo")
    x.fapiPrivatePostOrder = capture("order")
    q = quirks_for("binanceusdm")
    kind, price, params = q.create_args(stop_intent(0.005), 0.005)
    x.create_order(SYMBOL, kind, "sell", 0.005, price, params)
    assert sent["algo"]["clientAlgoId"] == STOP
    assert (sent["algo"]["type"], sent["algo"]["triggerPrice"]) == ("STOP_MARKET", "95000")
    assert sent["algo"]["reduceOnly"] is True
    assert q.lookup_params(STOP) == {"clientOrderId": STOP, "trigger": True}
    assert q.lookup_params(ENTRY) == {"clientOrderId": ENTRY}


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (ccxt.InsufficientFunds("x"), "rejected"),
        (ccxt.InvalidOrder("x"), "rejected"),
        (ccxt.BadSymbol("x"), "rejected"),
        (ccxt.AuthenticationError("x"), "rejected"),
        (ccxt.RequestTimeout("x"), "unresolved"),
        (ccxt.NetworkError("x"), "unresolved"),
        (ccxt.ExchangeNotAvailable("x"), "unresolved"),  # 5xx
        (ccxt.RateLimitExceeded("x"), "unresolved"),
        (ccxt.ExchangeError("x"), "unresolved"),  # a code ccxt could not map
        (ccxt.DuplicateOrderId("x"), "unresolved"),  # it may be there: look it up
    ],
)
def test_only_definite_refusals_are_rejections(exc: Exception, outcome: str) -> None:
    assert quirks_for("delta").classify(exc) == outcome


def test_make_exchange_picks_the_testnet_and_names_missing_fields_only() -> None:
    x = make_exchange("delta", "key-1", "secret-1", testnet=True)
    assert x.urls["api"]["public"] == "https://testnet-api.delta.exchange"
    with pytest.raises(BrokerConfigError, match=r"venue: 'deltaa' is not a ccxt exchange id"):
        make_exchange("deltaa", "k", "s")
    with pytest.raises(BrokerConfigError, match="secret: needed to trade on delta") as err:
        make_exchange("delta", "key-1", None)
    assert "key-1" not in str(err.value)


def test_the_weighted_window_waits_until_old_calls_leave_it() -> None:
    w = WeightedWindow(budget=10.0, window_s=300.0, weights={"create_order": 5.0})
    w.spend("create_order", 0.0)
    w.spend("create_order", 100.0)
    assert w.wait_s("create_order", 150.0) == pytest.approx(150.0)  # the first leaves at 300
    assert w.wait_s("create_order", 300.0) == 0.0
