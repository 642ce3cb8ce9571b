"""Fresh synthetic candles up to now, for demos, the benchmark and the end-to-end test.

The service refuses stale candles, so a store it is tried on must end at the last closed
candle; ``smartmarket ingest --source synthetic --start <date>`` does the same for a real app
home. This writes the seeded synthetic market straight into a candle store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd

from features.candles.resample import resample_all
from features.candles.schema import Timeframe
from features.candles.store.base import CandleStore


def seed_fresh_market(
    store: CandleStore,
    symbol: str = "BTC/USDT",
    timeframes: Sequence[str] = ("5m", "15m", "1h", "4h", "1d"),
    days: int = 21,
    now: float | None = None,
    seed: int = 7,
) -> pd.Timestamp:
    """Write ``days`` of synthetic candles ending at the last closed base candle; return its close.

    The first timeframe is the base; the others are resampled from it (complete periods only).
    """
    from features.candles.sources import make_source
    from features.candles.validate import validate_candles

    base = Timeframe.parse(timeframes[0])
    clock = time.time() if now is None else now
    end = pd.Timestamp(int(clock // base.seconds) * base.seconds, unit="s", tz="UTC")
    start = end - pd.Timedelta(days=days)
    source = make_source("synthetic", seed=seed, symbols=(symbol,), base_timeframe=base.label)
    raw = source.fetch(symbol, base, start, end)
    candles = validate_candles(raw, base, source="synthetic", symbol=symbol).valid
    store.write(symbol, base, candles)
    for label, frame in resample_all(candles, base, list(timeframes[1:])).items():
        store.write(symbol, Timeframe.parse(label), frame)
    return end
