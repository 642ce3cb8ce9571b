"""Resample candles to a higher timeframe: closed periods only, vectorized with numpy.

Periods lie on a UTC grid anchored at the Unix epoch (so ``1d`` starts at 00:00 UTC and
``4h`` at 00, 04, 08, ... UTC); week timeframes are anchored on Monday 00:00 UTC
(1970-01-05). Each period aggregates the base candles whose open time falls in it: first
open, max high, min low, last close, summed volume.

A period is emitted only once it is *complete*: the last base candle's close
(``open + base``) reaches the period's end. Only the last period can be incomplete, so
resampling any prefix of the data gives exactly the full result's rows for the periods that
prefix completes (prefix invariance; nothing is ever rewritten). A period with missing base
candles inside it is still emitted, aggregated from the candles present; the output keeps the
five canonical columns (no bar count).

Input must be a canonical, validated frame (strictly increasing, no NaN: NaN would propagate
into high/low/volume rather than be skipped as pandas does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError, Timeframe, empty_candles

_WEEK = 7 * 86_400
_MONDAY_ORIGIN_NS = 4 * 86_400 * 1_000_000_000  # 1970-01-05, the first Monday after the epoch


def grid_origin_ns(timeframe: Timeframe) -> int:
    """Return the origin of the timeframe's period grid in ns since the epoch."""
    return _MONDAY_ORIGIN_NS if timeframe.seconds % _WEEK == 0 else 0


@dataclass(frozen=True)
class _Columns:
    """The candle columns as arrays: open times in int64 ns and float64 OHLCV."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def _columns(candles: pd.DataFrame) -> _Columns:
    if not isinstance(candles, pd.DataFrame):
        raise CandleDataError(f"resample: expected a DataFrame, got {type(candles).__name__}")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleDataError("resample: index must be a tz-aware DatetimeIndex (UTC open time)")
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing:
        raise CandleDataError(f"resample: missing columns {missing}")
    stamps = index.tz_convert("UTC").as_unit("ns").to_numpy(dtype="datetime64[ns]")
    ts = stamps.view(np.int64)
    if ts.size > 1:
        bad = np.flatnonzero(np.diff(ts) <= 0)
        if bad.size:
            at = pd.Timestamp(int(ts[bad[0] + 1]), tz="UTC")
            raise CandleDataError(
                f"resample: index must be strictly increasing (duplicate or unsorted at {at})"
            )
    arrays = {c: candles[c].to_numpy(dtype=np.float64) for c in OHLCV}
    return _Columns(ts=ts, **arrays)


def _infer_base(ts: np.ndarray) -> Timeframe:
    """Return the smallest step between consecutive candles as the base timeframe."""
    if ts.size < 2:
        raise CandleDataError(
            "resample: cannot infer the base timeframe from fewer than 2 candles; pass base="
        )
    step = int(np.diff(ts).min())
    if step % 1_000_000_000:
        raise CandleDataError(f"resample: smallest candle step {step} ns is not whole seconds")
    seconds = step // 1_000_000_000
    for unit, size in (("w", _WEEK), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return Timeframe.parse(f"{seconds // size}{unit}")
    raise CandleDataError(f"resample: smallest candle step {seconds} s is not whole minutes")


def _check_compatible(base: Timeframe, target: Timeframe) -> None:
    """Raise unless every base candle falls wholly inside one target period."""
    if target.seconds < base.seconds or target.seconds % base.seconds:
        raise CandleDataError(
            f"resample: target {target} must be a whole multiple of the base {base}"
        )
    if (grid_origin_ns(target) - grid_origin_ns(base)) % base.ns:
        raise CandleDataError(
            f"resample: {base} candles straddle the Monday-anchored {target} periods"
        )


def _check_aligned(ts: np.ndarray, base: Timeframe) -> None:
    misaligned = np.flatnonzero((ts - grid_origin_ns(base)) % base.ns)
    if misaligned.size:
        at = pd.Timestamp(int(ts[misaligned[0]]), tz="UTC")
        raise CandleDataError(f"resample: candle at {at} is not on the {base} UTC grid")


def _aggregate(cols: _Columns, base: Timeframe, target: Timeframe) -> pd.DataFrame:
    """Aggregate into complete target periods with ``ufunc.reduceat`` on group starts."""
    n = cols.ts.size
    if n == 0:
        return empty_candles()
    origin, width = grid_origin_ns(target), target.ns
    period = (cols.ts - origin) // width
    starts = np.flatnonzero(np.concatenate(([True], period[1:] != period[:-1])))
    if cols.ts[-1] + base.ns < int(period[-1]) * width + origin + width:
        starts, n = starts[:-1], int(starts[-1])  # the last period is still open: drop it
    if starts.size == 0:
        return empty_candles()
    last = np.concatenate((starts[1:], [n])) - 1
    index = pd.DatetimeIndex(
        (period[starts] * width + origin).view("datetime64[ns]"), name=INDEX_NAME
    ).tz_localize("UTC")
    data = {
        "open": cols.open[starts],
        "high": np.maximum.reduceat(cols.high[:n], starts),
        "low": np.minimum.reduceat(cols.low[:n], starts),
        "close": cols.close[last],
        "volume": np.add.reduceat(cols.volume[:n], starts),
    }
    return pd.DataFrame(data, index=index, copy=False)


def resample_candles(
    candles: pd.DataFrame, target: Timeframe | str, base: Timeframe | str | None = None
) -> pd.DataFrame:
    """Resample a candle frame to ``target``, emitting complete periods only.

    Args:
        candles: Canonical candle frame of the base timeframe.
        target: Timeframe to build (a whole multiple of ``base``).
        base: Timeframe of ``candles``; inferred as the smallest step between candles when
            ``None`` (pass it explicitly when the data may have gaps everywhere).

    Returns:
        A canonical candle frame indexed by period open time (UTC).

    Raises:
        CandleDataError: When ``target`` is not a whole multiple of ``base``, candles are off
            the base grid, or the frame is not canonical.
    """
    cols = _columns(candles)
    target = Timeframe.parse(target)
    if cols.ts.size == 0:
        return empty_candles()
    resolved = Timeframe.parse(base) if base is not None else _infer_base(cols.ts)
    _check_compatible(resolved, target)
    _check_aligned(cols.ts, resolved)
    return _aggregate(cols, resolved, target)


def resample_all(
    candles: pd.DataFrame, base: Timeframe | str, targets: Iterable[Timeframe | str]
) -> dict[str, pd.DataFrame]:
    """Resample one base frame to several timeframes; return frames keyed by label.

    Each target is aggregated directly from the base candles (not chained), so every frame
    equals ``resample_candles(candles, target, base)`` exactly.
    """
    cols = _columns(candles)
    resolved = Timeframe.parse(base)
    parsed = [Timeframe.parse(t) for t in targets]
    for target in parsed:
        _check_compatible(resolved, target)
    _check_aligned(cols.ts, resolved)
    return {target.label: _aggregate(cols, resolved, target) for target in parsed}
