"""Glue between candle frames and the numba kernels: validated input arrays, output frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.smc.atr import atr_series
from features.smc.validate import candle_arrays


def prepare(
    candles: pd.DataFrame, atr_period: int, min_spacing_ns: int = 1
) -> tuple[np.ndarray, ...]:
    """Validate ``candles``; return ``ts, open, high, low, close, volume, atr`` arrays."""
    if atr_period < 1:
        raise ValueError(f"atr_period must be >= 1, got {atr_period}")
    ts, o, h, lo, c, v = candle_arrays(candles, min_spacing_ns)
    return ts, o, h, lo, c, v, atr_series(h, lo, c, atr_period)


def module_frame(candles: pd.DataFrame, out_t: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Wrap a ``(columns, bars)`` kernel output as a frame on the candles' index, without a copy."""
    return pd.DataFrame(out_t.T, index=candles.index, columns=list(columns), copy=False)
