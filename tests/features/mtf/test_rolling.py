"""Fixed-window kernels: right values, and each one depends on its own window only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.mtf.rolling import (
    efficiency_ratio,
    mean_true_range,
    rolling_mean,
    rolling_rsi,
    rolling_slope,
)


def _walk(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 + np.cumsum(rng.normal(0.0, 1.0, n))


def test_rolling_mean_matches_pandas() -> None:
    # Arrange
    x = _walk(200, 1)

    # Act
    got = rolling_mean(x, 14)

    # Assert
    np.testing.assert_allclose(got, pd.Series(x).rolling(14).mean().to_numpy(), rtol=1e-12)


def test_rolling_slope_matches_a_least_squares_fit() -> None:
    # Arrange
    x = _walk(120, 2)
    w = 20

    # Act
    got = rolling_slope(x, w)

    # Assert
    expected = [np.polyfit(np.arange(w), x[t - w + 1 : t + 1], 1)[0] for t in range(w - 1, 120)]
    assert np.isnan(got[: w - 1]).all()
    np.testing.assert_allclose(got[w - 1 :], expected, rtol=1e-9)


def test_rsi_is_share_of_gains_in_the_window() -> None:
    # Arrange: +2, -1, +1, 0 changes.
    close = np.array([10.0, 12.0, 11.0, 12.0, 12.0])

    # Act
    got = rolling_rsi(close, 4)

    # Assert
    assert np.isnan(got[:4]).all()
    assert got[4] == pytest.approx(100.0 * 3.0 / 4.0)


def test_rsi_of_a_flat_window_is_fifty() -> None:
    # Act / Assert
    assert rolling_rsi(np.full(6, 5.0), 3)[-1] == 50.0


def test_efficiency_ratio_is_net_move_over_path() -> None:
    # Arrange: path |+2| + |-1| + |+3| = 6, net +4.
    close = np.array([10.0, 12.0, 11.0, 14.0])

    # Act
    got = efficiency_ratio(close, 3)

    # Assert
    assert got[3] == pytest.approx(4.0 / 6.0)
    assert efficiency_ratio(close[::-1].copy(), 3)[3] == pytest.approx(-4.0 / 6.0)


def test_mean_true_range_includes_gaps_from_the_previous_close() -> None:
    # Arrange: bar 1 gaps up from close 10 to a 12..13 range: true range 3.
    high = np.array([11.0, 13.0, 13.5])
    low = np.array([9.0, 12.0, 12.5])
    close = np.array([10.0, 12.5, 13.0])

    # Act
    got = mean_true_range(high, low, close, 2)

    # Assert: (3 + 1) / 2
    assert np.isnan(got[:2]).all()
    assert got[2] == pytest.approx(2.0)


KERNELS: list[tuple[str, Callable[[np.ndarray, int], np.ndarray], int]] = [
    ("mean", rolling_mean, 0),
    ("slope", rolling_slope, 0),
    ("rsi", rolling_rsi, 1),
    ("efficiency", efficiency_ratio, 1),
    ("true range", lambda x, w: mean_true_range(x + 0.5, x - 0.5, x, w), 1),
]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    w=st.integers(2, 60),
    start=st.integers(0, 400),
    kernel=st.sampled_from(KERNELS),
)
def test_each_value_is_bit_identical_when_computed_from_its_window_alone(
    seed: int, w: int, start: int, kernel: tuple[str, Callable[..., np.ndarray], int]
) -> None:
    # Arrange: a long history with large values, where running sums would drift.
    _, fn, extra = kernel
    x = _walk(600, seed) * 1e4
    need = w + extra

    # Act
    full = fn(x, w)
    window = fn(np.ascontiguousarray(x[start : start + need]), w)

    # Assert
    assert window[-1] == full[start + need - 1] or (
        np.isnan(window[-1]) and np.isnan(full[start + need - 1])
    )


def test_rsi_stays_within_0_and_100_exactly() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        rising = np.cumsum(np.abs(rng.standard_normal(300)) * rng.uniform(1e-3, 1e3)) + 1.0
        rsi = rolling_rsi(rising, 14)
        assert np.nanmax(rsi) == 100.0
        assert np.nanmin(rolling_rsi(rising[::-1], 14)) == 0.0
