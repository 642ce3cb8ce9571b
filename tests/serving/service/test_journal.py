"""The service's signals in the ledger: over HTTP, once per signal, never failing a request."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from starlette.testclient import TestClient

from serving.desk import snapshot
from serving.ledger import LedgerConfig, open_ledger
from serving.ledger.events import LedgerEvent
from serving.service.journal import SignalJournal, is_service_signal
from serving.service.service import SignalService
from serving.service.wiring import HOLDER, Runtime
from tests.serving.service.conftest import PLAN_SIGNAL_BODY, make_runtime

T0 = pd.Timestamp("2026-01-15 10:30", tz="UTC")


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_config(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerConfig:
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else None
    return LedgerConfig.build(tmp_path / "ledger-home", dsn=dsn)


@pytest.fixture
def runtime(
    full_market: dict[str, pd.DataFrame], tmp_path: Path, ledger_config: LedgerConfig
) -> Iterator[Runtime]:
    built, _, _ = make_runtime(full_market, tmp_path, ledger=ledger_config)
    built.record_signals()
    HOLDER.configure(lambda: built)
    yield built
    HOLDER.reset()


def test_each_served_signal_is_recorded_once_and_is_not_a_trading_loop(
    runtime: Runtime, ledger_config: LedgerConfig
) -> None:
    # Arrange
    key = runtime.keys.create("dashboard", ["read"])[1]
    app = cast(Any, SignalService).to_asgi()
    # Act
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [
            client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers={"X-API-Key": key})
            for _ in range(3)
        ]
        assert runtime.journal is not None
        runtime.journal.flush()
    # Assert
    assert {a.status_code for a in answers} == {200}
    ledger = open_ledger(ledger_config)
    try:
        events = ledger.events(kinds=("signal",))
    finally:
        ledger.close()
    assert [e.body["signal_id"] for e in events] == [answers[0].json()["signal_id"]]
    assert events[0].body["source"] == "service"
    assert events[0].body["model_status"] == answers[0].json()["model_status"]
    assert not snapshot(events).loop_seen  # the desk does not take it for a running loop


class Flaky:
    """An append that fails ``failures`` times, then stores (deduplicating like the ledger)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: dict[str, LedgerEvent] = {}

    def __call__(self, events: Sequence[LedgerEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        for e in events:
            self.stored.setdefault(e.dedup or "", e)


def answer(k: int) -> dict[str, Any]:
    return {"signal_id": f"sig-{k}", "type": "NONE", "symbol": "BTCUSDT"}


def test_a_ledger_that_cannot_be_written_keeps_the_signals_for_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    append = Flaky(failures=2)
    journal = SignalJournal(append, flush_s=3600, clock=lambda: T0)
    try:
        journal.record(answer(1))
        assert journal.flush() == 0
        journal.record(answer(2))
        journal.record(answer(1))  # the same bar's signal from another worker or request
        assert journal.flush() == 0
        written = journal.flush()
    finally:
        journal.close()
    assert written == 3
    assert sorted(append.stored) == ["service:signal:sig-1", "service:signal:sig-2"]
    assert all(is_service_signal(e) for e in append.stored.values())
    assert [r.message for r in caplog.records].count(
        "signal journal: the ledger cannot be written (database is locked)"
    ) == 1  # said once per outage, not per flush


def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    journal = SignalJournal(Flaky(failures=10), flush_s=3600, limit=2, clock=lambda: T0)
    try:
        for k in range(3):
            journal.record(answer(k))
        journal.flush()
        assert journal.dropped == 1
    finally:
        journal._append = Flaky(failures=0)
        journal.close()
    assert journal.written == 2
