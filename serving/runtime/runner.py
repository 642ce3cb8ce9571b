"""The live/paper runner: ``on_bar`` per closed candle, with the clock and the broker injected.

Per closed bar the runner does what the fast path's loop does, through the same compiled
functions (``serving.engine.stepper``): it asks the broker what happened during the bar and
books the fills (a rejection that arrived late takes back what its request reserved), updates
the features one bar (``FeatureStream``), asks the strategy for the bar's intents, runs the
engine's close (protections, trade management, risk sizing) and submits the resulting typed
requests to the broker, applying any rejection it answers with at once. The clock refuses bars
that have not closed yet. An optional ``health`` provider (e.g. ``serving.health.HealthFile``)
gives the model-health flag, applied at each close; :meth:`LiveRunner.rearm` re-arms the
account hard stop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from serving.backtest.result import BacktestResult
from serving.brokers.base import Broker
from serving.engine.config import BacktestConfig
from serving.engine.execution import funding_rates
from serving.engine.features import FeatureSpec, FeatureStream
from serving.engine.simulate import EngineLogs
from serving.engine.stepper import Stepper
from serving.engine.strategy import Strategy
from serving.health import ModelHealth, risk_multiplier
from serving.orders import Ack, Fill, OrderRequest, Rejection, fill_rows, requests_from_rows
from serving.runtime.clock import Clock
from serving.signals import SMCConfluence


@dataclass(frozen=True)
class BarReport:
    """What one ``on_bar`` did."""

    ts: pd.Timestamp
    fills: list[Fill]
    requests: list[OrderRequest]
    equity: float
    position: float
    signal: np.ndarray
    events: list[str] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class LiveRunner:
    """Run the engine one closed candle at a time against a broker."""

    def __init__(
        self,
        config: BacktestConfig,
        timeframe: str | Timeframe,
        broker: Broker,
        clock: Clock,
        strategy: Strategy | None = None,
        symbol: str = "",
        health: Callable[[], ModelHealth | None] | None = None,
    ) -> None:
        """Start flat with ``config.initial_cash``; ``health`` returns the current flag."""
        self.config = config
        self.timeframe = Timeframe.parse(timeframe)
        self.symbol = symbol
        self.broker = broker
        self.clock = clock
        self.strategy = strategy or SMCConfluence(config.strategy)
        self.features = FeatureStream(FeatureSpec.build(self.timeframe, self.strategy.inputs()))
        self.engine = Stepper(config.params(self.timeframe), config.initial_cash)
        self.health = health
        self._index: list[int] = []
        self._last_ts: int | None = None

    def _check(self, ts: pd.Timestamp) -> None:
        closes = ts + self.timeframe.delta
        if self.clock.now() < closes:
            raise CandleDataError(
                f"bar at {ts} closes at {closes}, after the clock's now ({self.clock.now()}): "
                "only closed candles may be fed to the engine"
            )
        if self._last_ts is not None and ts.value <= self._last_ts:
            raise CandleDataError(f"bar at {ts} is not after the previous bar")

    def _reject(self, rejections: Sequence[Rejection]) -> None:
        for r in rejections:
            self.engine.reject(r.request.trade_id, r.request.slot, r.request.action)

    def on_bar(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> BarReport:
        """Process one closed candle: fills, features, intents, risk, new requests."""
        ts = pd.Timestamp(bar["ts"])
        self._check(ts)
        values = np.array([float(bar[c]) for c in OHLCV])
        # 1-2: what the broker reports from this bar, booked in the order it happened
        fills: list[Fill] = []
        rejections: list[Rejection] = []
        pending: list[Fill] = []
        for event in self.broker.poll(bar, sub_bars):
            if isinstance(event, Fill):
                pending.append(event)
                continue
            self.engine.book(fill_rows(pending, ts))
            fills += pending
            pending = []
            self._reject([event])
            rejections.append(event)
        self.engine.book(fill_rows(pending, ts))
        fills += pending
        # 3: features and intents known at this close; the engine decides
        signal = self.strategy.signal(self.features.update(int(ts.value), values))
        rate = float(
            funding_rates(np.array([ts.value]), self.timeframe.ns, self.config.execution)[0]
        )
        notes = self.engine.set_health(*risk_multiplier(self.health())) if self.health else []
        rows, events = self.engine.close(int(ts.value), float(values[3]), rate, signal)
        events = notes + events
        # 4: requests to the broker; a refusal takes back what its request reserved
        requests = requests_from_rows(rows)
        answers = self.broker.submit(requests)
        refused = [a for a in answers if isinstance(a, Rejection)]
        self._reject(refused)
        self._index.append(int(ts.value))
        self._last_ts = int(ts.value)
        return BarReport(
            ts=ts,
            fills=fills,
            requests=requests,
            equity=self.engine.equity,
            position=self.engine.position,
            signal=signal,
            events=events,
            acks=[a for a in answers if isinstance(a, Ack)],
            rejections=rejections + refused,
        )

    def rearm(self) -> str:
        """Re-arm the account hard stop (a person's ``start``); return what changed."""
        return self.engine.rearm()

    def logs(self) -> EngineLogs:
        """Return everything the runner did, in the fast path's record layouts."""
        return self.engine.logs()

    def result(self) -> BacktestResult:
        """Return the run so far as a ``BacktestResult``."""
        index = pd.to_datetime(np.asarray(self._index, dtype=np.int64), utc=True)
        return BacktestResult(
            symbol=self.symbol,
            timeframe=self.timeframe,
            index=pd.DatetimeIndex(index, name="ts"),
            initial_cash=self.config.initial_cash,
            logs=self.logs(),
            acct=self.engine.acct.copy(),
        )
