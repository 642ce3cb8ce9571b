"""The runner through the typed broker boundary: rejections and partial fills reach the engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.brokers.paper import PaperBroker
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.strategy import StrategyInputs
from serving.orders import Ack, BrokerAnswer, BrokerEvent, Fill, OrderRequest, Rejection
from serving.runtime.clock import SimClock
from serving.runtime.runner import BarReport, LiveRunner
from tests.serving import scripted as S


class Scripted:
    """A strategy that plays prepared signal rows, one per bar, whatever the features."""

    name = "scripted"

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.bar = 0

    def inputs(self) -> StrategyInputs:
        return StrategyInputs(("close",))

    def signals(self, features: np.ndarray) -> np.ndarray:
        return self.rows[: len(features)]

    def signal(self, row: np.ndarray) -> np.ndarray:
        self.bar += 1
        return self.rows[self.bar - 1]


class RefusingBroker(PaperBroker):
    """A paper broker that refuses the first request of the given action."""

    def __init__(self, action: str, *args: Any) -> None:
        super().__init__(*args)
        self.action = action
        self.refused: list[OrderRequest] = []

    def submit(self, requests: Sequence[OrderRequest]) -> list[BrokerAnswer]:
        refuse = [q for q in requests if q.action == self.action and not self.refused][:1]
        self.refused += refuse
        answers: list[BrokerAnswer] = [
            Rejection(request=q, reason="insufficient margin", at=self._clock.now()) for q in refuse
        ]
        return answers + super().submit([q for q in requests if q not in refuse])


class SplittingBroker(PaperBroker):
    """A paper broker whose venue fills entries in two parts: 40% now, the rest a bar later."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rest: Fill | None = None

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[BrokerEvent]:
        events: list[BrokerEvent] = []
        if self.rest is not None:  # the remainder executes at this bar's open
            price = float(bar["open"])
            fee = price * self.rest.qty * 0.0005
            events.append(replace(self.rest, price=price, fee=fee, filled_at=bar["ts"]))
            self.rest = None
        for event in super().poll(bar, sub_bars):
            if isinstance(event, Fill) and event.kind == "entry":
                first = 0.4 * event.qty
                events.append(
                    replace(event, qty=first, fee=0.4 * event.fee, leaves_qty=0.6 * event.qty)
                )
                self.rest = replace(event, qty=event.qty - first, fee=0.6 * event.fee)
                continue
            events.append(event)
        return events


def _run(
    broker_of: Any,
    bars: list[tuple[float, float, float, float]],
    sig: np.ndarray,
    cfg: BacktestConfig,
) -> tuple[LiveRunner, list[BarReport]]:
    candles = S.candles_from(bars)
    clock = SimClock()
    broker = broker_of(cfg, S.TF, clock)
    runner = LiveRunner(cfg, S.TF, broker, clock, strategy=Scripted(sig))
    reports = []
    for ts, row in candles.iterrows():
        clock.set(ts + S.TF.delta)
        reports.append(runner.on_bar({"ts": ts, **row.to_dict()}))
    return runner, reports


def test_a_rejected_entry_frees_its_slot_and_is_counted_as_refused() -> None:
    # Arrange: one position at most; the first entry is refused, a second intent follows
    bars = [S.FLAT_BAR] * 6
    sig = S.intents(len(bars), {0: 1.0, 2: 1.0})
    cfg = S.config()
    # Act
    runner, reports = _run(lambda *a: RefusingBroker("new", *a), bars, sig, cfg)
    result = runner.result()
    # Assert
    assert [r.reason for r in reports[0].rejections] == ["insufficient margin"]
    assert reports[0].acks == []
    assert result.blocked == {"rejected by the exchange": 1}  # not "max concurrent positions"
    assert result.fills["kind"].tolist() == ["entry"]
    assert result.fills["trade_id"].tolist() == [2]
    assert [a.request.trade_id for a in reports[2].acks] == [2]
    assert runner.engine.position == pytest.approx(result.fills["qty"].iloc[0])


def test_a_rejected_close_leaves_the_position_open_and_managed() -> None:
    # Arrange: enter at bar 0; exit intents at bars 2 (refused) and 4 (sent again)
    bars = [S.FLAT_BAR] * 7
    sig = S.intents(len(bars), {0: 1.0}, exits={2: "long", 4: "long"})
    # Act
    runner, reports = _run(lambda *a: RefusingBroker("close", *a), bars, sig, S.config())
    # Assert
    assert [r.request.action for r in reports[2].rejections] == ["close"]
    assert reports[3].position > 0.0  # the refused close did not flatten anything
    assert [q.action for q in reports[4].requests] == ["close"]
    assert runner.result().fills["kind"].tolist() == ["entry", "close"]
    assert runner.engine.position == 0.0


def test_an_entry_filled_in_two_parts_opens_the_whole_position_at_the_average_price() -> None:
    # Arrange: long at bar 0's close (stop 99); the entry fills 40% at 100 in bar 1 and 60% at
    # 100.5 in bar 2; bar 3 takes the stop at 99
    bars = [S.FLAT_BAR, S.FLAT_BAR, (100.5, 100.6, 100.4, 100.5), S.STOP_BAR, S.FLAT_BAR]
    sig = S.intents(len(bars), {0: 1.0})
    cfg = S.config()
    # Act
    runner, reports = _run(SplittingBroker, bars, sig, cfg)
    result = runner.result()
    # Assert
    first, rest = reports[1].fills[0], reports[2].fills[0]
    qty = first.qty + rest.qty
    assert first.partial
    assert not rest.partial
    assert reports[1].position == pytest.approx(0.4 * qty)
    assert reports[2].position == pytest.approx(qty)
    trade = result.trades.iloc[0]
    assert trade["qty"] == pytest.approx(qty)
    assert trade["entry_price"] == pytest.approx(0.4 * 100.0 + 0.6 * 100.5)
    assert trade["exit_kind"] == "stop"
    assert trade["exit_price"] == pytest.approx(99.0)
    assert trade["gross_pnl"] == pytest.approx(qty * (99.0 - 100.3))
    fees = sum(f.fee for r in reports for f in r.fills)
    assert trade["fees"] == pytest.approx(fees)
    assert runner.engine.position == 0.0
    assert result.equity.iloc[-1] == pytest.approx(cfg.initial_cash + trade["gross_pnl"] - fees)
    assert runner.engine.acct[L.A_CASH] == pytest.approx(result.equity.iloc[-1])


def test_the_paper_broker_acknowledges_every_request_with_an_exchange_id() -> None:
    # Arrange
    bars = [S.FLAT_BAR] * 3
    # Act
    _, reports = _run(PaperBroker, bars, S.intents(len(bars), {0: 1.0}), S.config())
    # Assert
    acks = reports[0].acks
    assert [type(a) for a in acks] == [Ack]
    assert acks[0].exchange_order_id == f"paper-{acks[0].request.request_id}"
    assert acks[0].at == pd.Timestamp("2024-01-01 00:05", tz="UTC")
    assert acks[0].request == reports[0].requests[0]
