"""The strategy's feature matrix, built in one batch or one closed bar at a time, identically.

The matrix is the candle's OHLCV beside the columns of the one feature computation
(:mod:`features.frames`), the same values the Feast views serve for the bar:

- ``columns``: the candle itself and ``compute_smc`` on the trading timeframe (SMC, context
  ``ctx_*``, candlestick patterns...), view ``smc_<tf>``;
- ``htf_<name>``: the higher timeframe's (HTF) columns visible at the bar's close: its bias
  (``bias``, ``bias_strength``: the ``compute_mtf`` columns ``<p>bias``, ``<p>bias_strength``
  of view ``mtf_<tf>``) and its SMC columns (view ``smc_<htf>`` as of the bar's close). A
  trading bar sees the last HTF candle that closed at or before its own close, never the one
  in progress.

``batch_features`` (the fast path) and :class:`FeatureStream` (the reference and live runners)
give the same matrix bar for bar (:func:`features.frames.feature_frame` and
:class:`features.frames.FeatureRows`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from features.frames import FeatureRows, FrameSpec, feature_frame, open_ns
from features.smc import SMCConfig, compute_smc
from serving.engine.strategy import StrategyInputs

__all__ = [
    "MIN_TRADING_BARS",
    "FeatureSet",
    "FeatureSpec",
    "FeatureStream",
    "batch_features",
    "open_ns",
]

MIN_TRADING_BARS = 100
"""Bars a backtest needs beyond the warm-up."""


@dataclass(frozen=True)
class FeatureSpec:
    """What to compute for a strategy on candles of ``timeframe``."""

    inputs: StrategyInputs
    frame: FrameSpec

    @classmethod
    def build(cls, timeframe: str | Timeframe, inputs: StrategyInputs) -> FeatureSpec:
        """Return the spec; raise ``CandleDataError`` when the HTF does not fit the timeframe."""
        tf = Timeframe.parse(timeframe)
        htf = Timeframe.parse(inputs.htf_timeframe) if inputs.htf_timeframe else None
        frame = FrameSpec(
            trading=tf,
            bar_columns=inputs.columns,
            htf=htf,
            htf_columns=inputs.htf_columns if htf is not None else (),
        )
        return cls(inputs=inputs, frame=frame)

    @property
    def timeframe(self) -> Timeframe:
        """The candles' timeframe."""
        return self.frame.trading

    @property
    def htf(self) -> Timeframe | None:
        """The higher timeframe, if any."""
        return self.frame.htf

    @property
    def smc(self) -> SMCConfig:
        """SMC engine config of the candles' timeframe."""
        return self.frame.smc

    @property
    def warmup_bars(self) -> int:
        """Trading bars before every input can be defined (SMC warm-ups, the HTF bias window)."""
        return self.frame.warmup_bars

    def check_length(self, n_bars: int) -> None:
        """Raise ``CandleDataError`` when ``n_bars`` cannot cover the warm-up and some trading."""
        need = self.warmup_bars + MIN_TRADING_BARS
        if n_bars < need:
            htf = f" (the {self.htf} bias needs its own history)" if self.htf else ""
            raise CandleDataError(
                f"candles too short for the warm-up: {n_bars} bars of {self.timeframe}, the "
                f"strategy needs {self.warmup_bars} bars of warm-up{htf} plus at least "
                f"{MIN_TRADING_BARS} bars to trade ({need} in all)"
            )


@dataclass(frozen=True)
class FeatureSet:
    """The batch features: the strategy's matrix (and, on demand, the full SMC frame)."""

    matrix: np.ndarray
    names: tuple[str, ...]
    candles: pd.DataFrame
    spec: FeatureSpec

    @functools.cached_property
    def smc(self) -> pd.DataFrame:
        """Every ``compute_smc`` column of the candles (for reports and audits)."""
        return compute_smc(self.candles, self.spec.smc)


def batch_features(candles: pd.DataFrame, spec: FeatureSpec) -> FeatureSet:
    """Return the feature matrix of every bar of a canonical candle frame."""
    matrix = feature_frame(candles, spec.frame).to_numpy()
    return FeatureSet(matrix=matrix, names=spec.inputs.names, candles=candles, spec=spec)


class FeatureStream:
    """The feature matrix one closed bar at a time; ``update`` equals the batch row."""

    def __init__(self, spec: FeatureSpec) -> None:
        """Start with no history."""
        self.spec = spec
        self._rows = FeatureRows(spec.frame)

    @property
    def bars_seen(self) -> int:
        """Bars processed so far."""
        return self._rows.bars_seen

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> np.ndarray:
        """Advance by one closed bar (UTC open time in ns, ``[o, h, l, c, v]``); return its row."""
        return self._rows.update(int(ts_ns), ohlcv)
