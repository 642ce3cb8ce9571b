"""Ingestion workflow: evidence per ingest, higher timeframes derived from what is stored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.candles.ingest import ingest_window, sync_timeframes
from features.candles.quarantine import QuarantineStore, RawArchive
from features.candles.schema import Timeframe
from features.candles.sources import SyntheticConfig, SyntheticSource
from features.candles.store import ParquetCandleStore

BASE = Timeframe.parse("5m")
TARGETS = [Timeframe.parse(tf) for tf in ("5m", "15m", "1h", "1d")]
DAY = pd.Timestamp("2024-03-01", tz="UTC")


def _stored_day(tmp_path: Path) -> ParquetCandleStore:
    store = ParquetCandleStore(tmp_path / "candles")
    source = SyntheticSource(SyntheticConfig(seed=7, symbols=("BTC/USDT",)))
    ingest_window(
        source,
        store,
        RawArchive(tmp_path / "raw"),
        QuarantineStore(tmp_path / "quarantine"),
        symbol="BTC/USDT",
        timeframe=BASE,
        start=DAY,
        end=DAY + pd.Timedelta(days=1),
        partition="2024-03-01",
    )
    return store


def test_sync_builds_every_missing_higher_timeframe_from_the_stored_base(tmp_path: Path) -> None:
    store = _stored_day(tmp_path)

    written = sync_timeframes(store, symbol="BTC/USDT", base=BASE, targets=TARGETS)

    assert written == {"15m": 96, "1h": 24, "1d": 1}
    day = store.read("BTC/USDT", Timeframe.parse("1d"))
    base = store.read("BTC/USDT", BASE)
    assert day["high"].iloc[0] == base["high"].max()
    assert day["volume"].iloc[0] == base["volume"].sum()


def test_sync_twice_writes_nothing_the_second_time(tmp_path: Path) -> None:
    store = _stored_day(tmp_path)
    sync_timeframes(store, symbol="BTC/USDT", base=BASE, targets=TARGETS)

    again = sync_timeframes(store, symbol="BTC/USDT", base=BASE, targets=TARGETS)

    assert again == {"15m": 0, "1h": 0, "1d": 0}


def test_sync_rewrites_a_higher_candle_whose_base_changed(tmp_path: Path) -> None:
    store = _stored_day(tmp_path)
    sync_timeframes(store, symbol="BTC/USDT", base=BASE, targets=TARGETS)
    corrected = store.read("BTC/USDT", BASE).iloc[[0]].copy()
    corrected["volume"] += 1000.0
    store.write("BTC/USDT", BASE, corrected)

    written = sync_timeframes(store, symbol="BTC/USDT", base=BASE, targets=TARGETS)

    assert written == {"15m": 1, "1h": 1, "1d": 1}
    daily = store.read("BTC/USDT", Timeframe.parse("1d"))["volume"].iloc[0]
    assert daily == pytest.approx(store.read("BTC/USDT", BASE)["volume"].sum(), rel=1e-12)
