"""The evaluation of a run: its metrics next to buy-and-hold, random entries and walk-forward."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from serving.backtest.fast import Prepared
from serving.backtest.result import BacktestResult
from serving.engine.baselines import RandomBaseline, buy_and_hold, random_entries
from serving.engine.metrics import curve_metrics, monthly_returns, trade_metrics
from serving.engine.walkforward import WalkForwardResult, walk_forward

HEADLINE = (
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "bars_halted",
    "win_rate", "profit_factor", "expectancy_r", "n_trades", "exposure", "fees_paid",
    "buy_and_hold_return", "buy_and_hold_sharpe", "random_entry_percentile",
)  # fmt: skip


@dataclass(frozen=True)
class Evaluation:
    """Metrics of a run and the baselines they are compared with."""

    metrics: dict[str, Any]
    buy_and_hold: pd.Series
    random: RandomBaseline | None
    walk_forward: WalkForwardResult | None


def evaluate(
    prepared: Prepared,
    result: BacktestResult,
    seeds: int | None = None,
    walk: bool | None = None,
) -> Evaluation:
    """Compute every metric of ``result`` and the baselines over the same bars."""
    cfg = prepared.config
    ev = cfg.evaluation
    seeds = ev.random_seeds if seeds is None else seeds
    walk = ev.walk_forward if walk is None else walk
    initial = cfg.initial_cash
    start = result.index[0]
    m: dict[str, Any] = {"symbol": prepared.symbol, "timeframe": prepared.timeframe.label}
    m["start"] = f"{start:%Y-%m-%d %H:%M}"
    m["end"] = f"{result.close_times[-1]:%Y-%m-%d %H:%M}"
    m["bars"] = len(result.index)
    m.update(curve_metrics(result.equity, initial, start))
    m.update(trade_metrics(result.trades))
    position = result.logs.position
    m["exposure"] = float(np.mean(position != 0.0)) if position.size else math.nan
    m["fees_paid"] = result.fees_paid
    m["funding_paid"] = result.funding_paid
    mean_equity = float(np.mean(result.logs.equity)) if position.size else math.nan
    m["turnover"] = result.turnover / mean_equity if mean_equity > 0 else math.nan
    m["n_orders"] = len(result.logs.orders)
    m["n_fills"] = len(result.logs.fills)
    m["protections_fired"] = len(result.logs.events)
    m["hard_stop"] = cfg.protections.hard_stop
    m.update(result.hard_stop)
    fee = cfg.execution.taker_fee
    bh_equity, bh = buy_and_hold(prepared.bars, prepared.timeframe.ns, initial, fee)
    m["buy_and_hold_return"] = bh["total_return"]
    m["buy_and_hold_sharpe"] = bh["sharpe"]
    m["buy_and_hold_max_drawdown"] = bh["max_drawdown"]
    baseline = None
    if seeds > 0:
        allowed = cfg.strategy.directions
        baseline = random_entries(
            prepared.bars,
            prepared.signals,
            prepared.params,
            seeds,
            prepared.timeframe.ns,
            initial,
            long=allowed in ("both", "long"),
            short=allowed in ("both", "short"),
        )
        m.update(baseline.summary(m["total_return"]))
    else:
        m["random_entry_percentile"] = math.nan
    wf = None
    m["deflated_sharpe"] = math.nan
    if walk:
        wf = walk_forward(prepared.bars, prepared.features.matrix, cfg, prepared.timeframe)
        m["deflated_sharpe"] = wf.deflated_sharpe
        m["walk_forward"] = _walk_summary(wf)
    m["monthly_returns"] = monthly_returns(result.equity, initial)
    m["blocked_entries"] = result.blocked
    m["entry_signals"] = int(np.count_nonzero(prepared.signals[:, 0]))
    return Evaluation(metrics=m, buy_and_hold=bh_equity, random=baseline, walk_forward=wf)


def _walk_summary(wf: WalkForwardResult) -> dict[str, Any]:
    oos = wf.metrics
    return {
        "oos_total_return": oos.get("total_return", math.nan),
        "oos_cagr": oos.get("cagr", math.nan),
        "oos_sharpe": oos.get("sharpe", math.nan),
        "oos_max_drawdown": oos.get("max_drawdown", math.nan),
        "oos_n_trades": oos.get("n_trades", 0),
        "oos_win_rate": oos.get("win_rate", math.nan),
        "oos_expectancy_r": oos.get("expectancy_r", math.nan),
        "windows": len(wf.windows),
        "windows_flat": sum(w.chosen is None for w in wf.windows),
        "n_trials": wf.n_trials,
        "full_sample_best": wf.full_sample_best,
        "full_sample_best_sharpe": wf.full_sample_sharpe,
        "deflated_sharpe": wf.deflated_sharpe,
        "choices": [
            {
                "test_start": f"{w.test_start:%Y-%m-%d}",
                "test_end": f"{w.test_end:%Y-%m-%d}",
                "chosen": w.chosen,
                "train_score": w.train_score,
                "train_trades": w.train_trades,
            }
            for w in wf.windows
        ],
    }
