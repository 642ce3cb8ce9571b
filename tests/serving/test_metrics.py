"""Metrics: returns, risk ratios, drawdowns, trade statistics, deflated Sharpe, percentiles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from serving.engine.metrics import (
    curve_metrics,
    deflated_sharpe,
    json_ready,
    max_drawdown_duration,
    monthly_returns,
    percentile_of,
    sharpe,
    sortino,
    trade_metrics,
)


def _curve(values: list[float], freq: str = "1D", start: str = "2024-01-02") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq, tz="UTC"))


def test_curve_that_doubles_in_a_year_has_cagr_one_and_no_drawdown() -> None:
    # Arrange
    equity = _curve(list(np.linspace(100.0, 200.0, 365)), start="2023-01-02")
    # Act
    m = curve_metrics(equity, 100.0, pd.Timestamp("2023-01-01", tz="UTC"))
    # Assert
    assert m["total_return"] == pytest.approx(1.0)
    assert m["cagr"] == pytest.approx(1.0)
    assert m["max_drawdown"] == 0.0
    assert math.isnan(m["calmar"])
    assert m["sharpe"] > 10


def test_max_drawdown_and_its_duration() -> None:
    # Arrange
    equity = _curve([100.0, 120.0, 90.0, 100.0, 130.0])
    # Act
    m = curve_metrics(equity, 100.0, equity.index[0] - pd.Timedelta(days=1))
    # Assert
    assert m["max_drawdown"] == pytest.approx(0.25)
    assert max_drawdown_duration(equity) == 3.0


def test_sharpe_and_sortino_are_annualized_and_undefined_without_variance() -> None:
    r = np.array([0.01, -0.01, 0.02, 0.0])
    assert sharpe(r) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    assert sortino(r) == pytest.approx(
        r.mean() / math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(365)
    )
    assert math.isnan(sharpe(np.full(10, 0.01)))
    assert math.isnan(sortino(np.full(10, 0.01)))


def test_trade_statistics() -> None:
    # Arrange
    trades = pd.DataFrame(
        {"net_pnl": [30.0, -10.0, -10.0, 10.0], "r_multiple": [3.0, -1.0, -1.0, 1.0]}
    )
    # Act
    m = trade_metrics(trades)
    # Assert
    assert m["n_trades"] == 4
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(2.0)
    assert m["expectancy"] == pytest.approx(5.0)
    assert m["expectancy_r"] == pytest.approx(0.5)
    assert m["avg_win"] == 20.0
    assert m["avg_loss"] == -10.0


def test_no_trades_gives_undefined_trade_statistics() -> None:
    m = trade_metrics(pd.DataFrame({"net_pnl": [], "r_multiple": []}))
    assert m["n_trades"] == 0
    assert math.isnan(m["win_rate"])
    assert math.isnan(m["profit_factor"])


def test_deflated_sharpe_falls_as_more_and_more_dispersed_trials_were_tried() -> None:
    # Arrange
    rng = np.random.default_rng(0)
    returns = rng.normal(0.002, 0.01, 500)
    # Act
    alone = deflated_sharpe(returns, [0.2])
    few = deflated_sharpe(returns, rng.normal(0, 0.05, 5))
    many = deflated_sharpe(returns, rng.normal(0, 0.05, 500))
    # Assert
    assert alone > 0.99
    assert alone > few > many


@pytest.mark.parametrize(
    ("value", "expected"), [(5.0, 50.0), (0.0, 0.0), (11.0, 100.0), (3.0, 25.0)]
)
def test_percentile_counts_ties_as_half(value: float, expected: float) -> None:
    assert percentile_of(
        value, np.array([1.0, 3.0, 5.0, 7.0, 9.0, 5.0, 2.0, 8.0])
    ) == pytest.approx(expected, abs=7.0)


def test_monthly_returns_put_a_midnight_close_in_the_month_before() -> None:
    # Arrange: closes on Jan 31 12:00 and Feb 1 00:00 both belong to January
    equity = pd.Series(
        [110.0, 121.0],
        index=pd.DatetimeIndex(["2024-01-31 12:00", "2024-02-01 00:00"], tz="UTC"),
    )
    # Act / Assert
    assert monthly_returns(equity, 100.0) == {"2024-01": pytest.approx(0.21)}


def test_json_ready_turns_nan_into_null() -> None:
    assert json_ready({"a": float("nan"), "b": np.int64(3), "c": {"d": np.float64(1.5)}}) == {
        "a": None, "b": 3, "c": {"d": 1.5},
    }  # fmt: skip
