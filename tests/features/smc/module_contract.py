"""Test support for single SMC modules: candle builders and the step contract's checks.

``stream_rows`` drives a module's ``step`` the way the streaming engine does: one bar at a time on
a sliding window of ``lookback`` bars (preceded by poisoned padding, so a read further back shows
up as NaN), with absolute bar numbers. It can snapshot the state half-way and continue from the
copy, like ``SMCStream``'s snapshot/restore.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

OHLCV = ("open", "high", "low", "close", "volume")
_PAD = 3


def candles_from(
    rows: Sequence[Sequence[float]],
    start: str = "2024-01-02 00:00",
    freq: str = "5min",
    index: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Return a canonical candle frame from ``(open, high, low, close[, volume])`` rows."""
    data = np.array([tuple(r) + (1.0,) * (5 - len(r)) for r in rows], dtype=np.float64)
    if index is None:
        index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="ts")
    return pd.DataFrame(data, index=index, columns=list(OHLCV))


def random_candles(
    n: int,
    seed: int,
    start: str = "2024-03-01 00:00",
    freq: str = "5min",
    drop: float = 0.0,
    vol: float = 0.002,
) -> pd.DataFrame:
    """Return ``n`` random-walk candles (log-normal, with wicks), optionally with random holes."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="ts")
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, vol / 4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2, n)))
    volume = np.round(rng.exponential(100.0, n), 3)
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
    if drop > 0.0:
        frame = frame[rng.random(n) >= drop]
    return frame


@st.composite
def candle_frames(
    draw: Any,
    min_size: int = 1,
    max_size: int = 400,
    freqs: Sequence[str] = ("5min", "15min", "1h"),
) -> pd.DataFrame:
    """Hypothesis strategy: candle frames of varied length, bar size, holes and volatility."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    freq = draw(st.sampled_from(list(freqs)))
    drop = draw(st.sampled_from([0.0, 0.0, 0.05, 0.3]))
    vol = draw(st.sampled_from([0.0005, 0.002, 0.01]))
    start = draw(st.sampled_from(["2024-03-09 18:00", "2024-10-26 22:00", "2023-12-31 20:00"]))
    frame = random_candles(n, seed, start=start, freq=freq, drop=drop, vol=vol)
    if frame.empty:
        frame = random_candles(1, seed, start=start, freq=freq)
    return frame


def arrays(candles: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Return ``ts, open, high, low, close, volume`` as contiguous arrays."""
    ts = np.ascontiguousarray(candles.index.asi8, dtype=np.int64)
    cols = (np.ascontiguousarray(candles[c].to_numpy(np.float64)) for c in OHLCV)
    return (ts, *cols)


def stream_rows(
    module: ModuleType,
    cfg: Any,
    candles: pd.DataFrame,
    atr: np.ndarray | None = None,
    snapshot_at: int | None = None,
) -> np.ndarray:
    """Run ``module.step`` bar by bar on a sliding window; return the ``(bars, columns)`` rows.

    With ``snapshot_at``, the state is copied after that many bars and the run continues on the
    copy (the original is then scribbled over, so any aliasing shows).
    """
    ts, o, h, lo, c, v = arrays(candles)
    nb = ts.shape[0]
    atr = np.full(nb, np.nan) if atr is None else np.asarray(atr, dtype=np.float64)
    window = int(module.lookback(cfg))
    state = module.init_state(cfg)
    params = module.make_params(cfg)
    width = len(module.COLUMNS)
    out = np.full((nb, width), np.nan)
    for j in range(nb):
        if snapshot_at is not None and j == snapshot_at:
            copy = state.copy()
            state[:] = -1e9
            state = copy
        first = max(0, j - window + 1)
        size = _PAD + j + 1 - first
        buf_ts = np.full(size, np.iinfo(np.int64).min // 2, dtype=np.int64)
        bufs = [np.full(size, np.nan) for _ in range(6)]
        buf_ts[_PAD:] = ts[first : j + 1]
        for buf, src in zip(bufs, (o, h, lo, c, v, atr), strict=True):
            buf[_PAD:] = src[first : j + 1]
        row = np.full(width + 2, -7.0)  # guard cells: a step writes exactly its columns
        module.step(size - 1, j, buf_ts, *bufs, state, params, row[1 : width + 1])
        assert row[0] == -7.0, "step wrote before its columns"
        assert row[-1] == -7.0, "step wrote past its columns"
        out[j] = row[1 : width + 1]
    return out


def assert_prefix_invariant(
    compute: Any, candles: pd.DataFrame, cfg: Any, cuts: Sequence[int]
) -> None:
    """Assert ``compute(candles[:k])`` equals ``compute(candles)[:k]`` for every cut ``k``."""
    full = compute(candles, cfg).to_numpy()
    for k in cuts:
        if 1 <= k <= len(candles):
            part = compute(candles.iloc[:k], cfg).to_numpy()
            np.testing.assert_array_equal(part, full[:k], err_msg=f"prefix of {k} bars differs")


def _bad_inputs() -> dict[str, tuple[pd.DataFrame, str]]:
    good = random_candles(30, seed=99, freq="15min")
    nan = good.copy()
    nan.iloc[7, 2] = np.nan
    duplicated = pd.concat([good.iloc[:10], good.iloc[9:]])
    naive = good.tz_localize(None)
    shifted = good.tz_convert("America/New_York")
    broken = good.copy()
    broken.iloc[3, 1] = broken.iloc[3, 2] - 1.0  # high below low
    return {
        "nan": (nan, "non-finite"),
        "duplicated": (duplicated, "duplicated"),
        "unsorted": (good.iloc[::-1], "not sorted"),
        "naive": (naive, "tz-naive"),
        "not utc": (shifted, "expected UTC"),
        "missing column": (good.drop(columns="volume"), "missing column"),
        "high below close": (broken, "high is below"),
        "empty": (good.iloc[:0], "empty"),
    }


BAD_INPUTS = _bad_inputs()
