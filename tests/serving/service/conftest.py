"""Fakes of the service tests: an in-memory candle store, a settable clock, keys, a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.candles.resample import resample_all
from features.candles.schema import Timeframe
from serving.backtest.main import synthetic_candles
from serving.desk import DeskConfig, TradingDesk, candle_marks
from serving.ledger import LedgerConfig
from serving.service.core import CoreConfig, SignalCore
from serving.service.keys import KeyStore
from serving.service.limits import RateLimiter
from serving.service.model import ModelProvider
from serving.service.settings import ServiceSettings
from serving.service.wiring import HOLDER, Runtime
from tests.serving.conftest import ACTIVE

SYMBOL = "BTC/USDT"
TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")
PLAN_SIGNAL_BODY = {"symbol": "BTCUSDT", "timeframe": "15m"}
PLAN_SMC_BODY = {
    "symbol": "BTCUSDT",
    "timeframes": ["1d", "4h", "1h", "15m"],
    "analysis_type": ["order_blocks", "fvg", "liquidity_levels"],
}
PLAN_MTF_BODY = {
    "symbol": "BTCUSDT",
    "primary_timeframe": "15m",
    "analysis_timeframes": ["1d", "4h", "1h"],
}
"""The product plan's request bodies, verbatim."""


class MemoryStore:
    """A ``CandleStore`` in memory; ``down = True`` makes every call fail like a lost server."""

    def __init__(self, frames: dict[str, pd.DataFrame], symbol: str = SYMBOL) -> None:
        self.frames = {(symbol, tf): f for tf, f in frames.items()}
        self.down = False
        self.reads = 0

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("candle store at 10.0.0.9:5432 refused the connection")

    def write(self, symbol: str, timeframe: Timeframe, candles: pd.DataFrame) -> int:
        self._check()
        key = (symbol, timeframe.label)
        old = self.frames.get(key)
        merged = candles if old is None else pd.concat([old, candles])
        self.frames[key] = merged[~merged.index.duplicated(keep="last")].sort_index()
        return len(candles)

    def read(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        self._check()
        self.reads += 1
        frame = self.frames[(symbol, timeframe.label)]
        if start is not None:
            frame = frame[frame.index >= start]
        if end is not None:
            frame = frame[frame.index < end]
        return frame

    def last_timestamp(self, symbol: str, timeframe: Timeframe) -> pd.Timestamp | None:
        self._check()
        frame = self.frames.get((symbol, timeframe.label))
        return None if frame is None or frame.empty else pd.Timestamp(frame.index[-1])

    def symbols(self) -> list[tuple[str, str]]:
        return sorted(self.frames)


class Clock:
    """A settable clock (UTC epoch seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeModel:
    """A loaded model scoring every signal 0.8."""

    def __init__(self, version: str = "smc-tcn@7", fingerprint: str = "") -> None:
        self.version = version
        self.fingerprint = fingerprint
        self.calls = 0

    def probability(self, vector: np.ndarray) -> float:
        self.calls += 1
        return 0.8


class FakeProvider:
    """A ``ModelProvider`` serving one fake model."""

    def __init__(self, model: FakeModel) -> None:
        self.model = model

    def current(self) -> FakeModel:
        return self.model

    def state(self) -> Any:
        from serving.service.model import ModelState

        return ModelState("loaded", self.model.version)

    def refresh(self) -> Any:
        return self.state()


def close_of(frame: pd.DataFrame, tf: str) -> float:
    """Return the close time (epoch s) of a frame's last candle."""
    return (frame.index[-1] + Timeframe.parse(tf).delta).timestamp()


@pytest.fixture(scope="session")
def full_market() -> dict[str, pd.DataFrame]:
    """Three weeks of synthetic BTC/USDT, every stored timeframe (all end at one midnight)."""
    base = synthetic_candles(SYMBOL, "5m", "2024-01-01", 21, seed=7)
    return {"5m": base, **resample_all(base, "5m", list(TIMEFRAMES[1:]))}


@pytest.fixture(scope="session")
def entry_bar(full_market: dict[str, pd.DataFrame]) -> int:
    """Index of a 15m candle on which the ACTIVE config enters (after the warm-up)."""
    from serving.analysis import last_signal
    from serving.engine import layout as L
    from serving.engine.features import FeatureSpec, batch_features
    from serving.signals import SMCConfluence

    candles = full_market["15m"]
    rule = SMCConfluence(ACTIVE.strategy)
    matrix = batch_features(candles, FeatureSpec.build("15m", rule.inputs())).matrix
    entries = np.flatnonzero(rule.signals(matrix)[:, L.SIG_ENTRY] != 0)
    for i in entries[::-1]:
        if last_signal(candles.iloc[: i + 1], "15m", SYMBOL, ACTIVE).type == "ENTRY":
            return int(i)
    raise AssertionError("no ENTRY bar in the synthetic market")


def cut(frames: dict[str, pd.DataFrame], until: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Return each timeframe's candles closed at or before ``until``."""
    return {tf: f[f.index + Timeframe.parse(tf).delta <= until] for tf, f in frames.items()}


def make_runtime(
    frames: dict[str, pd.DataFrame],
    home: Path,
    *,
    model: ModelProvider | None = None,
    cache: Any = None,
    ledger: LedgerConfig | None = None,
    **settings: Any,
) -> tuple[Runtime, MemoryStore, Clock]:
    """Build a runtime over an in-memory store, its clock 10 s after the last 15m close.

    Its trading desk reads ``ledger`` (default: a SQLite ledger under ``home``, opened on
    first use) and marks positions with the store's 5m closes.
    """
    store = MemoryStore(frames)
    clock = Clock(close_of(frames["15m"], "15m") + 10.0)
    config = CoreConfig(
        symbols=(SYMBOL,), timeframes=TIMEFRAMES, history_bars=10_000, analysis_bars=600,
        backtest=ACTIVE,
    )  # fmt: skip
    core = SignalCore(store, config, model=model, cache=cache, clock=clock)
    service = ServiceSettings(poll_seconds=0, **settings)
    desk = TradingDesk(
        ledger or LedgerConfig.build(home),
        DeskConfig((SYMBOL,), ACTIVE.initial_cash),
        candle_marks(store, (SYMBOL,), "5m"),
    )
    keys = KeyStore(home / "keys.sqlite")
    return Runtime(core, keys, service, RateLimiter(), desk), store, clock


@pytest.fixture
def runtime_parts(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> tuple[Runtime, MemoryStore, Clock]:
    return make_runtime(full_market, tmp_path)


@pytest.fixture
def installed(runtime_parts: tuple[Runtime, MemoryStore, Clock]) -> Iterator[Runtime]:
    """Install the fake runtime as the process's runtime (what the service class takes)."""
    runtime = runtime_parts[0]
    HOLDER.configure(lambda: runtime)
    try:
        yield runtime
    finally:
        HOLDER.reset()
