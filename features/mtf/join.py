"""Point-in-time join of higher-timeframe rows onto a lower (trading) timeframe.

A candle, and every feature computed from it, is known at its close (open + timeframe). A
base bar therefore sees the higher-timeframe (HTF) row whose close is at or before its own
close: the 1h candle that opens at 10:00 closes at 11:00 and is first visible on the 5m bar
that opens at 10:55 (closing at 11:00), never on an earlier one. The lookup is one
``np.searchsorted`` over the HTF close times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from features.schema import column_float64

_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60))


def tf_prefix(tf: str | Timeframe) -> str:
    """Return a timeframe's column prefix: ``5m`` -> ``m5_``, ``4h`` -> ``h4_``, ``1d`` -> ``d1_``.

    The largest whole unit is used, so ``60m`` and ``1h`` share the prefix ``h1_``.
    """
    seconds = Timeframe.parse(tf).seconds
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{unit}{seconds // size}_"
    raise CandleDataError(f"timeframe {tf!r} is not a whole number of minutes")


def index_ns(frame: pd.DataFrame, what: str) -> np.ndarray:
    """Return a frame's open times as int64 UTC ns, or raise naming ``what`` and the problem."""
    if not isinstance(frame, pd.DataFrame):
        raise CandleDataError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleDataError(
            f"{what}: index must be a tz-aware DatetimeIndex of UTC open times, "
            f"got {type(index).__name__}{'' if getattr(index, 'tz', None) else ' (tz-naive)'}"
        )
    if index.hasnans:
        raise CandleDataError(f"{what}: index has a missing timestamp (NaT)")
    stamps = index.tz_convert("UTC").as_unit("ns").to_numpy(dtype="datetime64[ns]")
    ns = np.ascontiguousarray(stamps.view(np.int64))
    if ns.size > 1:
        bad = np.flatnonzero(np.diff(ns) <= 0)
        if bad.size:
            at = index[int(bad[0]) + 1]
            raise CandleDataError(
                f"{what}: index must be strictly increasing (duplicate or unsorted at {at})"
            )
    return ns


def infer_timeframe(ns: np.ndarray, what: str) -> Timeframe:
    """Return the smallest step between consecutive open times as a timeframe."""
    if ns.size < 2:
        raise CandleDataError(
            f"{what}: cannot infer the timeframe from fewer than 2 rows; pass it explicitly"
        )
    step = int(np.diff(ns).min())
    if step % 60_000_000_000:
        raise CandleDataError(f"{what}: smallest step {pd.Timedelta(step)} is not whole minutes")
    seconds = step // 1_000_000_000
    for unit, size in _UNITS:
        if seconds % size == 0:
            return Timeframe.parse(f"{seconds // size}{unit}")
    raise AssertionError("unreachable: minutes divide every step")  # pragma: no cover


def visible_rows(
    base_open_ns: np.ndarray,
    base_tf: Timeframe,
    htf_open_ns: np.ndarray,
    htf_tf: Timeframe,
) -> np.ndarray:
    """Return, per base bar, the position of the last HTF row closed by its close (-1: none).

    Both inputs are strictly increasing int64 UTC open times in ns. The HTF row ``j`` is
    visible at base bar ``i`` iff ``htf_open[j] + htf_tf <= base_open[i] + base_tf``.
    """
    htf_close = htf_open_ns + htf_tf.ns
    base_close = base_open_ns + base_tf.ns
    return np.searchsorted(htf_close, base_close, side="right").astype(np.int64) - 1


def take_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return ``values[rows]`` as float64 with NaN where ``rows`` is -1."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.full(rows.shape, np.nan)
    out = values[np.maximum(rows, 0)]
    out[rows < 0] = np.nan
    return out


def htf_asof_join(
    base: pd.DataFrame,
    htf: pd.DataFrame,
    htf_timeframe: str | Timeframe,
    prefix: str,
    base_timeframe: str | Timeframe | None = None,
) -> pd.DataFrame:
    """Return, for every base bar, the higher-timeframe row known at its close, prefixed.

    Args:
        base: Frame indexed by base-candle open time (UTC); only its index is used.
        htf: Frame indexed by HTF candle open time (UTC); every column is joined (numeric
            and boolean columns as float64, others as objects with ``None`` where unseen).
        htf_timeframe: The HTF candle timeframe, e.g. ``"4h"``.
        prefix: Prepended to every HTF column name, e.g. ``"h4_"``.
        base_timeframe: The base timeframe; inferred as the smallest step of ``base``'s index
            when ``None``.

    Returns:
        A frame with ``base``'s index and ``htf``'s columns renamed ``prefix + name``, holding
        the row of the last HTF candle whose close (open + ``htf_timeframe``) is at or before
        the base bar's close (open + base timeframe); NaN before the first such candle.

    Raises:
        CandleDataError: A frame's index is not a strictly increasing UTC ``DatetimeIndex``,
            a timeframe is not valid, or the base timeframe cannot be inferred.
    """
    base_ns = index_ns(base, "htf_asof_join base")
    htf_ns = index_ns(htf, "htf_asof_join htf")
    htf_tf = Timeframe.parse(htf_timeframe)
    base_tf = (
        Timeframe.parse(base_timeframe)
        if base_timeframe is not None
        else infer_timeframe(base_ns, "htf_asof_join base")
    )
    rows = visible_rows(base_ns, base_tf, htf_ns, htf_tf)
    seen = rows >= 0
    data: dict[str, object] = {}
    for name in htf.columns:
        column = htf[name]
        key = f"{prefix}{name}"
        if pd.api.types.is_numeric_dtype(column.dtype):
            data[key] = take_rows(column_float64(htf, name), rows)
        else:
            values = column.to_numpy(dtype=object)
            picked = np.full(rows.shape, None, dtype=object)
            if values.size:
                picked[seen] = values[rows[seen]]
            data[key] = picked
    return pd.DataFrame(data, index=base.index)
