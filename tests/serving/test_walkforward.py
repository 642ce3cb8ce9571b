"""Walk-forward: parameters chosen on training windows, performance reported out of sample."""

from __future__ import annotations

import pandas as pd

from serving.backtest.fast import prepare
from serving.engine.config import BacktestConfig
from serving.engine.walkforward import walk_forward


def test_each_test_window_follows_its_training_window_and_only_oos_bars_are_scored(
    market: pd.DataFrame,
) -> None:
    # Arrange
    cfg = BacktestConfig.from_mapping(
        {
            "strategy": {"require_zone": False},
            "evaluation": {
                "train": "8d", "test": "4d", "min_trades": 1,
                "grid": {"strategy.min_score": [3.0, 4.0], "risk.min_reward_risk": [2.0, 3.0]},
            },
        }
    )  # fmt: skip
    prepared = prepare(market, "5m", cfg)
    # Act
    wf = walk_forward(prepared.bars, prepared.features.matrix, cfg, "5m")
    # Assert
    assert len(wf.windows) == 4  # 21 days: tests start at day 8, 12, 16, 20
    for w in wf.windows:
        assert w.test_start - w.train_start == pd.Timedelta("8d")
        assert w.chosen is None or set(w.chosen) == {"strategy.min_score", "risk.min_reward_risk"}
    assert wf.oos_equity.index[0] == wf.windows[0].test_start + pd.Timedelta("5min")
    assert wf.oos_equity.index[-1] == market.index[-1] + pd.Timedelta("5min")
    assert wf.n_trials == 4
    assert len(wf.trial_table) == 4
    assert 0.0 <= wf.deflated_sharpe <= 1.0


def test_window_without_a_qualifying_trial_stays_flat(market: pd.DataFrame) -> None:
    # Arrange: nothing can reach 1000 trades in a week
    cfg = BacktestConfig.from_mapping(
        {
            "evaluation": {
                "train": "7d",
                "test": "7d",
                "min_trades": 1000,
                "grid": {"strategy.min_score": [4.0]},
            }
        }
    )
    prepared = prepare(market, "5m", cfg)
    # Act
    wf = walk_forward(prepared.bars, prepared.features.matrix, cfg, "5m")
    # Assert
    assert all(w.chosen is None for w in wf.windows)
    assert wf.metrics["n_trades"] == 0
    assert wf.oos_equity.iloc[-1] == cfg.initial_cash
