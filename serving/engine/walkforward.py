"""Walk-forward parameter search and the deflated Sharpe ratio of a full-sample sweep.

Windows roll through time: each training window (``evaluation.train`` long) runs every trial
of ``evaluation.grid`` from a fresh account and picks the best by ``evaluation.objective``
among trials with at least ``min_trades`` trades; the next ``evaluation.test`` of bars is then
traded with the chosen parameters (flat when no trial qualified), continuing one account
across the test windows. Only those out-of-sample bars make the reported performance.

Separately, every trial also runs over the whole sample; the best one's deflated Sharpe ratio
says how likely its Sharpe is to be above zero once the number and spread of trials are
accounted for (Bailey & López de Prado). Features are computed once on all bars: they are
causal, so a window's rows are what a run on that window's history would have produced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.metrics import (
    curve_metrics,
    daily_returns,
    deflated_sharpe,
    sharpe,
    trade_metrics,
)
from serving.engine.records import trades_frame
from serving.engine.simulate import Bars, EngineLogs, EngineState, simulate
from serving.engine.validation import duration_ns
from serving.signals import SMCConfluence, SMCConfluenceConfig


@dataclass(frozen=True)
class Window:
    """One training window, the test window after it, and what the training chose."""

    train_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    chosen: dict[str, Any] | None
    train_score: float
    train_trades: int
    qualified_trials: int


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample performance of the walk-forward search and the full-sample sweep."""

    windows: list[Window]
    oos_equity: pd.Series
    oos_logs: list[EngineLogs]
    metrics: dict[str, float]
    n_trials: int
    full_sample_best: dict[str, Any]
    full_sample_sharpe: float
    deflated_sharpe: float
    trial_table: list[dict[str, Any]] = field(default_factory=list)


class _Trials:
    """Each grid combination's config, parameter vector and (cached) signal rows."""

    def __init__(self, config: BacktestConfig, matrix: np.ndarray, timeframe: Timeframe) -> None:
        self.items: list[tuple[dict[str, Any], BacktestConfig, np.ndarray]] = []
        cache: dict[SMCConfluenceConfig, np.ndarray] = {}
        self.signals: list[np.ndarray] = []
        for values, cfg in config.grid():
            if cfg.strategy not in cache:
                cache[cfg.strategy] = SMCConfluence(cfg.strategy).signals(matrix)
            self.items.append((values, cfg, cfg.params(timeframe)))
            self.signals.append(cache[cfg.strategy])

    def __len__(self) -> int:
        return len(self.items)


def _score(
    logs: EngineLogs, index: pd.DatetimeIndex, initial: float, objective: str
) -> tuple[float, int]:
    n_trades = int(logs.trades.shape[0])
    if objective == "total_return":
        return float(logs.equity[-1] / initial - 1.0), n_trades
    if objective == "expectancy_r":
        r = logs.trades[:, L.C_R] if n_trades else np.array([np.nan])
        return (float(np.nanmean(r)) if np.isfinite(r).any() else math.nan), n_trades
    equity = pd.Series(logs.equity, index=index)
    return sharpe(daily_returns(equity, initial)), n_trades


def walk_forward(
    bars: Bars, matrix: np.ndarray, config: BacktestConfig, timeframe: str | Timeframe
) -> WalkForwardResult:
    """Run the walk-forward search and the full-sample sweep; see the module docstring."""
    tf = Timeframe.parse(timeframe)
    ev = config.evaluation
    trials = _Trials(config, matrix, tf)
    ts = bars.ts.astype(np.int64)
    close_index = pd.to_datetime(ts + tf.ns, utc=True)
    initial = config.initial_cash
    train_ns = duration_ns("EvaluationConfig", "train", ev.train)
    test_ns = duration_ns("EvaluationConfig", "test", ev.test)
    flat = trials.signals[0].copy()
    flat[:, L.SIG_ENTRY] = 0.0
    windows: list[Window] = []
    oos_logs: list[EngineLogs] = []
    state = EngineState.fresh(initial)
    t0 = int(ts[0])
    while True:
        a = int(np.searchsorted(ts, t0))
        b = int(np.searchsorted(ts, t0 + train_ns))
        c = int(np.searchsorted(ts, t0 + train_ns + test_ns))
        if b >= len(ts):
            break
        best, best_score, best_trades, qualified = -1, -math.inf, 0, 0
        for k, (_, _, params) in enumerate(trials.items):
            logs, _ = simulate(bars, trials.signals[k], params, None, a, b)
            score, n_trades = _score(logs, close_index[a:b], initial, ev.objective)
            if n_trades < ev.min_trades or not math.isfinite(score):
                continue
            qualified += 1
            if score > best_score:
                best, best_score, best_trades = k, score, n_trades
        sig, params = (
            (trials.signals[best], trials.items[best][2])
            if best >= 0
            else (flat, trials.items[0][2])
        )
        logs, state = simulate(bars, sig, params, state, b, c)
        oos_logs.append(logs)
        windows.append(
            Window(
                train_start=pd.Timestamp(int(ts[a]), tz="UTC"),
                test_start=pd.Timestamp(int(ts[b]), tz="UTC"),
                test_end=close_index[c - 1],
                chosen=dict(trials.items[best][0]) if best >= 0 else None,
                train_score=best_score if best >= 0 else math.nan,
                train_trades=best_trades,
                qualified_trials=qualified,
            )
        )
        t0 += test_ns
    metrics: dict[str, float] = {}
    oos_equity = pd.Series(dtype=float)
    if windows:
        first = int(np.searchsorted(ts, windows[0].test_start.value))
        oos_equity = pd.Series(
            np.concatenate([lg.equity for lg in oos_logs]), index=close_index[first:]
        )
        trades = trades_frame(np.concatenate([lg.trades for lg in oos_logs]))
        metrics = {
            **curve_metrics(oos_equity, initial, windows[0].test_start),
            **trade_metrics(trades),
        }
    full = _full_sample(bars, trials, close_index, initial, ev.objective)
    return WalkForwardResult(
        windows=windows,
        oos_equity=oos_equity,
        oos_logs=oos_logs,
        metrics=metrics,
        n_trials=len(trials),
        full_sample_best=full[0],
        full_sample_sharpe=full[1],
        deflated_sharpe=full[2],
        trial_table=full[3],
    )


def _full_sample(
    bars: Bars,
    trials: _Trials,
    close_index: pd.DatetimeIndex,
    initial: float,
    objective: str,
) -> tuple[dict[str, Any], float, float, list[dict[str, Any]]]:
    """Run every trial on all bars; return the best, its Sharpe, its DSR and the table."""
    table: list[dict[str, Any]] = []
    per_period: list[float] = []
    returns: list[pd.Series] = []
    best, best_score = 0, -math.inf
    for k, (values, _, params) in enumerate(trials.items):
        logs, _ = simulate(bars, trials.signals[k], params)
        daily = daily_returns(pd.Series(logs.equity, index=close_index), initial)
        returns.append(daily)
        sd = float(daily.std(ddof=1))
        per_period.append(float(daily.mean() / sd) if sd > 0 else math.nan)
        score, n_trades = _score(logs, close_index, initial, objective)
        table.append(
            {
                **values,
                "score": score,
                "sharpe": sharpe(daily),
                "total_return": float(logs.equity[-1] / initial - 1.0),
                "n_trades": n_trades,
            }
        )
        if math.isfinite(score) and score > best_score:
            best, best_score = k, score
    dsr = deflated_sharpe(returns[best], np.asarray(per_period))
    return dict(trials.items[best][0]), float(table[best]["sharpe"]), dsr, table
