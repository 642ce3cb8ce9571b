"""``SMCStream``: the SMC engine one closed bar at a time, equal to ``compute_smc`` row by row.

The stream keeps the engine state and a sliding window of the last bars (as many as the deepest
look-back of any concept) and runs the same fused kernel as the batch path on each new bar: one
numba call per ``update``, O(1) amortized. ``snapshot()`` copies everything needed to resume;
``SMCStream.restore(snapshot)`` resumes exactly where it was taken.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError
from features.smc import engine
from features.smc.config import SMCConfig
from features.smc.validate import bar_time_ns, bar_values, candle_arrays, check_values

SNAPSHOT_VERSION = 1
_NO_BAR = np.iinfo(np.int64).min


class SMCStream:
    """Compute SMC features bar by bar; ``update`` returns the row ``compute_smc`` would give."""

    def __init__(
        self, config: SMCConfig | None = None, *, only: tuple[str, ...] | None = None
    ) -> None:
        """Start a stream with no history (``config`` defaults to ``SMCConfig()``).

        ``only``: a narrower stream for :meth:`update_values` of these columns alone: it runs
        only the concepts they need (faster), so it has no full rows (``update``,
        ``update_array``, ``update_frame`` and ``snapshot`` raise ``ValueError``).
        """
        self._cfg = engine._config(config)
        self._lay = engine.layout(self._cfg)
        self._only = None if only is None else tuple(only)
        self._on = engine.ALL_ON if only is None else self._lay.concepts_for(tuple(only))
        self._tf_ns = self._cfg.bar.ns
        self._cap = max(2 * self._lay.window, self._lay.window + 256)
        self._state = self._lay.fresh_state()
        self._ts = np.zeros(self._cap, dtype=np.int64)
        self._buf = np.full((6, self._cap), np.nan)
        self._meta = np.array([-1, 0, self._lay.window], dtype=np.int64)
        self._row = np.empty(len(self._lay.columns))
        self._f32 = self._lay.f32
        self._scratch_rows: np.ndarray | None = None
        self._columns = self._lay.columns
        self._template: dict[str, float] = dict.fromkeys(self._columns, np.nan)
        self._last_ts = _NO_BAR

    @property
    def config(self) -> SMCConfig:
        """The engine config."""
        return self._cfg

    @property
    def columns(self) -> tuple[str, ...]:
        """The keys of every row, in ``compute_smc`` column order."""
        return self._lay.columns

    @property
    def bars_seen(self) -> int:
        """How many bars the stream has processed."""
        return int(self._meta[1])

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        """Open time of the last processed bar, or ``None``."""
        return None if self._last_ts == _NO_BAR else pd.Timestamp(self._last_ts, tz="UTC")

    def _check_time(self, t: int) -> None:
        if self._last_ts == _NO_BAR:
            return
        if t <= self._last_ts:
            raise CandleDataError(
                f"bar at {pd.Timestamp(t, tz='UTC')} is not after the last bar "
                f"({pd.Timestamp(self._last_ts, tz='UTC')}): bars must arrive in strictly "
                "increasing time, each once"
            )
        if t - self._last_ts < self._tf_ns:
            raise CandleDataError(
                f"bar at {pd.Timestamp(t, tz='UTC')} opens less than the timeframe "
                f"({self._cfg.timeframe}) after the last bar "
                f"({pd.Timestamp(self._last_ts, tz='UTC')})"
            )

    def update_array(self, timestamp_ns: int, ohlcv: np.ndarray) -> np.ndarray:
        """Advance by one bar given as int64 UTC ns and ``[open, high, low, close, volume]``.

        The array twin of ``update`` (same checks); returns the row as a new float64 array in
        ``columns`` order: ``to_float64`` of ``compute_smc``'s row (NaN where not yet known,
        float32 columns rounded to float32).
        """
        self._full("update_array")
        t = int(timestamp_ns)
        o, h, lo, c, v = (float(x) for x in ohlcv)
        check_values(o, h, lo, c, v, t)
        self._push(t, o, h, lo, c, v)
        return self._row.copy()

    def update(self, bar: Mapping[str, Any]) -> dict[str, float]:
        """Advance by one closed bar and return its feature row as ``{column: value}``.

        Values are floats equal to ``to_float64`` of ``compute_smc``'s row (NaN where not yet
        known, float32 columns rounded to float32).

        ``bar`` maps ``timestamp`` (or ``ts``: a tz-aware open time) and ``open``, ``high``,
        ``low``, ``close``, ``volume``. Raises ``CandleDataError`` naming the problem for a bad
        bar, leaving the stream unchanged.
        """
        self._full("update")
        t = bar_time_ns(bar)
        o, h, lo, c, v = bar_values(bar, t)
        self._push(t, o, h, lo, c, v)
        # Filling a copy of a dict that already holds every key is twice as fast as dict(zip).
        row = self._template.copy()
        row.update(zip(self._columns, self._row.tolist(), strict=True))
        return row

    def _push(self, t: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        self._check_time(t)
        engine.push(
            t,
            o,
            h,
            lo,
            c,
            v,
            self._ts,
            self._buf,
            self._meta,
            self._state,
            self._lay.s_off,
            self._lay.c_off,
            self._lay.params,
            self._row,
            self._f32,
            self._on,
        )
        self._last_ts = t

    def update_frame(self, candles: pd.DataFrame) -> pd.DataFrame:
        """Advance by every bar of ``candles`` in one kernel call; return their rows.

        Equal to calling ``update`` bar by bar (for warming a stream up from history), and
        to the matching rows of ``compute_smc`` over all bars seen, in the same compact dtypes.
        """
        self._full("update_frame")
        groups = self._lay.new_output(len(candles))
        self._advance(candles, groups, engine.NO_VALUES)
        return self._lay.frame(groups, candles.index)

    def update_values(
        self, candles: pd.DataFrame, columns: tuple[str, ...], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Advance like ``update_frame``; return only ``columns`` of the rows, as float64.

        The values are ``to_float64(update_frame(candles), columns)``, written by the kernel
        straight into ``out`` (C-contiguous ``(len(candles), len(columns))``, new when
        ``None``) without the compact frame in between. Raises ``KeyError`` for a column the
        engine does not produce (or a narrower stream was not made for).
        """
        if self._only is not None:
            extra = [c for c in columns if c not in self._only]
            if extra:
                raise KeyError(f"column(s) {extra} are not among this stream's only={self._only}")
        sel, kinds = self._lay.values(columns)
        shape = (len(candles), len(columns))
        if out is None:
            out = np.empty(shape)
        elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float64 array of shape {shape}")
        self._advance(candles, self._lay.no_output(), (sel, kinds, out))
        return out

    def _advance(
        self,
        candles: pd.DataFrame,
        groups: tuple[np.ndarray, ...],
        values: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        ts, o, h, lo, c, v = candle_arrays(candles, self._tf_ns)
        self._check_time(int(ts[0]))
        keep = min(int(self._meta[0]) + 1, self._lay.window - 1)
        pos = int(self._meta[0])
        tail = slice(pos + 1 - keep, pos + 1)
        series = np.concatenate([self._ts[tail], ts])
        # the window's last bars, then the new ones: open .. volume, and the ATR (row 5)
        bars = np.empty((6, keep + ts.shape[0]))
        bars[:, :keep] = self._buf[:, tail]
        for f, arr in enumerate((o, h, lo, c, v)):
            bars[f, keep:] = arr
        log, logn = engine.tb.no_log()
        engine.run(
            series,
            bars,
            keep,
            int(self._meta[1]),
            0,
            self._state,
            self._lay.s_off,
            self._lay.c_off,
            self._lay.params,
            self._scratch(),
            groups,
            *values,
            log,
            logn,
            0,
            self._on,
        )
        # The window now holds the last bars of the extended series.
        total = series.shape[0]
        last = min(total, self._lay.window)
        self._ts[:last] = series[total - last :]
        self._buf[:, :last] = bars[:, total - last :]
        self._meta[0] = last - 1
        self._meta[1] += ts.shape[0]
        self._last_ts = int(ts[-1])

    def _scratch(self) -> np.ndarray:
        if self._scratch_rows is None:
            self._scratch_rows = engine.new_scratch(self._lay)
        return self._scratch_rows

    def _full(self, what: str) -> None:
        if self._only is not None:
            raise ValueError(
                f"SMCStream.{what}: this stream computes only {list(self._only)} "
                "(only=...): use update_values, or a stream without only"
            )

    def snapshot(self) -> dict[str, Any]:
        """Return a self-contained copy of the stream's state (picklable; arrays are copies)."""
        self._full("snapshot")
        return {
            "version": SNAPSHOT_VERSION,
            "config": self._cfg,
            "state": self._state.copy(),
            "ts": self._ts.copy(),
            "buf": self._buf.copy(),
            "meta": self._meta.copy(),
            "last_ts": self._last_ts,
        }

    @classmethod
    def restore(cls, snapshot: Mapping[str, Any]) -> SMCStream:
        """Return a stream that continues exactly from ``snapshot``."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"SMC snapshot version {snapshot.get('version')!r} is not {SNAPSHOT_VERSION}"
            )
        stream = cls(snapshot["config"])
        parts = {
            "state": stream._state,
            "ts": stream._ts,
            "buf": stream._buf,
            "meta": stream._meta,
        }
        for key, target in parts.items():
            value = np.asarray(snapshot[key])
            if value.shape != target.shape or value.dtype != target.dtype:
                raise ValueError(
                    f"SMC snapshot field {key!r} has shape {value.shape}/{value.dtype}, "
                    f"expected {target.shape}/{target.dtype} for this config"
                )
            target[...] = value
        stream._last_ts = int(snapshot["last_ts"])
        return stream


def iter_smc(
    candles: pd.DataFrame, config: SMCConfig | None = None, *, chunk_bars: int = 5_000
) -> Iterator[pd.DataFrame]:
    """Yield the rows of ``compute_smc(candles, config)`` in consecutive chunks of ``chunk_bars``.

    The same rows (compact dtypes) at the same speed, but only one chunk's rows in memory at a
    time (the 220 columns are 16x the input's size): for long histories written out as they
    come. Bad input raises as in ``compute_smc``, at the chunk that holds it.
    """
    if not isinstance(chunk_bars, int) or chunk_bars < 1:
        raise ValueError(f"chunk_bars must be an int >= 1, got {chunk_bars!r}")
    stream = SMCStream(config)
    for start in range(0, max(len(candles), 1), chunk_bars):
        yield stream.update_frame(candles.iloc[start : start + chunk_bars])
