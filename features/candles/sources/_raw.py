"""Helpers shared by the sources: the raw frame, window bounds and the wall clock."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError

RAW_COLUMNS: tuple[str, ...] = ("ts", *OHLCV, "source_row")


def wall_clock() -> pd.Timestamp:
    """Return the current UTC time (the default clock of every source)."""
    return pd.Timestamp.now(tz="UTC")


def utc_bound(value: pd.Timestamp | str | None, what: str) -> pd.Timestamp | None:
    """Return ``value`` as a UTC timestamp (naive input is read as UTC); ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise CandleDataError(f"{what} {value!r} is not a timestamp") from exc
    if ts is pd.NaT:
        raise CandleDataError(f"{what} must be a timestamp, got NaT")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_required(value: pd.Timestamp | str | None, what: str) -> pd.Timestamp:
    """Return ``value`` as a UTC timestamp; ``None`` is an error naming ``what``."""
    ts = utc_bound(value, what)
    if ts is None:
        raise CandleDataError(f"{what} is required")
    return ts


def raw_frame(
    ts: pd.DatetimeIndex | pd.Series,
    values: Sequence[object],
    source_row: np.ndarray,
) -> pd.DataFrame:
    """Assemble a raw frame (RangeIndex; ``ts``, the five fields as given, ``source_row``)."""
    ts_values = pd.DatetimeIndex(ts)
    if ts_values.tz is None:
        ts_values = ts_values.tz_localize("UTC")
    data: dict[str, object] = {"ts": ts_values.tz_convert("UTC").as_unit("ns")}
    for name, column in zip(OHLCV, values, strict=True):
        data[name] = column
    data["source_row"] = np.asarray(source_row, dtype="int64")
    frame = pd.DataFrame(data)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def empty_raw() -> pd.DataFrame:
    """Return an empty raw frame with the contract's columns and dtypes."""
    empty = np.array([], dtype="float64")
    return raw_frame(
        pd.DatetimeIndex([], tz="UTC"), [empty] * len(OHLCV), np.array([], dtype="int64")
    )
