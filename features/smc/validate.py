"""Input checks for the SMC engine: a bad candle frame or bar gets an error naming what and where.

The engine refuses, rather than repairs, input it cannot compute causally and exactly: NaN or
infinite prices, OHLC that contradict each other, negative volume, an index that is not a
strictly increasing tz-aware UTC ``DatetimeIndex``, or candles spaced closer than the configured
timeframe. Gaps between candles are allowed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError

_BAR_TIME_KEYS = ("timestamp", "ts")


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Return a tz-aware index as int64 UTC nanoseconds, whatever its resolution."""
    return np.asarray(index.as_unit("ns").to_numpy(dtype="datetime64[ns]")).view(np.int64)


def _where(index: pd.DatetimeIndex, pos: int) -> str:
    return f"row {pos} (ts={index[pos]})"


def check_index(index: pd.Index, min_spacing_ns: int) -> pd.DatetimeIndex:
    """Return the index as a UTC ``DatetimeIndex`` or raise naming the first problem."""
    if not isinstance(index, pd.DatetimeIndex):
        raise CandleDataError(
            f"candles need a DatetimeIndex of UTC open times, got {type(index).__name__}"
        )
    if index.tz is None:
        raise CandleDataError(
            "candle index is tz-naive: localize it to UTC (index.tz_localize('UTC')) so that "
            "open times are unambiguous"
        )
    if str(index.tz) not in ("UTC", "UTC+00:00", "utc"):
        raise CandleDataError(
            f"candle index is in time zone {index.tz}, expected UTC: use index.tz_convert('UTC')"
        )
    if index.hasnans:
        pos = int(np.flatnonzero(index.isna())[0])
        raise CandleDataError(f"candle index has a missing timestamp (NaT) at row {pos}")
    ns = _ns(index)
    if ns.shape[0] > 1:
        diff = np.diff(ns)
        bad = np.flatnonzero(diff <= 0)
        if bad.shape[0]:
            pos = int(bad[0]) + 1
            kind = "duplicated" if diff[bad[0]] == 0 else "out of order (index not sorted)"
            raise CandleDataError(
                f"candle timestamps must be strictly increasing: {_where(index, pos)} is {kind}"
            )
        close = np.flatnonzero(diff < min_spacing_ns)
        if close.shape[0]:
            pos = int(close[0]) + 1
            gap = pd.Timedelta(int(diff[close[0]]), unit="ns")
            raise CandleDataError(
                f"{_where(index, pos)} opens {gap} after the previous candle, less than the "
                f"configured timeframe ({pd.Timedelta(min_spacing_ns, unit='ns')}): use "
                "SMCConfig.for_timeframe(...) matching the candles"
            )
    return index


def _check_prices(
    index: pd.DatetimeIndex,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
) -> None:
    for name, arr in zip(OHLCV, (o, h, lo, c, v), strict=True):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.shape[0]:
            raise CandleDataError(
                f"column {name!r} has a non-finite value ({arr[bad[0]]}) at "
                f"{_where(index, int(bad[0]))}; {bad.shape[0]} such rows in all: drop or repair "
                "them before computing SMC"
            )
    checks = (
        (h < np.maximum(o, c), "high is below max(open, close)"),
        (lo > np.minimum(o, c), "low is above min(open, close)"),
        (v < 0, "volume is negative"),
    )
    for mask, what in checks:
        bad = np.flatnonzero(mask)
        if bad.shape[0]:
            raise CandleDataError(f"{what} at {_where(index, int(bad[0]))}")


def candle_arrays(
    candles: pd.DataFrame, min_spacing_ns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate a candle frame and return contiguous ``ts, open, high, low, close, volume``.

    ``ts`` is int64 nanoseconds since the epoch (UTC open time); prices are float64.
    """
    if not isinstance(candles, pd.DataFrame):
        raise CandleDataError(f"candles must be a pandas DataFrame, got {type(candles).__name__}")
    missing = [col for col in OHLCV if col not in candles.columns]
    if missing:
        raise CandleDataError(
            f"candles are missing column(s) {missing}; expected {list(OHLCV)} "
            f"(got {list(candles.columns)})"
        )
    if candles.shape[0] == 0:
        raise CandleDataError("candles are empty: the SMC engine needs at least one closed candle")
    index = check_index(candles.index, min_spacing_ns)
    arrays = []
    for col in OHLCV:
        series = candles[col]
        if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype
        ):
            raise CandleDataError(f"column {col!r} must be numeric, got dtype {series.dtype}")
        if isinstance(series.dtype, np.dtype):
            values = series.to_numpy(dtype=np.float64)  # a view when already float64
        else:  # nullable extension dtypes: pd.NA becomes NaN, then is refused below
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        arrays.append(np.ascontiguousarray(values))
    o, h, lo, c, v = arrays
    _check_prices(index, o, h, lo, c, v)
    ts = np.ascontiguousarray(_ns(index), dtype=np.int64)
    return ts, o, h, lo, c, v


def bar_time_ns(bar: Mapping[str, Any]) -> int:
    """Return a streamed bar's open time as int64 UTC nanoseconds, or raise naming the problem."""
    value = bar.get("timestamp")
    if value is None:
        value = bar.get("ts")
    if type(value) is pd.Timestamp and value.tzinfo is not None:  # the fast, common case
        return int(value.value)
    if value is None:
        raise CandleDataError(f"bar has no 'timestamp' (or 'ts') key: got keys {sorted(bar)}")
    if isinstance(value, np.datetime64):
        return int(pd.Timestamp(value).value)
    if isinstance(value, int | float | np.integer | np.floating):
        raise CandleDataError(
            f"bar timestamp {value!r} is a number: pass a tz-aware datetime or pd.Timestamp "
            "(numbers are ambiguous between seconds, ms and ns)"
        )
    if not isinstance(value, str | dt.datetime):
        raise CandleDataError(f"bar timestamp has unsupported type {type(value).__name__}")
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise CandleDataError("bar timestamp is NaT")
    if stamp.tzinfo is None:
        raise CandleDataError(
            f"bar timestamp {stamp} is tz-naive: give a UTC-aware time (e.g. tz='UTC')"
        )
    return int(stamp.tz_convert("UTC").value)


def bar_values(bar: Mapping[str, Any], stamp_ns: int) -> tuple[float, float, float, float, float]:
    """Return a streamed bar's ``open, high, low, close, volume`` as floats, checked."""
    try:
        values = (
            float(bar["open"]),
            float(bar["high"]),
            float(bar["low"]),
            float(bar["close"]),
            float(bar["volume"]),
        )
    except KeyError as exc:
        raise CandleDataError(
            f"bar at {pd.Timestamp(stamp_ns, tz='UTC')} has no {exc.args[0]!r}: "
            f"expected keys timestamp, {', '.join(OHLCV)}"
        ) from None
    except (TypeError, ValueError):
        bad = [k for k in OHLCV if not _is_number(bar[k])]
        raise CandleDataError(
            f"bar at {pd.Timestamp(stamp_ns, tz='UTC')} has a non-numeric {bad[0]!r}: "
            f"{bar[bad[0]]!r}"
        ) from None
    check_values(*values, stamp_ns)
    return values


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def check_values(o: float, h: float, lo: float, c: float, v: float, stamp_ns: int) -> None:
    """Raise ``CandleDataError`` unless one bar's prices and volume are finite and consistent."""
    if lo <= o <= h and lo <= c <= h and 0.0 <= v < math.inf and -math.inf < lo and h < math.inf:
        return
    where = f"bar at {pd.Timestamp(stamp_ns, tz='UTC')}"
    for name, value in zip(OHLCV, (o, h, lo, c, v), strict=True):
        if not math.isfinite(value):
            raise CandleDataError(f"{where} has a non-finite {name!r} ({value})")
    if h < max(o, c):
        raise CandleDataError(f"{where}: high is below max(open, close)")
    if lo > min(o, c):
        raise CandleDataError(f"{where}: low is above min(open, close)")
    raise CandleDataError(f"{where}: volume is negative")
