"""Test data for the multi-timeframe package: a synthetic market with SMC, and hand-built frames.

``market_frames`` builds realistic inputs of ``compute_mtf`` in-process (seeded synthetic
candles, resampled, joined with ``compute_smc``), cached per argument set so that the CPU cost
is paid once per test session. ``flat_frame`` builds a frame that has every column
``compute_mtf`` reads with neutral values, for hand-made cases that set a few of them.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from features.candles.resample import resample_all
from features.candles.sources import make_source
from features.candles.validate import validate_candles
from features.mtf.inputs import ATR_COLUMN, FRAME_COLUMNS, TRADING_COLUMNS
from features.smc import SMCConfig, compute_smc

OHLCV = ["open", "high", "low", "close", "volume"]


@functools.lru_cache(maxsize=4)
def market_candles(start: str, days: int, symbol: str = "BTC/USDT") -> pd.DataFrame:
    """Return ``days`` of seeded synthetic 5m candles from ``start`` (UTC)."""
    source = make_source("synthetic", seed=11)
    begin = pd.Timestamp(start, tz="UTC")
    raw = source.fetch(symbol, "5m", begin, begin + pd.Timedelta(days=days))
    return validate_candles(raw, "5m", source="synthetic", symbol=symbol).valid


@functools.lru_cache(maxsize=4)
def _market_frames(
    start: str, days: int, tfs: tuple[str, ...]
) -> tuple[tuple[str, pd.DataFrame], ...]:
    candles = market_candles(start, days)
    by_tf = {"5m": candles, **resample_all(candles, "5m", [tf for tf in tfs if tf != "5m"])}
    out = []
    for tf in tfs:
        frame = by_tf[tf]
        out.append((tf, frame.join(compute_smc(frame, SMCConfig.for_timeframe(tf)))))
    return tuple(out)


def market_frames(
    start: str = "2024-02-01",
    days: int = 40,
    tfs: tuple[str, ...] = ("5m", "15m", "1h", "4h", "1d"),
) -> dict[str, pd.DataFrame]:
    """Return ``compute_mtf`` inputs: per timeframe, candles joined with ``compute_smc``."""
    return {tf: frame.copy() for tf, frame in _market_frames(start, days, tfs)}


def market_candles_by_tf(
    start: str = "2024-02-01", days: int = 40, tfs: tuple[str, ...] = ("5m", "1h", "4h", "1d")
) -> dict[str, pd.DataFrame]:
    """Return canonical candle frames per timeframe (the analysis calls' input)."""
    candles = market_candles(start, days)
    return {"5m": candles.copy(), **resample_all(candles, "5m", [t for t in tfs if t != "5m"])}


def flat_frame(start: str, periods: int, freq: str, **columns: object) -> pd.DataFrame:
    """Return a frame with every column ``compute_mtf`` reads, neutral unless overridden.

    Neutral: flat prices at 100 (high 101, low 99), ATR 1, no structure trend, mid-range
    (``pd_pos`` 0.5 of 90..110), no live zone, no session, no sweep.
    """
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="ts")
    base: dict[str, object] = {
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.0,
        "volume": 1.0,
        ATR_COLUMN: 1.0,
        "struct_ext_trend": 0.0,
        "struct_int_trend": 0.0,
        "pd_pos": 0.5,
        "pd_high": 110.0,
        "pd_low": 90.0,
    }
    data = {}
    for name in (*OHLCV, *FRAME_COLUMNS, *TRADING_COLUMNS):
        value = columns.get(name, base.get(name, 0.0 if name.startswith("sess_") else np.nan))
        data[name] = np.broadcast_to(np.asarray(value, dtype=np.float64), (periods,)).copy()
    return pd.DataFrame(data, index=index)
