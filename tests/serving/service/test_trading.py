"""The trading endpoints over HTTP through the ASGI app, on real SQLite and PostgreSQL ledgers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from starlette.testclient import TestClient

from serving.brokers.ccxt import CcxtBroker, CcxtBrokerConfig
from serving.control import pending
from serving.ledger import (
    FillRecord,
    LedgerConfig,
    OrderIntent,
    fill_event,
    halt_event,
    intent_event,
    open_ledger,
    state_event,
)
from serving.ledger.store import Ledger
from serving.runtime.clock import SimClock
from serving.service.service import SignalService
from serving.service.wiring import HOLDER, Runtime
from tests.serving.fake_venue import FakeVenue
from tests.serving.service.conftest import SYMBOL, make_runtime

T0 = pd.Timestamp("2026-01-15 10:30", tz="UTC")
VENUE_T0 = pd.Timestamp("2026-01-01 00:05", tz="UTC")
"""The fake venue's clock starts at midnight of 2026-01-01."""
TRADING_PATHS = {
    "/api/orders", "/api/positions", "/api/account", "/api/trades", "/api/bot/start",
    "/api/bot/stop", "/api/kill-switch",
}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_config(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerConfig:
    """The ledger of the test on each backend."""
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else None
    return LedgerConfig.build(tmp_path / "ledger-home", dsn=dsn)


@pytest.fixture
def loop_ledger(ledger_config: LedgerConfig) -> Iterator[Ledger]:
    """The same ledger opened apart, as the trading loop's process would."""
    ledger = open_ledger(ledger_config)
    yield ledger
    ledger.close()


@pytest.fixture
def runtime(
    full_market: dict[str, pd.DataFrame], tmp_path: Path, ledger_config: LedgerConfig
) -> Iterator[Runtime]:
    built, _, _ = make_runtime(full_market, tmp_path, ledger=ledger_config)
    HOLDER.configure(lambda: built)
    yield built
    HOLDER.reset()  # stops the runtime: closes the desk's ledger


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = cast(Any, SignalService).to_asgi()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def keys(runtime: Runtime) -> dict[str, str]:
    store = runtime.keys
    return {
        "read": store.create("dashboard", ["read"])[1],
        "trade": store.create("trader", ["read", "trade"])[1],
        "admin": store.create("ops", ["admin"])[1],
    }


def _h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _order(
    cid: str, leg: str, side: str, qty: float, *, key: str, stop_loss: float | None = None
) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid, origin=key, leg=leg, attempt=0, symbol=SYMBOL, side=side,  # type: ignore[arg-type]
        order_type="market", qty=qty, amount=qty * 1000, reduce_only=leg != "entry",
        trade_key=key, stop_loss=stop_loss,
    )  # fmt: skip


def _filled(intent: OrderIntent, price: float, fee: float, at: pd.Timestamp) -> list[Any]:
    cid = intent.client_order_id
    fill = FillRecord(f"t-{cid}", f"x-{cid}", cid, SYMBOL, intent.side, price, intent.qty, fee,
                      False, at)  # fmt: skip
    return [
        intent_event(intent, at),
        state_event(cid, "new", "submitted", at),
        state_event(cid, "submitted", "accepted", at, exchange_order_id=f"x-{cid}"),
        fill_event(fill, at),
        state_event(cid, "accepted", "filled", at),
    ]


def write_history(ledger: Ledger) -> None:
    """A closed long (entry 100, stop 95, exit 110), an open long of 0.02 at 200, a cancel."""
    t = T0
    ledger.append(_filled(_order("sm-a-e0", "entry", "buy", 0.01, key="a", stop_loss=95.0),
                          100.0, 0.01, t))  # fmt: skip
    ledger.append(_filled(_order("sm-a-t10", "tp1", "sell", 0.01, key="a"), 110.0, 0.01,
                          t + pd.Timedelta("1h")))  # fmt: skip
    ledger.append(_filled(_order("sm-b-e0", "entry", "buy", 0.02, key="b", stop_loss=190.0),
                          200.0, 0.02, t + pd.Timedelta("2h")))  # fmt: skip
    stop = _order("sm-b-s0", "stop", "sell", 0.02, key="b")
    ledger.append([
        intent_event(stop, t + pd.Timedelta("2h")),
        state_event("sm-b-s0", "new", "submitted", t + pd.Timedelta("2h")),
        state_event("sm-b-s0", "submitted", "accepted", t + pd.Timedelta("2h"),
                    exchange_order_id="x-s"),
    ])  # fmt: skip


# -- reads -----------------------------------------------------------------------------------


def test_every_read_says_so_when_no_trading_loop_has_written(
    client: TestClient, keys: dict[str, str]
) -> None:
    # Act
    answers = {p: client.get(p, headers=_h(keys["read"])) for p in
               ("/api/orders", "/api/positions", "/api/account", "/api/trades")}  # fmt: skip

    # Assert
    assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(answers, 200)
    account = answers["/api/account"].json()
    assert account["bot"]["state"] == "no_loop"
    assert "no trading loop has written" in account["bot"]["message"]
    assert account["equity"] == account["start_cash"]
    for path in ("/api/orders", "/api/positions", "/api/trades"):
        assert answers[path].json()["loop"]["seen"] is False
        assert "no trading loop" in answers[path].json()["loop"]["message"]
    assert answers["/api/orders"].json()["orders"] == []


def test_orders_are_filtered_by_state_and_symbol_and_paged(
    client: TestClient, keys: dict[str, str], loop_ledger: Ledger
) -> None:
    # Arrange
    write_history(loop_ledger)

    # Act
    every = client.get("/api/orders", headers=_h(keys["read"])).json()
    working = client.get("/api/orders?state=open&symbol=BTCUSDT", headers=_h(keys["read"]))
    page = client.get("/api/orders?state=filled&limit=2&offset=1", headers=_h(keys["read"]))
    other = client.get("/api/orders?symbol=ETH/USDT", headers=_h(keys["read"]))

    # Assert
    assert [o["client_order_id"] for o in every["orders"]] == [
        "sm-b-s0", "sm-b-e0", "sm-a-t10", "sm-a-e0",
    ]  # fmt: skip
    assert every["total"] == 4
    assert every["loop"] == {"seen": True, "message": None}
    assert [o["client_order_id"] for o in working.json()["orders"]] == ["sm-b-s0"]
    assert working.json()["orders"][0]["state"] == "accepted"
    assert [o["client_order_id"] for o in page.json()["orders"]] == ["sm-a-t10", "sm-a-e0"]
    assert page.json()["total"] == 3
    first = every["orders"][3]
    assert first["filled_qty"] == pytest.approx(0.01)
    assert first["avg_fill_price"] == pytest.approx(100.0)
    assert other.json()["orders"] == []


def test_positions_account_and_trades_derive_from_the_fold(
    client: TestClient,
    keys: dict[str, str],
    loop_ledger: Ledger,
    full_market: dict[str, pd.DataFrame],
) -> None:
    # Arrange
    write_history(loop_ledger)
    loop_ledger.append([halt_event("stopped by key:x (ops)", T0 + pd.Timedelta("3h"))])
    mark = float(full_market["5m"]["close"].iloc[-1])

    # Act
    positions = client.get("/api/positions", headers=_h(keys["read"])).json()["positions"]
    account = client.get("/api/account", headers=_h(keys["read"])).json()
    trades = client.get("/api/trades", headers=_h(keys["read"])).json()

    # Assert
    assert len(positions) == 1
    [held] = positions
    assert (held["symbol"], held["side"]) == (SYMBOL, "long")
    assert held["qty"] == pytest.approx(0.02)
    assert held["avg_price"] == pytest.approx(200.0)
    assert held["mark_price"] == pytest.approx(mark)
    assert held["unrealized_pnl"] == pytest.approx(0.02 * (mark - 200.0))
    realized, fees = 0.01 * 10.0, 0.04
    assert account["realized_pnl"] == pytest.approx(realized)
    assert account["fees"] == pytest.approx(fees)
    assert account["unrealized_pnl"] == pytest.approx(0.02 * (mark - 200.0))
    start = account["start_cash"]
    assert account["equity"] == pytest.approx(start + realized - fees + 0.02 * (mark - 200.0))
    assert (account["open_orders"], account["open_positions"]) == (1, 1)
    assert account["bot"]["state"] == "halted"
    assert account["bot"]["halt_reason"] == "stopped by key:x (ops)"
    assert trades["total"] == 1
    [trip] = trades["trades"]
    assert (trip["direction"], trip["entry_price"], trip["exit_price"]) == ("long", 100.0, 110.0)
    assert trip["exit_legs"] == ["tp1"]
    assert trip["trade_keys"] == ["a"]
    assert trip["net_pnl"] == pytest.approx(0.1 - 0.02)
    assert trip["r_multiple"] == pytest.approx((0.1 - 0.02) / (0.01 * 5.0))


# -- commands --------------------------------------------------------------------------------


def test_commands_are_recorded_for_the_loop_naming_the_key_and_audited(
    client: TestClient, keys: dict[str, str], loop_ledger: Ledger, runtime: Runtime
) -> None:
    # Act
    order = client.post(
        "/api/orders",
        json={"action": "enter", "direction": "long", "symbol": "BTCUSDT"},
        headers=_h(keys["trade"]),
    )
    stop = client.post("/api/bot/stop", json={"reason": "news at 14:00"}, headers=_h(keys["trade"]))
    start = client.post("/api/bot/start", headers=_h(keys["trade"]))
    kill = client.post(
        "/api/kill-switch", json={"flatten": True, "reason": "drill"}, headers=_h(keys["admin"])
    )
    account = client.get("/api/account", headers=_h(keys["read"])).json()

    # Assert
    assert [r.status_code for r in (order, stop, start, kill)] == [202] * 4
    assert order.json()["detail"] == {"action": "enter", "direction": "long", "symbol": SYMBOL}
    assert order.json()["loop"]["seen"] is False
    commands = pending(loop_ledger)
    assert [c.command for c in commands] == ["order", "stop", "start", "kill"]
    assert commands[0].detail == {"action": "enter", "direction": "long", "symbol": SYMBOL}
    assert commands[1].detail == {"reason": "news at 14:00"}
    assert commands[3].detail == {"flatten": True, "reason": "drill"}
    assert commands[0].by.startswith("key:")
    assert commands[0].by.endswith("(trader)")
    assert commands[3].by.endswith("(ops)")
    assert [c.seq for c in commands] == [r.json()["seq"] for r in (order, stop, start, kill)]
    assert account["bot"]["last_control"]["command"] == "kill"
    assert account["bot"]["awaiting_loop"] is True
    audited = [(a["action"], a["status"]) for a in runtime.keys.audit_log()]
    assert audited == [
        ("POST /api/kill-switch", 202), ("POST /api/bot/start", 202),
        ("POST /api/bot/stop", 202), ("POST /api/orders", 202),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "enter", "direction": "long", "symbol": "DOGE/USDT"}, "symbol"),
        ({"action": "enter", "direction": "long", "symbol": "???"}, "symbol"),
        ({"action": "buy", "direction": "long", "symbol": "BTC/USDT"}, "action"),
        ({"action": "exit", "direction": "up", "symbol": "BTC/USDT"}, "direction"),
        ({"action": "exit", "direction": "long"}, "symbol"),
        ({"action": "exit", "direction": "long", "symbol": "BTC/USDT", "qty": 5}, "qty"),
    ],
)
def test_a_bad_order_is_422_naming_the_field_and_nothing_is_recorded(
    client: TestClient,
    keys: dict[str, str],
    loop_ledger: Ledger,
    body: dict[str, Any],
    field: str,
) -> None:
    r = client.post("/api/orders", json=body, headers=_h(keys["trade"]))

    assert r.status_code == 422
    assert r.json()["error"]["field"] == field
    assert pending(loop_ledger) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/api/orders?state=sleeping", None, "state"),
        ("GET", "/api/orders?limit=0", None, "limit"),
        ("GET", "/api/trades?symbol=%3F%3F", None, "symbol"),
        ("POST", "/api/kill-switch", {"flatten": True}, "reason"),
        ("POST", "/api/kill-switch", {"flatten": "maybe", "reason": "x"}, "flatten"),
        ("POST", "/api/bot/stop", {"reason": ""}, "reason"),
        ("POST", "/api/kill-switch", {"reason": "a\u0000b"}, "reason"),
        (
            "POST",
            "/api/orders",
            {"action": "exit", "direction": "long", "symbol": "BTC/USDT", "note": "line\nbreak"},
            "note",
        ),
    ],
)
def test_bad_queries_and_bodies_name_the_field(
    client: TestClient,
    keys: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    r = client.request(method, path, json=body, headers=_h(keys["admin"]))

    assert r.status_code == 422
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("method", "path", "role", "status"),
    [
        ("GET", "/api/account", None, 401),
        ("POST", "/api/orders", None, 401),
        ("POST", "/api/kill-switch", None, 401),
        ("POST", "/api/orders", "read", 403),
        ("POST", "/api/bot/start", "read", 403),
        ("POST", "/api/bot/stop", "read", 403),
        ("POST", "/api/kill-switch", "trade", 403),
        ("GET", "/api/orders", "read", 200),
        ("POST", "/api/bot/start", "trade", 202),
        ("POST", "/api/kill-switch", "admin", 202),
    ],
)
def test_each_route_needs_its_scope(
    client: TestClient, keys: dict[str, str], method: str, path: str, role: str | None, status: int
) -> None:
    body = {"flatten": False, "reason": "test"} if path == "/api/kill-switch" else None
    if path == "/api/orders" and method == "POST":
        body = {"action": "exit", "direction": "long", "symbol": "BTC/USDT"}
    headers = _h(keys[role]) if role else {}

    r = client.request(method, path, json=body, headers=headers)

    assert r.status_code == status


def test_the_openapi_document_lists_the_trading_endpoints(client: TestClient) -> None:
    doc = client.get("/docs.json").json()

    assert set(doc["paths"]) >= TRADING_PATHS
    assert {"get", "post"} <= set(doc["paths"]["/api/orders"])
    schemas = doc["components"]["schemas"]
    assert {"OrderCommand", "KillCommand", "Account", "Receipt"} <= set(schemas)


# -- the kill switch --------------------------------------------------------------------------


def _execute(broker: CcxtBroker, since: int, bar: dict[str, Any]) -> int:
    """Stand-in for the trading loop: execute the kill commands after ``since``, then poll."""
    for c in pending(broker.ledger, since):
        if c.command == "kill":
            broker.kill(str(c.detail["reason"]), flatten=bool(c.detail["flatten"]))
        since = c.seq
    broker.poll(bar)
    return since


def test_the_kill_switch_twice_is_idempotent_in_effect(
    client: TestClient, keys: dict[str, str], ledger_config: LedgerConfig
) -> None:
    # Arrange: a loop holding a protected long on a fake Delta
    from serving.orders import OrderRequest

    venue = FakeVenue()
    broker = CcxtBroker(venue, open_ledger(ledger_config), SimClock(VENUE_T0 + pd.Timedelta("10s")),
                        CcxtBrokerConfig("BTC/USDT:USDT"))  # fmt: skip
    broker.start()
    broker.submit([OrderRequest(
        request_id=1, trade_id=1, slot=0, action="new", direction=1, decided_at=VENUE_T0,
        order_type="market", qty=0.005, stop=95_000.0, tp1=110_000.0, tp1_fraction=0.6,
        tp3=120_000.0,
    )])  # fmt: skip
    bar = {"ts": VENUE_T0, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    broker.poll(bar)
    kill = {"flatten": True, "reason": "operator drill"}

    # Act
    first = client.post("/api/kill-switch", json=kill, headers=_h(keys["admin"]))
    since = _execute(broker, 0, bar)
    after_one = (venue.position, len(venue.creates), client.get(
        "/api/account", headers=_h(keys["admin"])).json())  # fmt: skip
    second = client.post("/api/kill-switch", json=kill, headers=_h(keys["admin"]))
    _execute(broker, since, bar)
    after_two = (venue.position, len(venue.creates), client.get(
        "/api/account", headers=_h(keys["admin"])).json())  # fmt: skip
    broker.ledger.close()

    # Assert
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["halted_before"] == "kill switch: operator drill"
    assert after_one[0] == after_two[0] == 0.0  # flat after the first, still flat
    assert after_one[1] == after_two[1]  # the second kill sent nothing
    for account in (after_one[2], after_two[2]):
        assert account["bot"]["state"] == "halted"
        assert account["bot"]["halt_reason"] == "kill switch: operator drill"
        assert account["open_orders"] == 0
        assert account["open_positions"] == 0
    assert after_one[2]["realized_pnl"] == after_two[2]["realized_pnl"]


# -- failures --------------------------------------------------------------------------------


def test_an_unreachable_ledger_is_a_503_that_never_shows_the_dsn(
    full_market: dict[str, pd.DataFrame], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: PostgreSQL on a port nothing listens on, with a password in the DSN
    dsn = "postgresql://trader:hunter2-s3cret@127.0.0.1:1/ledger?connect_timeout=1"
    config = LedgerConfig(backend="postgres", dsn=dsn, timeout_s=1.0)
    built, _, _ = make_runtime(full_market, tmp_path, ledger=config)
    HOLDER.configure(lambda: built)
    key = built.keys.create("ops", ["admin"])[1]
    app = cast(Any, SignalService).to_asgi()

    # Act
    with caplog.at_level(logging.DEBUG), TestClient(app, raise_server_exceptions=False) as c:
        account = c.get("/api/account", headers=_h(key))
        kill = c.post("/api/kill-switch", json={"reason": "x"}, headers=_h(key))
        health = c.get("/healthz")
    HOLDER.reset()

    # Assert
    assert (account.status_code, kill.status_code) == (503, 503)
    assert account.json()["error"]["code"] == "unavailable"
    assert "SMARTMARKET_LEDGER_DSN" in account.json()["error"]["message"]
    assert health.status_code == 200
    text = account.text + kill.text + caplog.text + json.dumps(built.keys.audit_log())
    assert "hunter2-s3cret" not in text


def test_a_service_without_a_desk_says_trading_is_not_configured(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    built, _, _ = make_runtime(full_market, tmp_path)
    built.desk = None
    HOLDER.configure(lambda: built)
    key = built.keys.create("ops", ["admin"])[1]
    app = cast(Any, SignalService).to_asgi()

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/account", headers=_h(key))
    HOLDER.reset()

    assert r.status_code == 503
    assert "not configured" in r.json()["error"]["message"]


def test_the_settings_built_runtime_reads_the_ledger_the_settings_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_dsn: str
) -> None:
    from serving.service.wiring import build_runtime

    monkeypatch.setenv("SMARTMARKET_SERVICE_POLL_SECONDS", "0")
    local = build_runtime()
    monkeypatch.setenv("SMARTMARKET_LEDGER_DSN", pg_dsn)
    remote = build_runtime()

    assert local.desk is not None
    assert local.desk.backend == "sqlite"
    assert local.desk.account()["bot"]["state"] == "no_loop"
    assert (tmp_path / "home" / "ledger" / "ledger.sqlite").exists()
    assert remote.desk is not None
    assert remote.desk.backend == "postgres"
    assert remote.desk.command("start", "cli:test")["seq"] >= 1
    local.stop()
    remote.stop()
