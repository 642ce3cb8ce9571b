"""The desk's derivations from the fold: round trips, order pages, the bot's state."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from serving.control import request
from serving.desk import (
    DeskConfig,
    DeskInputError,
    TradingDesk,
    round_trips,
    select_orders,
    snapshot,
)
from serving.ledger import (
    FillRecord,
    LedgerConfig,
    LedgerEvent,
    OrderIntent,
    fill_event,
    fold,
    intent_event,
    open_ledger,
    resume_event,
)

T0 = pd.Timestamp("2026-02-01 00:00", tz="UTC")
SYM = "ETH/USDT:USDT"


def NOW() -> pd.Timestamp:
    """The desk's clock in the gap tests: 30 s after the events (young gaps)."""
    return T0 + pd.Timedelta(seconds=30)


def _entry(cid: str, side: str, qty: float, stop: float | None) -> OrderIntent:
    return OrderIntent(cid, cid, "entry", 0, SYM, side, "market", qty, qty, stop_loss=stop,
                       trade_key=cid)  # fmt: skip


def _fill(
    tid: str, cid: str | None, side: str, qty: float, price: float, minute: int
) -> LedgerEvent:
    at = T0 + pd.Timedelta(minutes=minute)
    return fill_event(FillRecord(tid, None, cid, SYM, side, price, qty, 0.0, False, at), at)


def test_a_reversing_fill_closes_one_round_trip_and_opens_the_next() -> None:
    # Arrange: long 1 @ 100 (stop 90), sell 3 @ 120 (flips short 2), buy 2 @ 110 (flat)
    events = [
        intent_event(_entry("a", "buy", 1.0, 90.0), T0),
        _fill("t1", "a", "buy", 1.0, 100.0, 0),
        _fill("t2", None, "sell", 3.0, 120.0, 5),
        _fill("t3", None, "buy", 2.0, 110.0, 9),
    ]

    # Act
    trips = round_trips(fold(events))  # type: ignore[arg-type]

    # Assert
    assert [(t.direction, t.entry_qty, t.entry_price, t.exit_price) for t in trips] == [
        ("long", 1.0, 100.0, 120.0), ("short", 2.0, 120.0, 110.0),
    ]  # fmt: skip
    assert trips[0].r_multiple == pytest.approx(20.0 / 10.0)
    assert trips[0].trade_keys == ["a"]
    assert trips[1].r_multiple is None  # no stop on record for the reversal
    assert trips[1].net_pnl == pytest.approx(20.0)
    assert trips[1].legs == ["external"]


def test_an_open_round_trip_is_not_closed_until_flat() -> None:
    events = [_fill("t1", None, "sell", 2.0, 50.0, 0), _fill("t2", None, "buy", 1.0, 40.0, 1)]

    [trip] = round_trips(fold(events))  # type: ignore[arg-type]

    assert trip.closed_at is None
    assert (trip.direction, trip.exit_qty) == ("short", 1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"state": "asleep"}, "state"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
     ({"symbol": "!"}, "symbol")],
)  # fmt: skip
def test_bad_order_filters_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(DeskInputError) as caught:
        select_orders(fold([]), **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_command_newer_than_the_loops_last_event_awaits_the_loop(tmp_path: Path) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    desk = TradingDesk(ledger, DeskConfig(("ETH/USDT",)))
    desk.command("stop", "key:1 (a)", reason="lunch")
    waiting = desk.account()["bot"]
    ledger.append([resume_event("key:1 (a)", T0)])

    # Act
    answered = desk.account()["bot"]
    request(ledger, "start", "cli:ops", T0)
    snap = snapshot(ledger.events())

    # Assert
    assert (waiting["state"], waiting["awaiting_loop"]) == ("no_loop", True)
    assert (answered["state"], answered["awaiting_loop"]) == ("running", False)
    assert answered["last_control"]["detail"] == {"reason": "lunch"}
    assert [e.body["command"] for e in snap.controls] == ["stop", "start"]
    assert desk.symbol("ethusdt") == desk.symbol("ETH/USDT:USDT") == "ETH/USDT"
    ledger.close()


class LateCommits:
    """A PostgreSQL-like ledger where one event commits after a later one is visible."""

    dialect = "postgres"

    def __init__(self, events: list[LedgerEvent], hidden: int) -> None:
        self.all = [replace(e, seq=i + 1) for i, e in enumerate(events)]
        self.hidden: int | None = hidden
        self.reads: list[int] = []

    def events(self, since: int = 0, kinds: object = None) -> list[LedgerEvent]:
        self.reads.append(since)
        return [e for e in self.all if (e.seq or 0) > since and e.seq != self.hidden]

    def close(self) -> None:
        return None


def test_an_event_committed_late_on_postgres_shows_after_the_settle_time() -> None:
    # Arrange: the intent (seq 1) and its fill (seq 2); the intent commits late
    intent = _entry("a", "buy", 1.0, 90.0)
    ledger = LateCommits([intent_event(intent, T0), _fill("t1", "a", "buy", 1.0, 100.0, 0)], 1)
    desk = TradingDesk(ledger, DeskConfig((SYM,)), clock=NOW, settle_s=0.0)  # type: ignore[arg-type]
    early = desk.orders()["total"]

    # Act
    ledger.hidden = None  # the late transaction commits
    late = desk.orders()["total"]

    # Assert
    assert early == 0
    assert late == 1
    assert ledger.reads == [0, 0]  # the gap made the second read fold everything again


def test_a_transaction_committed_late_on_a_real_postgres_is_folded(pg_dsn: str) -> None:
    # Arrange: a writer holds the intent's transaction open while the fill commits after it
    import psycopg

    ledger = open_ledger(LedgerConfig.build(Path("."), dsn=pg_dsn))
    desk = TradingDesk(ledger, DeskConfig((SYM,)), clock=NOW, settle_s=0.0)
    intent = intent_event(_entry("a", "buy", 1.0, 90.0), T0)
    slow = psycopg.connect(pg_dsn)
    slow.execute(
        "INSERT INTO ledger_events (recorded_at, kind, ref, dedup, body) "
        "VALUES (%s, %s, %s, %s, %s::jsonb)",
        (int(intent.at.value), intent.kind, intent.ref, intent.dedup, intent.body_json()),
    )  # not committed yet: its sequence number is taken, the row invisible
    ledger.append([_fill("t1", "a", "buy", 1.0, 100.0, 0)])
    before = desk.account()["open_orders"], desk.positions()["positions"][0]["qty"]

    # Act
    slow.commit()
    after = desk.orders()

    # Assert
    assert before == (0, 1.0)  # the fill is seen, its order is not yet
    assert after["total"] == 1
    assert after["orders"][0]["filled_qty"] == 1.0  # the fill linked once the intent shows
    slow.close()
    ledger.close()


def test_an_old_gap_is_a_burned_number_and_costs_no_whole_fold() -> None:
    ledger = LateCommits([_fill("t1", None, "buy", 1.0, 100.0, 0),
                          _fill("t2", None, "buy", 1.0, 100.0, 1)], hidden=1)  # fmt: skip
    desk = TradingDesk(ledger, DeskConfig((SYM,)), clock=lambda: T0 + pd.Timedelta(hours=2),
                       settle_s=0.0)  # type: ignore[arg-type]  # fmt: skip

    desk.account()
    desk.account()

    assert ledger.reads == [0, 2]  # the second read continued the fold
