"""Baselines: buy-and-hold, and random entries under the same risk management."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.backtest.evaluate import evaluate
from serving.backtest.fast import prepare, run_fast
from serving.engine import layout as L
from serving.engine.baselines import buy_and_hold, random_signals
from tests.serving.conftest import ACTIVE


def test_buy_and_hold_buys_the_first_open_and_pays_the_fee_both_ways(market: pd.DataFrame) -> None:
    # Arrange
    prepared = prepare(market, "5m", ACTIVE)
    bars = prepared.bars
    # Act
    equity, m = buy_and_hold(bars, prepared.timeframe.ns, 10_000.0, 0.001)
    # Assert
    expected = 10_000.0 * 0.999 * bars.close[-1] / bars.open[0] * 0.999
    assert equity.iloc[-1] == pytest.approx(expected)
    assert m["total_return"] == pytest.approx(expected / 10_000.0 - 1.0)


def test_random_signals_keep_the_entry_count_and_drop_the_strategys_exits(
    market: pd.DataFrame,
) -> None:
    # Arrange
    signals = prepare(market, "5m", ACTIVE).signals
    rng = np.random.default_rng(1)
    # Act
    both = random_signals(signals, 40, rng)
    longs = random_signals(signals, 40, rng, short=False)
    # Assert
    assert np.count_nonzero(both[:, L.SIG_ENTRY]) == 40
    assert set(np.unique(both[:, L.SIG_ENTRY])) == {-1.0, 0.0, 1.0}
    assert set(np.unique(longs[:, L.SIG_ENTRY])) == {0.0, 1.0}
    assert not both[:, L.SIG_EXIT_LONG].any()
    assert not both[:, L.SIG_EXIT_SHORT].any()
    chosen = both[:, L.SIG_ENTRY] == 1.0
    assert np.isfinite(both[chosen, L.SIG_LONG_STOP]).all()
    assert np.array_equal(both[:, L.SIG_LONG_STOP], signals[:, L.SIG_LONG_STOP], equal_nan=True)


def test_evaluation_reports_every_required_metric_and_the_random_percentile(
    market: pd.DataFrame,
) -> None:
    # Arrange
    prepared = prepare(market, "5m", ACTIVE)
    result = run_fast(prepared)
    # Act
    ev = evaluate(prepared, result, seeds=12)
    # Assert
    for key in (
        "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
        "profit_factor", "expectancy_r", "n_trades", "exposure", "fees_paid",
        "buy_and_hold_return", "buy_and_hold_sharpe", "random_entry_percentile",
        "monthly_returns", "turnover", "funding_paid", "avg_win", "avg_loss", "avg_r",
        "expectancy", "max_drawdown_duration_days",
    ):  # fmt: skip
        assert key in ev.metrics, key
    assert ev.random is not None
    assert ev.random.total_returns.size == 12
    assert 0.0 <= ev.metrics["random_entry_percentile"] <= 100.0
    assert ev.metrics["n_trades"] == len(result.trades) > 0
    assert ev.metrics["fees_paid"] == pytest.approx(result.fills["fee"].sum())
