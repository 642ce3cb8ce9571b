"""The bar-by-bar reference backtest: history fed one closed candle at a time to the live runner.

The runner only ever holds the bars already revealed, so it cannot see the future by
construction. It uses the paper broker and a simulated clock set to each bar's close: the very
code path of paper and live trading. The fast path must reproduce its orders and fills exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, Timeframe
from serving.backtest.result import BacktestResult
from serving.brokers.paper import PaperBroker
from serving.engine.config import BacktestConfig
from serving.engine.features import open_ns
from serving.engine.strategy import Strategy
from serving.runtime.clock import SimClock
from serving.runtime.runner import LiveRunner


def run_reference(
    candles: pd.DataFrame,
    timeframe: str | Timeframe,
    config: BacktestConfig | None = None,
    symbol: str = "",
    sub_candles: pd.DataFrame | None = None,
    strategy: Strategy | None = None,
) -> BacktestResult:
    """Reveal ``candles`` one bar at a time to a ``LiveRunner`` with a ``PaperBroker``."""
    tf = Timeframe.parse(timeframe)
    config = config or BacktestConfig()
    clock = SimClock()
    broker = PaperBroker(config, tf, clock)
    runner = LiveRunner(config, tf, broker, clock, strategy=strategy, symbol=symbol)
    values = candles[list(OHLCV)].to_numpy(np.float64)
    sub_ts = open_ns(sub_candles) if sub_candles is not None else None
    sub_values = (
        sub_candles[["open", "high", "low"]].to_numpy(np.float64)
        if sub_candles is not None
        else None
    )
    replay = sub_candles is not None and config.execution.intrabar == "replay"
    for ts, row in zip(candles.index, values, strict=True):
        clock.set(ts + tf.delta)
        bar = {"ts": ts, **dict(zip(OHLCV, row.tolist(), strict=True))}
        sub = None
        if replay and sub_ts is not None and sub_values is not None:
            lo, hi = np.searchsorted(sub_ts, [ts.value, ts.value + tf.ns])
            sub = sub_values[lo:hi]
        runner.on_bar(bar, sub)
    return runner.result()
