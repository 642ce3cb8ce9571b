"""Convert between the canonical candle frame and the flat arrays the stores write."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError


@dataclass(frozen=True)
class CandleArrays:
    """Candles as arrays: ``ts`` in int64 ns since the epoch (UTC), ``values`` float64 (n, 5)."""

    ts: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])


def to_arrays(candles: pd.DataFrame, where: str) -> CandleArrays:
    """Check the frame is canonical, strictly increasing, and return its arrays.

    Args:
        candles: A validated canonical candle frame.
        where: What is being written (e.g. ``"BTC/USDT 5m"``), used in error messages.

    Raises:
        CandleDataError: Naming what is wrong and where.
    """
    if not isinstance(candles, pd.DataFrame):
        raise CandleDataError(f"{where}: expected a DataFrame, got {type(candles).__name__}")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleDataError(f"{where}: index must be a tz-aware DatetimeIndex (UTC open time)")
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing:
        raise CandleDataError(f"{where}: missing columns {missing}")
    stamps = index.tz_convert("UTC").as_unit("ns").to_numpy(dtype="datetime64[ns]")
    ts = np.ascontiguousarray(stamps.view(np.int64))
    if ts.size > 1:
        steps = np.diff(ts)
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            at = pd.Timestamp(int(ts[bad[0] + 1]), tz="UTC")
            raise CandleDataError(
                f"{where}: index must be strictly increasing (duplicate or unsorted at {at})"
            )
    values = np.empty((ts.size, len(OHLCV)), dtype=np.float64)
    for j, column in enumerate(OHLCV):
        values[:, j] = candles[column].to_numpy(dtype=np.float64)
    return CandleArrays(ts=ts, values=values)


def to_frame(ts_ns: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Build a canonical candle frame from int64 ns open times and an (n, 5) float64 block."""
    stamps = np.ascontiguousarray(ts_ns, dtype=np.int64).view("datetime64[ns]")
    index = pd.DatetimeIndex(stamps, name=INDEX_NAME).tz_localize("UTC")
    data = {c: np.ascontiguousarray(values[:, j], dtype=np.float64) for j, c in enumerate(OHLCV)}
    return pd.DataFrame(data, index=index, copy=False)


def to_utc_ns(value: pd.Timestamp | None, name: str) -> int | None:
    """Return a bound as int64 ns since the epoch; naive timestamps are read as UTC."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise CandleDataError(f"{name} bound is NaT")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)
