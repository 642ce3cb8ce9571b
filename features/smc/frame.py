"""Glue between candle frames and the numba kernels: validated input arrays, output frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

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


# Not cached: numba cannot cache a function that takes another as an argument. The steps it calls
# are cached, so compiling this loop per step takes a fraction of a second.
@njit
def _run_step(
    step: Any,
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    atr: np.ndarray,
    state: np.ndarray,
    params: Any,
    n_cols: int,
    extra: tuple[Any, ...],
) -> np.ndarray:
    out = np.full((ts.shape[0], n_cols), np.nan)
    for i in range(ts.shape[0]):
        step(i, i, ts, o, h, lo, c, v, atr, state, params, out[i], *extra)
    return out


def step_frame(
    candles: pd.DataFrame,
    arrays: tuple[np.ndarray, ...],
    step: Any,
    state: np.ndarray,
    params: Any,
    columns: Sequence[str],
    extra: tuple[Any, ...] = (),
) -> pd.DataFrame:
    """Run one concept's ``step`` alone over ``arrays`` (``ts, o, h, l, c, v, atr``); frame it.

    The standalone ``compute`` of the concepts that need no other concept's row; ``extra`` are
    the step's arguments after its output row (the event log).
    """
    ts, o, h, lo, c, v, atr = arrays
    out = _run_step(step, ts, o, h, lo, c, v, atr, state, params, len(columns), extra)
    return pd.DataFrame(out, index=candles.index, columns=list(columns), copy=False)
