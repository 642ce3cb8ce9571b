"""Commands are handled by sequence number: one committed late is still run, exactly once,
and a restart's re-run applies exactly the commands each bar applied the first time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from serving.control import control_event, request
from serving.ledger import Ledger, LedgerConfig, LedgerEvent, open_ledger
from serving.runtime.clock import SimClock
from serving.runtime.loop import ControlFeed, LoopConfig, TradingLoop
from serving.runtime.sources import ReplaySource
from tests.serving import scripted as S
from tests.serving.test_live_broker import Scripted

AT = pd.Timestamp("2024-01-01", tz="UTC")
N = 14


class Hiding:
    """A ledger where the events numbered in ``hidden`` are not visible yet (a late commit)."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.hidden: set[int] = set()

    def append(self, events: Sequence[LedgerEvent]) -> list[int | None]:
        return self.inner.append(events)

    def events(self, since: int = 0, kinds: Iterable[Any] | None = None) -> list[LedgerEvent]:
        return [e for e in self.inner.events(since, kinds) if e.seq not in self.hidden]

    def schema_version(self) -> int:
        return self.inner.schema_version()

    def close(self) -> None:
        self.inner.close()


def new_loop(ledger: Any) -> tuple[TradingLoop, Any]:
    clock = SimClock()
    loop = TradingLoop(S.config(), LoopConfig("BTC/USDT", "5m"), ledger, clock,
                       strategy=Scripted(S.intents(N, {})))  # fmt: skip
    loop.start()
    return loop, ReplaySource(S.candles_from([S.FLAT_BAR] * N), "5m", clock).bars(loop.last_ts)


def rows(ledger: Ledger) -> list[tuple]:
    return [(e.kind, e.ref, e.dedup, e.at, dict(e.body)) for e in ledger.events()]


def late_then_restart(
    ledger: Ledger, seen_by_loop: Any, hold: Callable[[], int], release: Callable[[], None]
) -> dict[str, Any]:
    """A ``stop`` (held back) then an ``order`` (visible at once); the loop sees the order
    first, the stop once it commits; then a new process rebuilds from the ledger."""
    loop, bars = new_loop(seen_by_loop)
    loop.run(bars, limit=3)
    late = hold()
    early = request(ledger, "order", "dash", AT, action="enter", direction="long")
    loop.run(bars, limit=2)
    release()
    loop.run(bars, limit=2)
    before = rows(ledger)
    again, rest = new_loop(ledger)  # no checkpoint: every bar re-run from the ledger
    rebuilt = rows(ledger)
    again.run(rest)
    decisions = [e.body for e in ledger.events(kinds=("decision",)) if "bar" in e.body]
    return {
        "late": late, "early": early, "first": loop, "again": again,
        "same_after_rerun": before == rebuilt,
        "applied": [q for d in decisions for q in d["controls"]],
        "halts": [(e.dedup, e.body["reason"]) for e in ledger.events(kinds=("halt",))],
        "orders": [(e.ref, e.body["decision"]) for e in ledger.events(kinds=("decision",))
                   if e.ref.startswith("control-")],
    }  # fmt: skip


def check(r: dict[str, Any]) -> None:
    late, early = r["late"], r["early"]
    assert late < early
    assert r["applied"] == [early, late]  # each once, in the order the loop saw them
    assert r["halts"] == [(f"paper:control:{late}", "stopped by api: late")]
    assert r["orders"] == [(f"control-{early}", "accepted")]
    assert r["same_after_rerun"]  # the re-run wrote nothing
    assert r["again"].handled == {early, late}
    assert r["again"].gate.halted == "stopped by api: late"
    assert r["again"].runner.engine.position == r["first"].runner.engine.position > 0.0
    assert r["again"].bars == N


def test_a_command_committed_after_a_later_one_runs_once_and_a_restart_keeps_it_so(
    tmp_path: Path,
) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    view = Hiding(ledger)

    def hold() -> int:
        seq = request(ledger, "stop", "api", AT, reason="late")
        view.hidden.add(seq)
        return seq

    # Act
    result = late_then_restart(ledger, view, hold, view.hidden.clear)
    # Assert
    check(result)
    ledger.close()


def test_two_postgres_transactions_committed_out_of_order_run_both_commands_once(
    tmp_path: Path, pg_dsn: str
) -> None:
    # Arrange: a writer holds its command's transaction open while a later one commits
    import psycopg

    ledger = open_ledger(LedgerConfig.build(tmp_path, dsn=pg_dsn))
    slow = psycopg.connect(pg_dsn)

    def hold() -> int:
        e = control_event("stop", "api", AT, reason="late")
        row = slow.execute(
            "INSERT INTO ledger_events (recorded_at, kind, ref, dedup, body) "
            "VALUES (%s, %s, %s, %s, %s::jsonb) RETURNING seq",
            (int(e.at.value), e.kind, e.ref, e.dedup, e.body_json()),
        ).fetchone()  # not committed: its number is taken, the row invisible
        assert row is not None
        return int(row[0])

    # Act
    result = late_then_restart(ledger, ledger, hold, slow.commit)
    # Assert
    check(result)
    slow.close()
    ledger.close()


def test_the_control_feed_finds_a_command_committed_below_one_it_handed_out(
    tmp_path: Path,
) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    view = Hiding(ledger)
    late = request(ledger, "stop", "api", AT)
    view.hidden.add(late)
    early = request(ledger, "start", "dash", AT)
    done = request(ledger, "stop", "cli", AT)
    feed = ControlFeed(view, {done}, 3600.0)  # polls once now, then on demand below
    # Act
    first = feed.take()
    view.hidden.clear()
    feed._poll()
    second = feed.take()
    feed._poll()
    third = feed.take()
    feed.close()
    # Assert
    assert [c.seq for c in first] == [early]
    assert [c.seq for c in second] == [late]
    assert third == []
    ledger.close()
