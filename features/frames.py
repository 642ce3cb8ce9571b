"""The one feature computation of a trading timeframe, in one batch or one closed bar at a time.

A trading bar's features are what the Feast views serve for it:

- its own SMC columns (``compute_smc`` on the trading timeframe: view ``smc_<tf>``);
- per higher timeframe (HTF), columns visible at the bar's close, named with the HTF's prefix
  (``h1_``, see :func:`features.mtf.tf_prefix`): the HTF's own bias ``<p>bias`` and
  ``<p>bias_strength`` (the ``compute_mtf`` columns of view ``mtf_<tf>``) and any SMC column
  of the HTF, e.g. ``<p>smc_warm`` (view ``smc_<htf>`` read as of the bar's close). A trading
  bar sees the last HTF candle that closed at or before its own close, never the one in
  progress (:func:`features.mtf.visible_rows`).

The HTF bias columns of ``compute_mtf`` depend on the HTF rows only (each HTF row's own bias,
``features.mtf.bias.timeframe_bias``, joined at its close), so :func:`feature_frame` computes
them on the HTF rows (12x fewer than the trading ones for 1h over 5m) with that same function;
the tests check them against the full ``compute_mtf`` and against what Feast serves.

:func:`feature_frame` is the batch path: the SMC columns of the trading and the HTF bars come
from ``SMCStream.update_values`` chunk by chunk (:data:`CHUNK_BARS` bars at a time: the values
of ``to_float64(compute_smc(...))``, in bounded memory), the kernel running only the concepts
the requested columns need and writing only those columns, as float64, with no compact frame
in between. :class:`FeatureRows` gives the same row for one closed bar at a time:
``SMCStream`` per bar, HTF candles aggregated as they complete (:class:`HTFRows`, also the HTF
side of :class:`features.online.ModelInputStream`), the HTF bias recomputed on the last rows it
depends on, which ``features.mtf`` guarantees bit-identical to the full computation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.candles.resample import grid_origin_ns, resample_candles
from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError, Timeframe
from features.layout import utc_ns
from features.mtf import MTFConfig, tf_prefix, visible_rows
from features.mtf.bias import timeframe_bias
from features.mtf.inputs import FRAME_COLUMNS, checked_frame
from features.mtf.join import take_rows
from features.schema import to_float64
from features.smc import SMCConfig, SMCStream
from features.smc.engine import layout as smc_layout

CHUNK_BARS = 8_192
"""Trading bars per ``SMCStream`` call of the batch path (bounded memory, cache-friendly)."""
HTF_BIAS: tuple[str, ...] = ("bias", "bias_strength")
"""HTF columns that come from ``compute_mtf`` (the HTF's own bias) rather than ``compute_smc``."""


def open_ns(frame: pd.DataFrame) -> np.ndarray:
    """Return a candle frame's open times as int64 UTC nanoseconds."""
    return utc_ns(frame.index)


@dataclass(frozen=True)
class FrameSpec:
    """Which columns to compute for bars of ``trading``.

    Attributes:
        trading: The bars' timeframe.
        bar_columns: The trading bars' own columns, in order: the candle's (``open`` ..
            ``volume``) and ``compute_smc`` columns of the trading timeframe.
        htf: The higher timeframe (``None``: none), a whole multiple of ``trading``.
        htf_columns: HTF columns, bare names (``bias``, ``bias_strength`` or ``compute_smc``
            columns); in the frame they are ``<prefix><name>``.
        mtf: MTF parameters of the HTF bias.
    """

    trading: Timeframe
    bar_columns: tuple[str, ...]
    htf: Timeframe | None = None
    htf_columns: tuple[str, ...] = ()
    mtf: MTFConfig = field(default_factory=MTFConfig)

    def __post_init__(self) -> None:
        htf, tf = self.htf, self.trading
        if htf is not None and (htf.seconds <= tf.seconds or htf.seconds % tf.seconds):
            raise CandleDataError(
                f"higher timeframe {htf} must be a whole multiple of the candles' {tf} (and larger)"
            )
        if self.htf_columns and htf is None:
            raise ValueError(f"HTF columns {list(self.htf_columns)} need a higher timeframe")
        known = (*OHLCV, *smc_layout(self.smc).columns)
        self._check(self.bar_columns, known, f"the {tf} candles or SMC engine")
        if htf is not None:
            known = (*smc_layout(self.htf_smc).columns, *HTF_BIAS)
            self._check(self.htf_columns, known, f"the {htf} SMC engine or its bias")

    @staticmethod
    def _check(names: tuple[str, ...], known: tuple[str, ...], what: str) -> None:
        missing = [c for c in names if c not in known]
        if missing:
            raise KeyError(f"feature column(s) {missing} are not produced by {what}")

    @property
    def smc(self) -> SMCConfig:
        """SMC engine config of the trading timeframe."""
        return SMCConfig.for_timeframe(self.trading)

    @property
    def htf_smc(self) -> SMCConfig:
        """SMC engine config of the higher timeframe."""
        assert self.htf is not None
        return SMCConfig.for_timeframe(self.htf)

    @property
    def htf_names(self) -> tuple[str, ...]:
        """The HTF columns' names in the frame (``h1_bias``, ``h1_smc_warm``, ...)."""
        if self.htf is None:
            return ()
        prefix = tf_prefix(self.htf)
        return tuple(f"{prefix}{c}" for c in self.htf_columns)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of the frame, in order."""
        return self.bar_columns + self.htf_names

    @property
    def htf_lookback(self) -> int:
        """HTF rows the HTF bias depends on."""
        return int(self.mtf.lookback_bars(self.htf, self.htf)) if self.htf is not None else 0

    @property
    def warmup_bars(self) -> int:
        """Trading bars before every column can be defined (SMC warm-ups, the HTF bias window)."""
        bars = smc_layout(self.smc).warmup
        if self.htf is not None:
            ratio = self.htf.seconds // self.trading.seconds
            htf_rows = max(smc_layout(self.htf_smc).warmup, self.htf_lookback) + 1
            bars = max(bars, htf_rows * ratio)
        return int(bars)


def bar_values(
    candles: pd.DataFrame,
    config: SMCConfig,
    names: tuple[str, ...],
    chunk_bars: int = CHUNK_BARS,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return the bars' ``names`` (candle or ``compute_smc`` columns) as float64.

    The SMC columns are computed ``chunk_bars`` at a time by one ``SMCStream`` (the rows of
    ``compute_smc(candles, config)``, read as ``to_float64`` reads them) and written into ``out``
    (``(bars, len(names))``, new when ``None``) as they come; only ``names`` leave the kernel.
    """
    n = len(candles)
    out = np.empty((n, len(names))) if out is None else out
    smc_at = np.array([j for j, c in enumerate(names) if c not in OHLCV], dtype=np.int64)
    for j, c in enumerate(names):
        if c in OHLCV:
            out[:, j] = candles[c].to_numpy(np.float64)
    if smc_at.size:
        smc = tuple(names[j] for j in smc_at)
        stream = SMCStream(config, only=smc)  # runs only the concepts these columns need
        lo, hi = int(smc_at[0]), int(smc_at[-1]) + 1
        at: slice | np.ndarray = slice(lo, hi) if hi - lo == smc_at.size else smc_at
        block = np.empty((min(chunk_bars, n), len(smc)))
        for start in range(0, n, chunk_bars):
            part = candles.iloc[start : start + chunk_bars]
            # the kernel writes the float64 values of the columns straight into the block
            rows = stream.update_values(part, smc, out=block[: len(part)])
            out[start : start + len(part), at] = rows
    return out


def htf_values(frame: pd.DataFrame, spec: FrameSpec) -> np.ndarray:
    """Return the HTF columns of every row of an HTF frame (candles joined with their SMC).

    The bias columns of a row depend on the last ``spec.htf_lookback`` rows only.
    """
    assert spec.htf is not None
    if not len(frame):
        return np.empty((0, len(spec.htf_columns)))
    out = np.empty((len(frame), len(spec.htf_columns)))
    smc = [j for j, c in enumerate(spec.htf_columns) if c not in HTF_BIAS]
    out[:, smc] = to_float64(frame, [spec.htf_columns[j] for j in smc])
    if len(smc) < len(spec.htf_columns):
        bias = timeframe_bias(checked_frame(spec.htf, frame, FRAME_COLUMNS), spec.mtf)
        for j, c in enumerate(spec.htf_columns):
            if c in HTF_BIAS:
                out[:, j] = bias.bias if c == "bias" else bias.strength
    return out


def feature_frame(
    candles: pd.DataFrame, spec: FrameSpec, htf_candles: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return the columns of ``spec`` for every bar of a canonical candle frame.

    Args:
        candles: Trading candles (UTC open-time index, ``open..volume``).
        spec: What to compute.
        htf_candles: The HTF candles; by default the complete HTF periods resampled from
            ``candles`` (what :class:`FeatureRows` aggregates).

    Returns:
        A float64 frame indexed like ``candles`` with the columns ``spec.columns``; NaN where
        a value needs more history (or no HTF candle has closed yet).
    """
    n = len(candles)
    data = np.empty((n, len(spec.columns)))  # every column is written below
    k = len(spec.bar_columns)
    if k and n:
        bar_values(candles, spec.smc, spec.bar_columns, out=data[:, :k])
    if spec.htf is not None and spec.htf_columns and n:
        if htf_candles is None:
            htf_candles = resample_candles(candles, spec.htf, base=spec.trading)
        values = np.empty((0, len(spec.htf_columns)))
        if len(htf_candles):
            known = smc_layout(spec.htf_smc).columns
            wanted = (*FRAME_COLUMNS, *spec.htf_columns)
            used = tuple(dict.fromkeys(c for c in wanted if c in known))
            smc = bar_values(htf_candles, spec.htf_smc, used)  # = to_float64(compute_smc(...))
            htf = pd.concat(
                [htf_candles, pd.DataFrame(smc, index=htf_candles.index, columns=list(used))],
                axis=1,
            )
            values = htf_values(htf, spec)
        rows = visible_rows(open_ns(candles), spec.trading, open_ns(htf_candles), spec.htf)
        for j in range(values.shape[1]):
            data[:, k + j] = take_rows(values[:, j], rows)
    return pd.DataFrame(data, index=candles.index, columns=list(spec.columns), copy=False)


class HTFRows:
    """A higher timeframe's candles aggregated from closed trading bars, with their SMC rows.

    A period closes on its last trading bar (or, after a gap, on the first bar of a later
    period): its candle, the ``resample_candles`` candle of those bars, goes through an
    ``SMCStream`` of the HTF, and ``[open..volume, SMC columns]`` joins the last ``keep`` rows
    (:meth:`frame`).
    """

    def __init__(self, trading: Timeframe, htf: Timeframe, keep: int) -> None:
        """Start with no history; keep the last ``keep`` closed HTF rows."""
        self.trading = trading
        self.htf = htf
        self.stream = SMCStream(SMCConfig.for_timeframe(htf))
        self.columns: tuple[str, ...] = (*OHLCV, *self.stream.columns)
        self._tail: deque[tuple[int, np.ndarray]] = deque(maxlen=keep)
        self._origin = grid_origin_ns(htf)
        self._period = -1
        self._agg = np.zeros(len(OHLCV))
        self._frame: pd.DataFrame | None = None

    def _close_period(self) -> None:
        start = int(self._period * self.htf.ns + self._origin)
        smc_row = self.stream.update_array(start, self._agg.copy())
        self._tail.append((start, np.concatenate([self._agg, smc_row])))
        self._period = -1
        self._frame = None

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> bool:
        """Aggregate one closed trading bar; return whether an HTF candle closed."""
        closed = False
        period = (ts_ns - self._origin) // self.htf.ns
        if self._period >= 0 and period != self._period:
            self._close_period()  # a gap: the previous period ended without its last bar
            closed = True
        if self._period < 0:
            self._period = period
            self._agg[:] = ohlcv
        else:
            self._agg[1] = max(self._agg[1], ohlcv[1])
            self._agg[2] = min(self._agg[2], ohlcv[2])
            self._agg[3] = ohlcv[3]
            self._agg[4] += ohlcv[4]
        end = (period + 1) * self.htf.ns + self._origin
        if ts_ns + self.trading.ns >= end:
            self._close_period()
            closed = True
        return closed

    def frame(self) -> pd.DataFrame:
        """Return the kept HTF rows (UTC open-time index; float64, "not yet known": NaN)."""
        if self._frame is None:
            index = pd.DatetimeIndex(
                np.array([t for t, _ in self._tail], dtype="datetime64[ns]"), name=INDEX_NAME
            ).tz_localize("UTC")
            values = (
                np.vstack([r for _, r in self._tail])
                if self._tail
                else np.empty((0, len(self.columns)))
            )
            self._frame = pd.DataFrame(values, index=index, columns=list(self.columns))
        return self._frame


class FeatureRows:
    """The rows of :func:`feature_frame` one closed bar at a time, equal to the batch rows."""

    def __init__(self, spec: FrameSpec) -> None:
        """Start with no history."""
        self.spec = spec
        self._base = SMCStream(spec.smc)
        position = {c: j for j, c in enumerate(OHLCV)}
        position.update({c: len(OHLCV) + j for j, c in enumerate(self._base.columns)})
        self._take = np.array([position[c] for c in spec.bar_columns], dtype=np.int64)
        self._n = 0
        self._htf: HTFRows | None = None
        self._htf_row = np.full(len(spec.htf_columns), np.nan)
        if spec.htf is not None and spec.htf_columns:
            self._htf = HTFRows(spec.trading, spec.htf, spec.htf_lookback)

    @property
    def bars_seen(self) -> int:
        """Bars processed so far."""
        return self._n

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> np.ndarray:
        """Advance by one closed bar (UTC open time in ns, ``[o, h, l, c, v]``); return its row."""
        values = np.asarray(ohlcv, dtype=np.float64)
        base = self._base.update_array(int(ts_ns), values)
        if self._htf is not None and self._htf.update(int(ts_ns), values):
            self._htf_row = htf_values(self._htf.frame(), self.spec)[-1]
        self._n += 1
        own = np.concatenate([values, base])[self._take]
        return np.concatenate([own, self._htf_row])
