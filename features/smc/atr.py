"""Average true range (Wilder), as a numba step shared by every SMC concept.

State layout (float64[ATR_STATE]): ``[prev_close, atr, count, tr_sum]``. The ATR is ``nan`` until
``period`` true ranges have been seen; then it is their mean, smoothed by Wilder's rule after. It
is also ``nan`` while it is 0 (a market with no range at all, e.g. a halted or untraded pair
printing one price): nothing can be measured in ATRs then, so every ATR-scaled value is ``nan``
as in the warm-up, never infinite.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ATR_STATE = 4


def atr_init() -> np.ndarray:
    """Return a fresh ATR state."""
    return np.array([np.nan, np.nan, 0.0, 0.0])


@njit(cache=True)
def atr_step(high: float, low: float, close: float, period: int, state: np.ndarray) -> float:
    """Advance the ATR state by one closed bar and return the ATR known at its close."""
    prev_close = state[0]
    if np.isnan(prev_close):
        tr = high - low
    else:
        tr = max(high - low, abs(high - prev_close), abs(low - prev_close))
    state[0] = close
    count = state[2] + 1.0
    state[2] = count
    if count < period:
        state[3] += tr
        return np.nan
    if count == period:
        state[1] = (state[3] + tr) / period
    else:
        state[1] = (state[1] * (period - 1) + tr) / period
    return state[1] if state[1] > 0.0 else np.nan


@njit(cache=True)
def atr_series(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Return the causal ATR for every bar."""
    out = np.empty(high.shape[0])
    state = np.array([np.nan, np.nan, 0.0, 0.0])
    for i in range(high.shape[0]):
        out[i] = atr_step(high[i], low[i], close[i], period, state)
    return out
