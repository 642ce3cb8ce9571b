"""The fast path: batch features, vectorized signals, the compiled state machine over arrays.

Everything precomputed here is causal by construction (each feature row is known at its bar's
close, each signal row depends on its own feature row only); the state machine then consumes
the rows in time order, exactly as the bar-by-bar runner does. ``tests/serving`` checks that
both produce the same orders and fills.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, Timeframe
from serving.backtest.result import BacktestResult
from serving.engine.config import BacktestConfig
from serving.engine.execution import ExecutionConfig, funding_rates
from serving.engine.features import FeatureSet, FeatureSpec, batch_features, open_ns
from serving.engine.simulate import Bars, simulate
from serving.engine.strategy import Strategy
from serving.signals import SMCConfluence


def make_bars(
    candles: pd.DataFrame,
    timeframe: Timeframe,
    execution: ExecutionConfig,
    sub_candles: pd.DataFrame | None = None,
) -> Bars:
    """Return the engine's bar arrays, with funding per bar and optional replay sub-bars.

    ``sub_candles`` (a lower timeframe) feed ``intrabar="replay"``: the sub-bars whose open
    time falls inside each bar are matched in order instead of the bar itself.
    """
    ts = open_ns(candles)
    o, h, lo, c = (np.ascontiguousarray(candles[k].to_numpy(np.float64)) for k in OHLCV[:4])
    funding = funding_rates(ts, timeframe.ns, execution)
    if sub_candles is None or execution.intrabar != "replay":
        return Bars(ts, o, h, lo, c, funding)
    sub_ts = open_ns(sub_candles)
    start = np.searchsorted(sub_ts, ts, side="left").astype(np.int64)
    end = np.searchsorted(sub_ts, ts + timeframe.ns, side="left").astype(np.int64)
    so, sh, sl = (np.ascontiguousarray(sub_candles[k].to_numpy(np.float64)) for k in OHLCV[:3])
    return Bars(ts, o, h, lo, c, funding, so, sh, sl, start, end)


@dataclass(frozen=True)
class Prepared:
    """Inputs of a fast run: candles, features, signals, bars and the parameter vector."""

    symbol: str
    timeframe: Timeframe
    candles: pd.DataFrame
    config: BacktestConfig
    strategy: Strategy
    spec: FeatureSpec
    features: FeatureSet
    signals: np.ndarray
    bars: Bars
    params: np.ndarray


def prepare(
    candles: pd.DataFrame,
    timeframe: str | Timeframe,
    config: BacktestConfig | None = None,
    symbol: str = "",
    sub_candles: pd.DataFrame | None = None,
    strategy: Strategy | None = None,
) -> Prepared:
    """Compute features and signals for a fast run; raise ``CandleDataError`` when too short.

    ``strategy`` defaults to ``smc_confluence`` with ``config.strategy``.
    """
    tf = Timeframe.parse(timeframe)
    config = config or BacktestConfig()
    strategy = strategy or SMCConfluence(config.strategy)
    spec = FeatureSpec.build(tf, strategy.inputs())
    spec.check_length(len(candles))
    features = batch_features(candles, spec)
    return Prepared(
        symbol=symbol,
        timeframe=tf,
        candles=candles,
        config=config,
        strategy=strategy,
        spec=spec,
        features=features,
        signals=strategy.signals(features.matrix),
        bars=make_bars(candles, tf, config.execution, sub_candles),
        params=config.params(tf),
    )


def run_fast(prepared: Prepared) -> BacktestResult:
    """Run the prepared backtest through the compiled state machine."""
    logs, state = simulate(prepared.bars, prepared.signals, prepared.params)
    return BacktestResult(
        symbol=prepared.symbol,
        timeframe=prepared.timeframe,
        index=pd.DatetimeIndex(prepared.candles.index),
        initial_cash=prepared.config.initial_cash,
        logs=logs,
        acct=state.acct.copy(),
    )
