"""Candle builders for the SMC engine tests: random walks and hand-built sequences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.schema import to_float64

START = pd.Timestamp("2024-03-04 00:00", tz="UTC")  # a Monday
FIVE_MIN = pd.Timedelta(minutes=5)


def random_candles(
    n: int,
    seed: int = 0,
    *,
    start: pd.Timestamp = START,
    freq: str = "5min",
    gaps: bool = False,
) -> pd.DataFrame:
    """Return ``n`` random-walk candles with volatility clustering (optionally with time gaps)."""
    rng = np.random.default_rng(seed)
    vol = 0.002 * np.exp(np.clip(np.cumsum(rng.normal(0.0, 0.05, n)), -2.0, 2.0))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1.0, n) * vol))
    gap = rng.normal(0.0, 0.2, n) * vol * close
    open_ = np.r_[100.0, close[:-1]] + gap
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 1.0, n)) * vol * 0.5)
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 1.0, n)) * vol * 0.5)
    volume = rng.lognormal(3.0, 0.6, n)
    step = pd.Timedelta(freq)
    if gaps:
        skips = rng.choice([1, 1, 1, 1, 1, 1, 1, 1, 2, 7], size=n)
        index = start + pd.to_timedelta(np.cumsum(skips) - skips[0], unit="s") * step.seconds
    else:
        index = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.DatetimeIndex(index, name="ts"),
    )
    return frame


def tick_grid_candles(n: int, seed: int, *, tick: float, p_flat: float) -> pd.DataFrame:
    """Return ``n`` candles on a coarse price grid where a ``p_flat`` share of moves is zero.

    Illiquid or halted markets: runs of one-price bars (zero true range, so a zero ATR), equal
    highs and lows everywhere, zero volumes.
    """
    rng = np.random.default_rng(seed)
    move = rng.choice([-1, 0, 1], size=n, p=[(1 - p_flat) / 2, p_flat, (1 - p_flat) / 2])
    mid = 100.0 + tick * np.cumsum(move)

    def jitter(low: int) -> np.ndarray:
        return tick * rng.integers(low, 2, n) * (rng.random(n) > p_flat)

    open_ = mid + jitter(-1)
    close = mid + jitter(-1)
    high = np.maximum(open_, close) + jitter(0)
    low = np.minimum(open_, close) - jitter(0)
    index = pd.date_range(START, periods=n, freq="5min", tz="UTC", name="ts")
    volume = rng.integers(0, 3, n).astype(float)
    data = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(data, index=index)


def candles(
    rows: Sequence[Sequence[float]],
    *,
    start: pd.Timestamp = START,
    step: pd.Timedelta = FIVE_MIN,
    volume: float = 100.0,
) -> pd.DataFrame:
    """Build candles from ``(open, high, low, close[, volume])`` rows, ``step`` apart."""
    data = np.array([list(r) + [volume] * (5 - len(r)) for r in rows], dtype=float)
    index = pd.DatetimeIndex([start + k * step for k in range(len(rows))], name="ts")
    return pd.DataFrame(data, columns=["open", "high", "low", "close", "volume"], index=index)


def flat(k: int, price: float, half_range: float = 0.5) -> list[tuple[float, float, float, float]]:
    """Return ``k`` doji bars around ``price`` (range ``2 * half_range``: ATR exactly that)."""
    return [(price, price + half_range, price - half_range, price)] * k


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Assert two frames hold exactly the same values (NaN equals NaN), index and columns.

    Compared through ``to_float64`` (a compact frame's "not yet known" is NaN there), so a
    stream's float rows compare with a batch frame; two compact frames must share dtypes.
    """
    assert list(actual.columns) == list(expected.columns)
    assert actual.index.equals(expected.index)
    if not (actual.dtypes == np.float64).all() and not (expected.dtypes == np.float64).all():
        assert list(actual.dtypes) == list(expected.dtypes)
    np.testing.assert_array_equal(to_float64(actual), to_float64(expected))


def zigzag(mids: Sequence[float], half_range: float = 0.5) -> list[list[float]]:
    """Return doji rows ``[mid, mid + half_range, mid - half_range, mid]`` for each mid."""
    return [[m, m + half_range, m - half_range, m] for m in mids]


# A downtrend with two bearish breaks of structure, then a rally that breaks the last lower
# high: with internal pivots of length 2, pivot highs at bars 6 (108.5) and 13 (105.5), pivot
# lows at bars 4 (105.5), 11 (102.5) and 18 (99.5); bearish BOS at bars 9 and 16 (closes below
# 105.5 and 102.5), bullish CHoCH at bar 24 (close 106 above 105.5).
DOWN_THEN_UP = [
    110,
    109,
    108,
    107,
    106,
    107,
    108,
    107,
    106,
    105,
    104,
    103,
    104,
    105,
    104,
    103,
    102,
    101,
    100,
    101,
    102,
    103,
    104,
    105,
    106,
    107,
]
