"""Scripted scenarios for engine tests: hand-written bars and intents through the fast path."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from features.candles.schema import Timeframe
from serving.backtest.fast import make_bars
from serving.backtest.result import BacktestResult
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.execution import ExecutionConfig
from serving.engine.protections import ProtectionsConfig
from serving.engine.risk import RiskConfig
from serving.engine.simulate import simulate
from tests.serving.conftest import candles_from

TF = Timeframe.parse("5m")
FLAT_BAR = (100.0, 100.0, 100.0, 100.0)
STOP_BAR = (100.0, 100.2, 98.5, 99.0)  # takes out a long stop at 99

NO_PROTECTIONS = ProtectionsConfig(
    max_drawdown=None, daily_loss_limit=None, cooldown_losses=None, stoploss_guard_trades=None
)
PLAIN_RISK = RiskConfig(
    volatility_scaling=False, final_target="fixed", min_stop_costs=0.0, trailing="off"
)
NO_COSTS = ExecutionConfig(slippage_bps=0.0, slippage_range=0.0, funding_rate=0.0)


def config(**parts: object) -> BacktestConfig:
    """Return a config with plain risk, no costs, no protections, overridden by ``parts``."""
    base: dict[str, object] = {
        "risk": PLAIN_RISK,
        "protections": NO_PROTECTIONS,
        "execution": NO_COSTS,
        "evaluation": BacktestConfig().evaluation,
    }
    base.update(parts)
    return BacktestConfig(**base)  # type: ignore[arg-type]


def intents(
    n: int,
    entries: Mapping[int, float] | None = None,
    stop_distance: float = 1.0,
    closes: np.ndarray | None = None,
    exits: Mapping[int, str] | None = None,
    trails: Mapping[int, float] | None = None,
    targets: Mapping[int, float] | None = None,
) -> np.ndarray:
    """Return signal rows: entries by bar, stops ``stop_distance`` from the close, ATR 1."""
    close = closes if closes is not None else np.full(n, 100.0)
    sig = np.full((n, L.NS), np.nan)
    sig[:, L.SIG_ENTRY] = 0.0
    sig[:, L.SIG_SCORE] = 1.0
    sig[:, L.SIG_FACTORS] = 0.0
    sig[:, L.SIG_EXIT_LONG] = 0.0
    sig[:, L.SIG_EXIT_SHORT] = 0.0
    sig[:, L.SIG_ATR] = 1.0
    sig[:, L.SIG_LONG_STOP] = close - stop_distance
    sig[:, L.SIG_SHORT_STOP] = close + stop_distance
    for k, d in (entries or {}).items():
        sig[k, L.SIG_ENTRY] = d
    for k, side in (exits or {}).items():
        sig[k, L.SIG_EXIT_LONG if side == "long" else L.SIG_EXIT_SHORT] = 1.0
    for k, level in (trails or {}).items():
        sig[k, L.SIG_TRAIL_LONG] = level
    for k, level in (targets or {}).items():
        sig[k, L.SIG_LONG_TARGET] = level
    return sig


def run(
    bars: list[tuple[float, float, float, float]],
    signals: np.ndarray,
    cfg: BacktestConfig,
    start: str = "2024-01-01",
) -> BacktestResult:
    """Run scripted bars and intents through the engine."""
    candles = candles_from(bars, start=start)
    engine_bars = make_bars(candles, TF, cfg.execution)
    logs, state = simulate(engine_bars, signals, cfg.params(TF))
    return BacktestResult("TEST", TF, candles.index, cfg.initial_cash, logs, state.acct)


def losing_trades(
    n_trades: int, gap: int = 3, tail: int = 5
) -> list[tuple[float, float, float, float]]:
    """Return bars where a long entered at bar ``k`` is stopped out at bar ``k + 1``."""
    bars: list[tuple[float, float, float, float]] = []
    for _ in range(n_trades):
        bars += [FLAT_BAR, STOP_BAR] + [FLAT_BAR] * gap
    return bars + [FLAT_BAR] * tail


def entry_bars(n_trades: int, gap: int = 3) -> list[int]:
    """Return the signal bars of :func:`losing_trades`."""
    return [k * (2 + gap) for k in range(n_trades)]
