"""The strategy's feature matrix, built in one batch or one closed bar at a time, identically.

Columns come from two places:

- the candle itself and ``compute_smc`` on the trading timeframe (SMC, context ``ctx_*``,
  candlestick patterns...);
- the higher timeframe (HTF): candles resampled from the trading ones (complete periods),
  ``compute_smc`` on them and the HTF's own directional bias from ``features.mtf.compute_mtf``
  (``bias``, ``bias_strength``: structure, dealing-range position and trend votes). Each HTF
  row is joined onto the trading bars *from the close of its candle on*: a trading bar sees
  the last HTF candle that closed at or before its own close, never the one in progress.

``batch_features`` (the fast path) and :class:`FeatureStream` (the reference and live runners)
give the same matrix bar for bar. The stream feeds ``SMCStream`` per bar, aggregates HTF
candles as they complete, and recomputes the HTF bias on the last ``MTFConfig.lookback_bars``
HTF rows, which ``features.mtf`` guarantees bit-identical to the full computation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.resample import grid_origin_ns, resample_candles
from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError, Timeframe
from features.mtf import MTFConfig, compute_mtf, tf_prefix, visible_rows
from features.schema import column_float64
from features.smc import SMCConfig, SMCStream, compute_smc
from features.smc.engine import layout as smc_layout
from serving.engine.strategy import StrategyInputs

MIN_TRADING_BARS = 100
"""Bars a backtest needs beyond the warm-up."""
MTF_COLUMNS = ("bias", "bias_strength")
"""HTF columns that come from ``compute_mtf`` rather than ``compute_smc``."""


def open_ns(frame: pd.DataFrame) -> np.ndarray:
    """Return a candle frame's open times as int64 UTC nanoseconds."""
    return np.asarray(pd.DatetimeIndex(frame.index).as_unit("ns").view("int64"), dtype=np.int64)


@dataclass(frozen=True)
class FeatureSpec:
    """What to compute for a strategy on candles of ``timeframe``."""

    timeframe: Timeframe
    inputs: StrategyInputs
    smc: SMCConfig
    htf: Timeframe | None
    htf_smc: SMCConfig | None
    mtf: MTFConfig

    @classmethod
    def build(cls, timeframe: str | Timeframe, inputs: StrategyInputs) -> FeatureSpec:
        """Return the spec; raise ``CandleDataError`` when the HTF does not fit the timeframe."""
        tf = Timeframe.parse(timeframe)
        htf = Timeframe.parse(inputs.htf_timeframe) if inputs.htf_timeframe else None
        if htf is not None and (htf.seconds <= tf.seconds or htf.seconds % tf.seconds):
            raise CandleDataError(
                f"higher timeframe {htf} must be a whole multiple of the candles' {tf} (and larger)"
            )
        return cls(
            timeframe=tf,
            inputs=inputs,
            smc=SMCConfig.for_timeframe(tf),
            htf=htf,
            htf_smc=SMCConfig.for_timeframe(htf) if htf is not None else None,
            mtf=MTFConfig(),
        )

    @property
    def htf_lookback(self) -> int:
        """HTF rows the HTF bias depends on."""
        return int(self.mtf.lookback_bars(self.htf, self.htf)) if self.htf is not None else 0

    @property
    def warmup_bars(self) -> int:
        """Trading bars before every input can be defined (SMC warm-ups, the HTF bias window)."""
        bars = smc_layout(self.smc).warmup
        if self.htf is not None and self.htf_smc is not None:
            ratio = self.htf.seconds // self.timeframe.seconds
            htf_rows = max(smc_layout(self.htf_smc).warmup, self.htf_lookback) + 1
            bars = max(bars, htf_rows * ratio)
        return int(bars)

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
    """The batch features: the strategy's matrix and the full SMC frame (for reports)."""

    matrix: np.ndarray
    smc: pd.DataFrame
    names: tuple[str, ...]


def htf_frame(candles: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Return the HTF candles joined with their SMC columns and their bias columns."""
    assert spec.htf is not None
    assert spec.htf_smc is not None
    htf = resample_candles(candles, spec.htf, base=spec.timeframe)
    frame = htf.join(compute_smc(htf, spec.htf_smc)) if len(htf) else htf
    return _with_bias(frame, spec)


def _with_bias(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    assert spec.htf is not None
    if not len(frame):
        return frame.assign(**{c: np.array([], dtype=np.float64) for c in MTF_COLUMNS})
    mtf = compute_mtf({spec.htf.label: frame}, spec.htf, spec.mtf)
    prefix = tf_prefix(spec.htf)
    return frame.assign(**{c: mtf[f"{prefix}{c}"].to_numpy() for c in MTF_COLUMNS})


def batch_features(candles: pd.DataFrame, spec: FeatureSpec) -> FeatureSet:
    """Return the feature matrix of every bar of a canonical candle frame."""
    smc = compute_smc(candles, spec.smc)
    n = len(candles)
    matrix = np.full((n, len(spec.inputs.names)), np.nan)
    for j, name in enumerate(spec.inputs.columns):
        source = candles if name in OHLCV else smc
        if name not in source.columns:
            raise KeyError(f"feature column {name!r} is not produced by the SMC engine")
        matrix[:, j] = column_float64(source, name)
    if spec.htf is not None and spec.inputs.htf_columns:
        frame = htf_frame(candles, spec)
        if len(frame):
            rows = visible_rows(open_ns(candles), spec.timeframe, open_ns(frame), spec.htf)
            seen = rows >= 0
            offset = len(spec.inputs.columns)
            for j, name in enumerate(spec.inputs.htf_columns):
                values = column_float64(frame, name)
                matrix[seen, offset + j] = values[rows[seen]]
    return FeatureSet(matrix=matrix, smc=smc, names=spec.inputs.names)


class FeatureStream:
    """The feature matrix one closed bar at a time; ``update`` equals the batch row."""

    def __init__(self, spec: FeatureSpec) -> None:
        """Start with no history."""
        self.spec = spec
        self._base = SMCStream(spec.smc)
        base_index = {c: j for j, c in enumerate(self._base.columns)}
        # where each input column comes from: (0, j) the candle, (1, j) the SMC row
        self._sources: list[tuple[int, int]] = []
        for name in spec.inputs.columns:
            if name in OHLCV:
                self._sources.append((0, OHLCV.index(name)))
            elif name in base_index:
                self._sources.append((1, base_index[name]))
            else:
                raise KeyError(f"feature column {name!r} is not produced by the SMC engine")
        self._n = 0
        self._htf: SMCStream | None = None
        self._htf_row = np.full(len(spec.inputs.htf_columns), np.nan)
        self._period = -1
        self._agg = np.zeros(5)
        if spec.htf is not None and spec.htf_smc is not None:
            self._htf = SMCStream(spec.htf_smc)
            self._htf_cols = (*OHLCV, *self._htf.columns)
            self._tail: deque[tuple[int, np.ndarray]] = deque(maxlen=spec.htf_lookback)
            self._origin = grid_origin_ns(spec.htf)

    @property
    def bars_seen(self) -> int:
        """Bars processed so far."""
        return self._n

    def _close_period(self) -> None:
        assert self._htf is not None
        assert self.spec.htf is not None
        start = int(self._period * self.spec.htf.ns + self._origin)
        smc_row = self._htf.update_array(start, self._agg.copy())
        self._tail.append((start, np.concatenate([self._agg, smc_row])))
        index = pd.DatetimeIndex(
            np.array([t for t, _ in self._tail], dtype="datetime64[ns]"), name=INDEX_NAME
        ).tz_localize("UTC")
        frame = pd.DataFrame(
            np.vstack([r for _, r in self._tail]), index=index, columns=list(self._htf_cols)
        )
        last = _with_bias(frame, self.spec).iloc[-1]
        self._htf_row = last[list(self.spec.inputs.htf_columns)].to_numpy(np.float64)
        self._period = -1

    def _aggregate(self, ts_ns: int, ohlcv: np.ndarray) -> None:
        assert self.spec.htf is not None
        period = (ts_ns - self._origin) // self.spec.htf.ns
        if self._period >= 0 and period != self._period:
            self._close_period()  # a gap: the previous period ended without its last bar
        if self._period < 0:
            self._period = period
            self._agg[:] = ohlcv
        else:
            self._agg[1] = max(self._agg[1], ohlcv[1])
            self._agg[2] = min(self._agg[2], ohlcv[2])
            self._agg[3] = ohlcv[3]
            self._agg[4] += ohlcv[4]
        end = (period + 1) * self.spec.htf.ns + self._origin
        if ts_ns + self.spec.timeframe.ns >= end:
            self._close_period()

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> np.ndarray:
        """Advance by one closed bar (UTC open time in ns, ``[o, h, l, c, v]``); return its row."""
        values = np.asarray(ohlcv, dtype=np.float64)
        base = self._base.update_array(int(ts_ns), values)
        if self._htf is not None:
            self._aggregate(int(ts_ns), values)
        row = np.empty(len(self.spec.inputs.names))
        for j, (kind, k) in enumerate(self._sources):
            row[j] = values[k] if kind == 0 else base[k]
        row[len(self._sources) :] = self._htf_row
        self._n += 1
        return row
