"""One engine: the fast path, the bar-by-bar reference and the live runner agree exactly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.candles.resample import resample_candles
from features.candles.schema import OHLCV, CandleDataError
from serving.backtest.fast import prepare, run_fast
from serving.backtest.main import synthetic_candles
from serving.backtest.reference import run_reference
from serving.backtest.result import BacktestResult
from serving.brokers.paper import PaperBroker
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.execution import ExecutionConfig
from serving.engine.protections import ProtectionsConfig
from serving.engine.risk import RiskConfig
from serving.health import HEALTH_FILE, HealthFile, ModelHealth, write_model_health
from serving.orders import BrokerAnswer, OrderRequest, request_rows
from serving.runtime.clock import SimClock
from serving.runtime.runner import LiveRunner
from serving.signals import SMCConfluence
from tests.serving.conftest import ACTIVE

LOGS = ("orders", "fills", "trades", "events", "equity", "position")


class CoinFlip(SMCConfluence):
    """smc_confluence's stops and targets, with frequent entries and exits drawn from the close.

    The draws depend on each bar's own row only, so the strategy is causal and the batch and
    one-bar paths must agree; it just trades far more than the real strategy.
    """

    name = "coin_flip"

    @staticmethod
    def _draw(close: np.ndarray) -> np.ndarray:
        return np.modf(np.asarray(close) * 997.0)[0]

    def _flip(self, rows: np.ndarray, sig: np.ndarray) -> np.ndarray:
        u = self._draw(rows[..., 3])
        sig[..., L.SIG_ENTRY] = np.where(u < 0.04, 1.0, np.where(u > 0.96, -1.0, 0.0))
        sig[..., L.SIG_EXIT_LONG] = (np.abs(u - 0.5) < 0.01).astype(float)
        sig[..., L.SIG_EXIT_SHORT] = (np.abs(u - 0.3) < 0.01).astype(float)
        return sig

    def signals(self, features: np.ndarray) -> np.ndarray:
        """Return the flipped signal rows of a feature matrix."""
        return self._flip(features, super().signals(features))

    def signal(self, row: np.ndarray) -> np.ndarray:
        """Return the flipped signal row of one bar."""
        return self._flip(row, super().signal(row))


def _assert_same(fast: BacktestResult, reference: BacktestResult) -> None:
    for name in LOGS:
        a, b = getattr(fast.logs, name), getattr(reference.logs, name)
        assert a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=True), name


@pytest.fixture(scope="module")
def short_market() -> pd.DataFrame:
    return synthetic_candles("ETH/USDT", "5m", "2024-03-01", 8, seed=11)


def test_fast_path_and_bar_by_bar_runner_produce_identical_orders_and_fills(
    market: pd.DataFrame,
) -> None:
    # Act
    fast = run_fast(prepare(market, "5m", ACTIVE))
    reference = run_reference(market, "5m", ACTIVE)
    # Assert
    assert len(fast.logs.orders) > 10
    assert len(fast.logs.fills) > 10
    _assert_same(fast, reference)


@pytest.mark.parametrize(
    "risk",
    [
        RiskConfig(max_positions=3, trailing="always", min_stop_costs=0.0),
        RiskConfig(
            max_positions=2, entry_order="limit", entry_offset_atr=0.3, entry_timeout="20min"
        ),
        RiskConfig(
            entry_order="stop", entry_offset_atr=0.2, kelly_fraction=0.5, kelly_min_trades=5
        ),
    ],
    ids=["market-3-positions", "limit-entries", "stop-entries-kelly"],
)
def test_parity_holds_under_heavy_trading_with_every_order_type(
    short_market: pd.DataFrame, risk: RiskConfig
) -> None:
    # Arrange: tight protections with short halts, so that they fire often too
    cfg = BacktestConfig(
        risk=risk,
        protections=ProtectionsConfig(
            max_drawdown=0.03, drawdown_halt="2h", daily_loss_limit=0.02, cooldown_losses=3,
            cooldown="1h", stoploss_guard_trades=3, stoploss_guard_halt="1h",
        ),
    )  # fmt: skip
    strategy = CoinFlip(cfg.strategy)
    # Act
    fast = run_fast(prepare(short_market, "5m", cfg, strategy=strategy))
    reference = run_reference(short_market, "5m", cfg, strategy=strategy)
    # Assert
    assert len(fast.trades) >= 10
    assert len(fast.events) > 0
    _assert_same(fast, reference)


def test_parity_holds_when_the_account_hard_stop_fires(short_market: pd.DataFrame) -> None:
    # Arrange: a 3.5% hard stop under heavy trading; it fires mid-run with a position open
    cfg = BacktestConfig(
        risk=RiskConfig(max_positions=3, min_stop_costs=0.0),
        protections=ProtectionsConfig(hard_stop=0.035, max_drawdown=None),
    )
    strategy = CoinFlip(cfg.strategy)
    # Act
    fast = run_fast(prepare(short_market, "5m", cfg, strategy=strategy))
    reference = run_reference(short_market, "5m", cfg, strategy=strategy)
    # Assert: it fired once, closed at market what was open, and nothing was entered after it
    at = pd.Timestamp(str(fast.hard_stop["hard_stop_at"]), tz="UTC")
    assert (fast.logs.events[:, L.E_CODE] == L.R_HARD_STOP).sum() == 1
    assert "close" in set(fast.orders[fast.orders["decided_at"] == at]["action"])
    assert (fast.orders[fast.orders["decided_at"] > at]["action"] != "new").all()
    assert fast.position.iloc[-1] == 0.0
    assert fast.hard_stop == reference.hard_stop
    _assert_same(fast, reference)


def test_parity_holds_with_intrabar_replay_on_one_minute_bars() -> None:
    # Arrange
    minutes = synthetic_candles("BTC/USDT", "1m", "2024-05-01", 6, seed=3)
    candles = resample_candles(minutes, "5m", base="1m")
    cfg = BacktestConfig(
        execution=ExecutionConfig(intrabar="replay"), risk=RiskConfig(min_stop_costs=0.0)
    )
    strategy = CoinFlip(cfg.strategy)
    # Act
    fast = run_fast(prepare(candles, "5m", cfg, sub_candles=minutes, strategy=strategy))
    reference = run_reference(candles, "5m", cfg, sub_candles=minutes, strategy=strategy)
    worst = run_fast(prepare(candles, "5m", BacktestConfig(risk=cfg.risk), strategy=strategy))
    # Assert
    _assert_same(fast, reference)
    assert not np.array_equal(fast.logs.fills, worst.logs.fills, equal_nan=True)


class RecordingBroker(PaperBroker):
    """A paper broker that keeps what it was sent."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.sent: list[OrderRequest] = []

    def submit(self, requests: Sequence[OrderRequest]) -> list[BrokerAnswer]:
        self.sent.extend(requests)
        return super().submit(requests)


def test_live_runner_sends_the_engines_requests_to_the_injected_broker(
    short_market: pd.DataFrame,
) -> None:
    # Arrange
    cfg = BacktestConfig(risk=RiskConfig(max_positions=2))
    clock = SimClock()
    broker = RecordingBroker(cfg, "5m", clock)
    runner = LiveRunner(cfg, "5m", broker, clock, strategy=CoinFlip(cfg.strategy))
    # Act
    reports = []
    for ts, row in short_market.iloc[:1500].iterrows():
        clock.set(ts + pd.Timedelta("5min"))
        reports.append(runner.on_bar({"ts": ts, **row.to_dict()}))
    # Assert
    sent = request_rows(broker.sent)
    assert len(sent) > 10
    assert np.array_equal(sent, runner.logs().orders, equal_nan=True)
    assert sum(len(r.fills) for r in reports) == len(runner.logs().fills)
    assert reports[-1].equity == runner.logs().equity[-1]


def test_live_runner_refuses_a_bar_that_has_not_closed_yet(short_market: pd.DataFrame) -> None:
    # Arrange
    cfg = BacktestConfig()
    ts = short_market.index[0]
    clock = SimClock(ts + pd.Timedelta("4min"))
    runner = LiveRunner(cfg, "5m", PaperBroker(cfg, "5m", clock), clock)
    # Act / Assert
    with pytest.raises(CandleDataError, match="only closed candles"):
        runner.on_bar({"ts": ts, **short_market.iloc[0].to_dict()})


def test_live_runner_applies_the_model_health_flag_from_its_provider(
    short_market: pd.DataFrame, tmp_path: Path
) -> None:
    # Arrange: a flag that pauses new entries, read through the file provider
    flag = ModelHealth(
        status="degraded", action="pause", reason="45% of 30 model inputs drifted",
        share=0.45, threshold=0.3, partition="2024-03-01", as_of="2024-03-02T00:00:00+00:00",
    )  # fmt: skip
    path = write_model_health(flag, tmp_path / HEALTH_FILE)
    cfg = BacktestConfig()
    clock = SimClock()
    runner = LiveRunner(
        cfg, "5m", PaperBroker(cfg, "5m", clock), clock, strategy=CoinFlip(cfg.strategy),
        health=HealthFile(path),
    )  # fmt: skip
    # Act
    reports = []
    bars = short_market.iloc[:600]
    for ts, row in zip(bars.index, bars[list(OHLCV)].to_numpy().tolist(), strict=True):
        clock.set(ts + pd.Timedelta("5min"))
        reports.append(runner.on_bar({"ts": ts, **dict(zip(OHLCV, row, strict=True))}))
    # Assert: every entry intent refused with the reason, said once when the flag was read
    result = runner.result()
    assert result.blocked.get("paused: model health", 0) > 5
    assert set(result.blocked) <= {"paused: model health", "halted: account hard stop"}
    assert result.orders.empty
    assert reports[0].events == [
        "model health pause: 45% of 30 model inputs drifted: new entries paused"
    ]
    assert all(not r.events for r in reports[1:])
