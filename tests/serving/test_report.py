"""The backtest's output files: what each time in trades.csv means, a readable heatmap."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from serving.backtest.evaluate import Evaluation
from serving.backtest.report import monthly_heatmap, write_outputs
from serving.backtest.result import BacktestResult
from serving.engine.risk import RiskConfig
from tests.serving import scripted as S


def _written(result: BacktestResult, tmp_path: Path) -> dict[str, pd.DataFrame]:
    candles = S.candles_from([S.FLAT_BAR] * len(result.index))
    evaluation = Evaluation(
        metrics={"bars": len(result.index), "monthly_returns": {"2024-01": 0.01}},
        buy_and_hold=pd.Series(1.0, index=result.close_times),
        random=None,
        walk_forward=None,
    )
    paths = write_outputs(tmp_path, result, evaluation, candles)
    times = {
        "trades": ["decided_at", "entry_bar", "exit_bar"],
        "orders": ["decided_at"],
        "fills": ["bar"],
    }
    return {name: pd.read_csv(paths[name], parse_dates=cols) for name, cols in times.items()}


def test_trades_csv_says_a_market_entry_is_decided_at_the_close_and_fills_at_the_next_open(
    tmp_path: Path,
) -> None:
    # Arrange: a long decided at bar 0's close (100.0); bar 1 opens at 100.3; bar 2 stops it
    bars = [S.FLAT_BAR, (100.3, 100.4, 100.2, 100.3), S.STOP_BAR, S.FLAT_BAR]
    result = S.run(bars, S.intents(len(bars), {0: 1.0}), S.config())
    # Act
    out = _written(result, tmp_path)
    # Assert
    trade = out["trades"].iloc[0]
    assert list(out["trades"].columns[:5]) == [
        "trade_id", "direction", "decided_at", "entry_bar", "exit_bar",
    ]  # fmt: skip
    assert trade["decided_at"] == result.index[0] + S.TF.delta  # the signal bar's close
    assert trade["entry_bar"] == result.index[1]  # the fill bar, by its open time
    assert trade["entry_bar"] == trade["decided_at"]  # the same instant: the next bar's open
    assert trade["entry_price"] == 100.3  # the next bar's open price, not the signal close
    assert trade["exit_bar"] == result.index[2]
    assert out["orders"]["decided_at"].iloc[0] == trade["decided_at"]
    assert out["fills"]["bar"].tolist() == [result.index[1], result.index[2]]


def test_trades_csv_shows_a_limit_entry_filling_after_the_decision(tmp_path: Path) -> None:
    # Arrange: a buy limit 0.5 ATR under the close (99.5) is reached in bar 2 only
    risk = RiskConfig(
        volatility_scaling=False, final_target="fixed", min_stop_costs=0.0,
        entry_order="limit", entry_offset_atr=0.5,
    )  # fmt: skip
    bars = [S.FLAT_BAR, S.FLAT_BAR, (100.0, 100.0, 99.3, 99.6), S.STOP_BAR, S.FLAT_BAR]
    sig = S.intents(len(bars), {0: 1.0}, stop_distance=1.0)
    result = S.run(bars, sig, S.config(risk=risk))
    # Act
    trade = _written(result, tmp_path)["trades"].iloc[0]
    # Assert
    assert trade["decided_at"] == result.index[1]
    assert trade["entry_bar"] == result.index[2]
    assert trade["entry_bar"] > trade["decided_at"]
    assert trade["entry_price"] == 99.5


@pytest.mark.parametrize("n_years", [1, 2, 6])
def test_monthly_heatmap_gives_each_year_a_readable_row(n_years: int) -> None:
    # Arrange
    monthly = {f"{2020 + y}-{m:02d}": 0.01 * m for y in range(n_years) for m in range(1, 13)}
    # Act
    fig = monthly_heatmap(monthly)
    # Assert: the plot area (height less the margins) leaves >= 30 px per year
    layout = fig.layout
    row_px = (layout.height - layout.margin.t - layout.margin.b) / n_years
    assert row_px >= 30
    assert layout.yaxis.type == "category"
    assert list(fig.data[0].y) == [str(2020 + y) for y in range(n_years)]


def test_the_report_says_when_the_account_hard_stop_fired(tmp_path: Path) -> None:
    # Arrange: a long with an open loss of ~0.75% against a 0.5% hard stop
    protections = dataclasses.replace(S.NO_PROTECTIONS, hard_stop=0.005)
    bars = [S.FLAT_BAR] * 3 + [(100.0, 100.2, 99.55, 99.6)] + [(99.6,) * 4] * 5
    sig = S.intents(len(bars), {1: 1.0}, stop_distance=0.5)
    result = S.run(bars, sig, S.config(protections=protections))
    metrics = {"bars": len(bars), "hard_stop": 0.005, **result.hard_stop}
    evaluation = Evaluation(metrics, pd.Series(1.0, index=result.close_times), None, None)
    # Act
    paths = write_outputs(tmp_path, result, evaluation, S.candles_from(bars))
    # Assert
    page = paths["report"].read_text()
    assert "0.5% of the equity&#x27;s peak: hit at 2024-01-01 00:20 (drawdown 0.7%)" in page
    assert "no entry for the remaining 6 bars" in page
    events = pd.read_csv(paths["events"])
    assert events["protection"].tolist() == ["halted: account hard stop"]
    assert events["until"].isna().all()
