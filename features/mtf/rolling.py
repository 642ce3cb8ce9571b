"""Fixed-window indicators over the last ``w`` rows: every value is summed from its own window.

A running sum (add the new value, subtract the old one) carries rounding from the first row
on, so a recomputation that starts later would differ in the last bits. Each output here is
instead a fresh sum over its window in a fixed order, so it depends on exactly those rows: the
basis of the bit-identical incremental recomputation of ``compute_mtf``. Outputs are NaN until
the window is full, and wherever the window holds a NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Return the mean of ``x[t-w+1..t]`` for every t."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        s = 0.0
        for k in range(t - w + 1, t + 1):
            s += x[k]
        out[t] = s / w
    return out


@njit(cache=True)
def rolling_slope(x: np.ndarray, w: int) -> np.ndarray:
    """Return the least-squares slope per row of ``x[t-w+1..t]`` against ``0..w-1``."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    mid = (w - 1) / 2.0
    den = 0.0
    for k in range(w):
        den += (k - mid) * (k - mid)
    for t in range(w - 1, n):
        s = 0.0
        for k in range(w):
            s += (k - mid) * x[t - w + 1 + k]
        out[t] = s / den
    return out


@njit(cache=True)
def rolling_rsi(close: np.ndarray, w: int) -> np.ndarray:
    """Return the RSI (0..100) from simple means of the last ``w`` gains and losses.

    50 when the window has no price change at all. Needs ``w + 1`` closes.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    for t in range(w, n):
        gain = 0.0
        loss = 0.0
        for k in range(t - w + 1, t + 1):
            d = close[k] - close[k - 1]
            if d > 0:
                gain += d
            elif d < 0:
                loss -= d
        if np.isnan(gain) or np.isnan(loss):
            continue
        total = gain + loss
        # gain / total <= 1 exactly (gain <= total), so the RSI never rounds past 100.
        out[t] = 50.0 if total == 0.0 else 100.0 * (gain / total)
    return out


@njit(cache=True)
def efficiency_ratio(close: np.ndarray, w: int) -> np.ndarray:
    """Return Kaufman's efficiency ratio ``(close[t] - close[t-w]) / sum |changes|``, signed.

    In -1..1: near +-1 a clean trend, near 0 a range; 0 when price did not move.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    for t in range(w, n):
        path = 0.0
        for k in range(t - w + 1, t + 1):
            path += abs(close[k] - close[k - 1])
        net = close[t] - close[t - w]
        if np.isnan(path) or np.isnan(net):
            continue
        out[t] = 0.0 if path == 0.0 else net / path
    return out


@njit(cache=True)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Return each bar's true range (it needs the close before it: NaN for the first bar)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for k in range(1, n):
        prev = close[k - 1]
        out[k] = max(high[k], prev) - min(low[k], prev)
    return out


def mean_true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray, w: int) -> np.ndarray:
    """Return the mean true range of the last ``w`` bars (``w + 1`` rows: NaN before)."""
    return rolling_mean(true_range(high, low, close), w)
