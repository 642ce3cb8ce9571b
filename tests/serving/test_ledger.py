"""The ledger's contract, the same on SQLite and PostgreSQL, and the fold to current state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from serving.ledger import (
    FillRecord,
    LedgerConfig,
    LedgerError,
    LedgerEvent,
    OrderIntent,
    fill_event,
    fold,
    halt_event,
    intent_event,
    open_ledger,
    state_event,
)
from serving.ledger.migrations import LATEST
from serving.ledger.store import PostgresLedger, SqliteLedger
from serving.order_state import IllegalTransition, client_order_id

T0 = pd.Timestamp("2026-01-15 10:30", tz="UTC")
SYMBOL = "BTC/USDT:USDT"


def intent(origin: str = "sig-1", qty: float = 0.003, **kw: object) -> OrderIntent:
    values: dict = {
        "client_order_id": client_order_id(origin, "entry"),
        "origin": origin,
        "leg": "entry",
        "attempt": 0,
        "symbol": SYMBOL,
        "side": "buy",
        "order_type": "market",
        "qty": qty,
        "amount": qty / 0.001,
        "trade_id": 1,
        "slot": 0,
    }
    values.update(kw)
    return OrderIntent(**values)


def fill(
    tid: str, cid: str | None, qty: float, price: float = 100.0, xid: str = "X1"
) -> FillRecord:
    return FillRecord(tid, xid, cid, SYMBOL, "buy", price, qty, 0.01, False, T0)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[SqliteLedger | PostgresLedger]:
    if request.param == "sqlite":
        config = LedgerConfig.build(tmp_path)
    else:
        config = LedgerConfig.build(tmp_path, dsn=request.getfixturevalue("pg_dsn"))
    store = open_ledger(config)
    yield store
    store.close()


def test_events_round_trip_in_order_with_their_sequence(ledger) -> None:
    i = intent()
    events = [
        LedgerEvent("signal", "sig-1", {"type": "ENTRY", "entry_price": 45250.5}, T0),
        LedgerEvent("decision", "sig-1", {"model_version": "smc-tcn@7", "features": "snap/42"}, T0),
        intent_event(i, T0),
        state_event(i.client_order_id, "new", "submitted", T0),
    ]
    seqs = ledger.append(events)
    back = ledger.events()
    assert [e.seq for e in back] == seqs
    assert seqs == sorted(seqs)
    assert back == events  # seq does not take part in equality
    assert back[1].body["model_version"] == "smc-tcn@7"
    assert [e.kind for e in ledger.events(since=seqs[1], kinds=["intent", "state"])] == [
        "intent",
        "state",
    ]


def test_an_intent_and_a_fill_are_stored_once_by_their_keys(ledger) -> None:
    i = intent()
    f = fill("T-1", i.client_order_id, 0.001)
    first = ledger.append([intent_event(i, T0), fill_event(f, T0)])
    again = ledger.append([intent_event(i, T0), fill_event(f, T0 + pd.Timedelta("1s"))])
    assert all(s is not None for s in first)
    assert again == [None, None]
    assert len(ledger.events()) == 2


def test_the_ledger_refuses_updates_and_deletes(ledger) -> None:
    ledger.append([intent_event(intent(), T0)])
    for sql in ("UPDATE ledger_events SET ref = 'x'", "DELETE FROM ledger_events"):
        with pytest.raises(Exception, match="append-only"):
            ledger.execute_raw(sql)
    assert len(ledger.events()) == 1


def test_the_schema_is_migrated_once_to_the_latest_version(ledger, tmp_path: Path) -> None:
    assert ledger.schema_version() == LATEST
    if isinstance(ledger, SqliteLedger):  # reopening applies nothing twice
        again = SqliteLedger(ledger.path)
        assert again.schema_version() == LATEST
        again.close()


def test_an_unknown_kind_is_refused_with_the_known_ones(ledger) -> None:
    with pytest.raises(LedgerError, match="unknown event kind"):
        ledger.events(kinds=["bogus"])


def test_fold_derives_orders_positions_and_equity(ledger) -> None:
    entry = intent(qty=0.002)
    cid = entry.client_order_id
    exit_ = intent(
        origin="sig-2", side="sell", qty=0.002, reduce_only=True,
        client_order_id=client_order_id("sig-2", "close"), leg="close",
    )  # fmt: skip
    ledger.append([
        intent_event(entry, T0),
        state_event(cid, "new", "submitted", T0),
        state_event(cid, "submitted", "accepted", T0, exchange_order_id="X1"),
        fill_event(fill("T-1", cid, 0.001, 100.0), T0),
        state_event(cid, "accepted", "partially_filled", T0),
        fill_event(fill("T-2", cid, 0.001, 102.0), T0),
        state_event(cid, "partially_filled", "filled", T0),
        intent_event(exit_, T0),
        LedgerEvent("funding", SYMBOL, {"symbol": SYMBOL, "amount": -0.05}, T0),
        LedgerEvent("balance", "USDT", {"currency": "USDT", "total": 999.0}, T0),
        halt_event("position mismatch", T0),
    ])  # fmt: skip
    view = fold(ledger.events())
    order = view.orders[cid]
    assert (order.state, order.exchange_order_id, order.filled_qty) == ("filled", "X1", 0.002)
    assert order.avg_price == pytest.approx(101.0)
    assert order.fills_add_up
    assert order.history == ["new", "submitted", "accepted", "partially_filled", "filled"]
    assert [o.client_order_id for o in view.open_orders()] == [exit_.client_order_id]
    pos = view.positions[SYMBOL]
    assert pos.qty == pytest.approx(0.002)
    assert pos.avg_price == pytest.approx(101.0)
    assert view.equity(1000.0, {SYMBOL: 111.0}) == pytest.approx(1000.0 - 0.02 - 0.05 + 0.02)
    assert view.balances == {"USDT": 999.0}
    assert view.halted == "position mismatch"


def test_a_fill_before_the_ack_is_linked_when_the_exchange_id_arrives() -> None:
    i = intent(qty=0.001)
    cid = i.client_order_id
    events = [
        intent_event(i, T0),
        state_event(cid, "new", "submitted", T0),
        fill_event(fill("T-9", None, 0.001, xid="X9"), T0),
    ]
    early = fold(events)
    assert early.unlinked == ["T-9"]
    assert early.orders[cid].filled_qty == 0.0
    later = fold([*events, state_event(cid, "submitted", "filled", T0, exchange_order_id="X9")])
    assert later.unlinked == []
    assert later.orders[cid].filled_qty == 0.001


def test_a_realized_round_trip_books_its_pnl() -> None:
    buy = FillRecord("a", "X", "c", SYMBOL, "buy", 100.0, 2.0, 0.1, False, T0)
    sell = FillRecord("b", "Y", "d", SYMBOL, "sell", 110.0, 2.0, 0.1, False, T0)
    view = fold([fill_event(buy, T0), fill_event(sell, T0)])
    p = view.positions[SYMBOL]
    assert (p.qty, p.realized, p.fees) == (0.0, 20.0, pytest.approx(0.2))


def test_state_events_refuse_illegal_moves() -> None:
    with pytest.raises(IllegalTransition, match="from filled to accepted"):
        state_event("c", "filled", "accepted", T0)


def test_config_picks_postgres_only_with_a_dsn_and_never_shows_it(tmp_path: Path) -> None:
    assert LedgerConfig.build(tmp_path).path == tmp_path / "ledger" / "ledger.sqlite"
    pg = LedgerConfig.build(tmp_path, dsn="host=db user=u password=hunter2")
    assert pg.backend == "postgres"
    assert "hunter2" not in repr(pg)


def test_an_unreachable_postgres_error_hides_the_dsn() -> None:
    config = LedgerConfig(
        backend="postgres", dsn="host=127.0.0.1 port=1 user=u password=hunter2", timeout_s=0.5
    )
    with pytest.raises(LedgerError) as err:
        open_ledger(config)
    assert "hunter2" not in str(err.value)
    assert "SMARTMARKET_LEDGER_DSN" in str(err.value)


def test_signals_are_stored_once_and_decisions_name_the_model_and_features(ledger) -> None:
    from serving.ledger import decision_event, resume_event, signal_event

    class Sig:
        signal_id = "sig-7"

        def to_dict(self) -> dict:
            return {"signal_id": "sig-7", "type": "ENTRY", "entry_price": 45250.0}

    decision = decision_event(
        "sig-7", T0, decision="enter", model_version="smc-tcn@7",
        feature_snapshot="features/BTC-USDT/5m/2026-01-15T10:30Z", detail={"risk": 0.01},
    )  # fmt: skip
    first = ledger.append([signal_event(Sig(), T0), decision])
    again = ledger.append([signal_event(Sig(), T0)])
    assert again == [None]
    assert first[0] is not None
    back = ledger.events(kinds=["decision"])[0].body
    assert (back["model_version"], back["risk"]) == ("smc-tcn@7", 0.01)
    view = fold([halt_event("x", T0), resume_event("ops@desk", T0)])
    assert view.halted is None
