"""The loop with a real model (``training.online.OnlineScorer``): the backtest's sizes, restarts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.cli.trade import engine_config, load_model
from orchestration.settings import Settings
from serving.backtest.fast import prepare, run_fast
from serving.backtest.main import with_sizes
from serving.ledger import Ledger, LedgerConfig, open_ledger
from serving.runtime.clock import SimClock
from serving.runtime.loop import LoopConfig, TradingLoop
from serving.runtime.sources import ReplaySource
from tests.serving.test_parity import LOGS
from tests.training.tiny_model import SYMBOL, after_training, train_tiny


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("tiny"), threshold=0.3)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return after_training(6)


def model_loop(bundle: Path, ledger: Ledger, home: Path, checkpoint: Path | None = None):
    scorer, setup = load_model(str(bundle), Settings(home=home), "5m")
    cfg = engine_config(None, setup)
    clock = SimClock()
    loop = TradingLoop(cfg, LoopConfig(SYMBOL, "5m", checkpoint_every=50), ledger, clock,
                       sizer=scorer, checkpoint=checkpoint)  # fmt: skip
    loop.start()
    return loop, clock, cfg, scorer


def test_a_model_sized_replay_trades_as_the_backtest_with_the_models_sizes(
    bundle: Path, candles: pd.DataFrame, tmp_path: Path
) -> None:
    # Arrange
    from training.online import replay

    ledger = open_ledger(LedgerConfig.build(tmp_path))
    loop, clock, cfg, _ = model_loop(bundle, ledger, tmp_path)
    probe, _ = load_model(str(bundle), Settings(home=tmp_path), "5m")
    p = replay(probe, candles)
    sizes = pd.Series([probe.size(x) for x in p], index=candles.index + pd.Timedelta("5min"))
    fast = run_fast(with_sizes(prepare(candles, "5m", cfg), sizes))
    # Act
    loop.run(ReplaySource(candles, "5m", clock).bars())
    # Assert
    logs = loop.runner.logs()
    for name in LOGS:
        assert np.array_equal(getattr(fast.logs, name), getattr(logs, name), equal_nan=True), name
    decisions = ledger.events(kinds=("decision",))
    assert {e.body["model_version"] for e in decisions} == {bundle.name}
    scored = [e.body["score"] for e in decisions if e.body["score"] is not None]
    assert len(scored) > len(candles) // 2


def test_a_restart_warms_a_fresh_model_and_ends_with_the_uninterrupted_ledger(
    bundle: Path, candles: pd.DataFrame, tmp_path: Path
) -> None:
    # Arrange
    whole = open_ledger(LedgerConfig.build(tmp_path / "whole"))
    loop, clock, _, _ = model_loop(bundle, whole, tmp_path)
    loop.run(ReplaySource(candles, "5m", clock).bars())
    broken = open_ledger(LedgerConfig.build(tmp_path / "broken"))
    checkpoint = tmp_path / "state.pkl"
    # Act: stop at bar 1,490 (40 bars after a checkpoint), then a new process, a new model
    first, clock, _, _ = model_loop(bundle, broken, tmp_path, checkpoint)
    first.run(ReplaySource(candles, "5m", clock).bars(), limit=1490)
    second, clock, _, scorer = model_loop(bundle, broken, tmp_path, checkpoint)
    second.run(ReplaySource(candles, "5m", clock).bars(second.last_ts))

    # Assert
    def rows(ledger: Ledger) -> list[tuple]:
        return [(e.kind, e.ref, e.dedup, dict(e.body)) for e in ledger.events()]

    assert second.summary.resumed == 0  # the run flushed and checkpointed at its end
    assert scorer.bars_seen == len(candles)
    assert rows(broken) == rows(whole)
