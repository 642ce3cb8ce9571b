"""Restart: a loop killed at any point resumes from the checkpoint and the ledger, nothing lost
or doubled; the final ledger equals an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from serving.backtest.main import synthetic_candles
from serving.engine.config import BacktestConfig
from serving.engine.risk import RiskConfig
from serving.ledger import Ledger, LedgerConfig, open_ledger
from serving.runtime.clock import SimClock
from serving.runtime.loop import LoopConfig, TradingLoop
from serving.runtime.sources import ReplaySource
from tests.serving.test_parity import CoinFlip

SYMBOL = "ETH/USDT"
CFG = BacktestConfig(risk=RiskConfig(max_positions=2))
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_candles(SYMBOL, "5m", "2024-03-01", 5, seed=11)


def new_loop(ledger: Ledger, checkpoint: Path | None, batch: int = 1) -> tuple:
    clock = SimClock()
    loop = TradingLoop(
        CFG, LoopConfig(SYMBOL, "5m", checkpoint_every=4 * batch, batch_bars=batch), ledger,
        clock, strategy=CoinFlip(CFG.strategy), checkpoint=checkpoint,
    )  # fmt: skip
    loop.start()
    return loop, clock


def rows(ledger: Ledger) -> list[tuple]:
    return [(e.kind, e.ref, e.dedup, e.at, dict(e.body)) for e in ledger.events()]


@pytest.fixture(scope="module")
def uninterrupted(market: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    ledger = open_ledger(LedgerConfig.build(tmp_path_factory.mktemp("whole")))
    loop, clock = new_loop(ledger, None)
    loop.run(ReplaySource(market, "5m", clock).bars())
    return rows(ledger)


@pytest.mark.parametrize(
    ("stops", "keep_checkpoint", "batch"),
    [
        ((1290, 1301, 1357), True, 1),  # between checkpoints, and right after one
        ((1302,), False, 1),  # no checkpoint: everything rebuilt from the ledger's bars
        ((1311, 1330), True, 5),  # batched commits: a crash loses unwritten bars only
    ],
    ids=["checkpoint", "ledger-only", "batched"],
)
def test_a_loop_stopped_anywhere_resumes_to_the_uninterrupted_ledger(
    market: pd.DataFrame,
    uninterrupted: list[tuple],
    tmp_path: Path,
    stops: tuple[int, ...],
    keep_checkpoint: bool,
    batch: int,
) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    checkpoint = tmp_path / "state.pkl"
    resumed = []
    # Act: each process handles some bars and dies without a word (no flush, no checkpoint)
    for stop in stops:
        loop, clock = new_loop(ledger, checkpoint if keep_checkpoint else None, batch)
        resumed.append(loop.summary.resumed)
        for bar in ReplaySource(market, "5m", clock).bars(loop.last_ts):
            if loop.bars >= stop:
                break
            loop.step(bar)
    loop, clock = new_loop(ledger, checkpoint if keep_checkpoint else None, batch)
    loop.run(ReplaySource(market, "5m", clock).bars(loop.last_ts))
    # Assert
    assert rows(ledger) == uninterrupted
    assert any(r > 0 for r in [*resumed[1:], loop.summary.resumed])


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM ledger_events").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_9_mid_replay_then_the_same_command_ends_with_the_uninterrupted_ledger(
    tmp_path: Path,
) -> None:
    # Arrange: the CLI replays 6 days of the synthetic market at full speed
    cmd = [sys.executable, "-m", "orchestration.cli", "trade", "--mode", "paper",
           "--synthetic", "--days", "5"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "SMARTMARKET_SYMBOLS": SYMBOL}
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run([*cmd, "--home", str(whole)], env=env, check=True, capture_output=True)
    db = broken / "ledger" / "ledger.sqlite"
    # Act: SIGKILL once the replay is well under way, then the same command again
    proc = subprocess.Popen([*cmd, "--home", str(broken)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    while _count(db) < 2000 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _count(db)
    again = subprocess.run([*cmd, "--home", str(broken)], env=env, capture_output=True, text=True)
    # Assert
    assert proc.returncode == -signal.SIGKILL
    assert killed_at > 0
    assert again.returncode == 0, again.stderr
    a = open_ledger(LedgerConfig.build(whole))
    b = open_ledger(LedgerConfig.build(broken))
    assert rows(b) == rows(a)
    assert killed_at < len(rows(a))
