"""Synthetic windows with a known, learnable label: for tests and benchmarks (numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def synthetic_windows(
    n: int, lookback: int, n_features: int, seed: int = 0, signal: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Return windows ``X`` (n, lookback, n_features) float32 and 0/1 labels ``y`` (n,).

    The label depends on the last row (features 0 and 1) and on the window mean of
    feature 2, so both last-row and sequence models can learn it; ``signal`` scales how
    much (0 gives pure noise). ``X`` is a read-only sliding view over one
    ``(n + lookback - 1, n_features)`` matrix, as a real feature matrix would be windowed.
    """
    if n < 1 or lookback < 1 or n_features < 3:
        raise ValueError(
            f"synthetic_windows: need n >= 1, lookback >= 1, n_features >= 3; "
            f"got {n}, {lookback}, {n_features}"
        )
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n + lookback - 1, n_features), dtype=np.float32)
    X = sliding_window_view(rows, (lookback, n_features))[:, 0]
    last = X[:, -1, :]
    score = signal * (last[:, 0] - 0.5 * last[:, 1] + np.sqrt(lookback) * X[:, :, 2].mean(axis=1))
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-score))).astype(np.int8)
    return X, y
