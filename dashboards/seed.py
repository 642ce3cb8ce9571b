"""Fill an app home from the seeded synthetic market (tests, benchmarks, a first look).

The same code paths as the pipeline: the synthetic source (``SMARTMARKET_SOURCE=synthetic``,
the default), the candle store, ``resample_all`` and the headline backtest of
``orchestration.assets.backtests`` (``serving.backtest.main.backtest_frame``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from features.candles.schema import Timeframe


def seed_home(
    home: Path,
    symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"),
    days: int = 10,
    timeframes: Sequence[str] = ("5m", "15m", "1h", "4h"),
    start: str = "2024-01-01",
    backtest: bool = True,
    seed: int = 7,
) -> Path:
    """Write candles of ``symbols`` (base = the first timeframe) and their headline backtest.

    Returns ``home``. The backtest writes ``<home>/backtests/summary.json`` and one folder per
    symbol, as the ``headline_backtest`` asset does.
    """
    from features.candles.resample import resample_all
    from features.candles.store import make_store
    from orchestration.assets.backtests import SUMMARY_FILE, backtest_symbol
    from orchestration.settings import Settings
    from serving.backtest.main import synthetic_candles

    base, *higher = (Timeframe.parse(tf) for tf in timeframes)
    store = make_store("parquet", root=home / "candles")
    settings = Settings(home=home, symbols=list(symbols), base_timeframe=base.label,
                        timeframes=[base.label, *(t.label for t in higher)])  # fmt: skip
    records = []
    for symbol in symbols:
        candles = synthetic_candles(symbol, base.label, start, days, seed)
        store.write(symbol, base, candles)
        for label, frame in resample_all(candles, base, higher).items():
            store.write(symbol, Timeframe.parse(label), frame)
        if backtest:
            records.append(backtest_symbol(candles, symbol, base, settings))
    if backtest:
        folder = home / "backtests"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SUMMARY_FILE).write_text(json.dumps(records, indent=2))
    return home
