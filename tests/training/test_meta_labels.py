"""Meta-labels: every rule intent gets the R of the engine's own trade from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.backtest.fast import Prepared, prepare, run_fast
from serving.backtest.main import synthetic_candles
from serving.engine.records import trades_frame
from training.meta_labels import MetaLabelConfig, intent_bars, meta_labels


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", 21, seed=7)
    return prepare(candles, "5m", symbol="BTC/USDT")


def test_each_backtest_trade_is_labelled_with_its_own_r(prepared: Prepared) -> None:
    trades = trades_frame(run_fast(prepared).logs.trades)
    assert len(trades) > 5

    labels = meta_labels(prepared).labels.set_index("decided_at")

    for trade in trades.itertuples():
        label = labels.loc[trade.decided_at]
        assert label.r_multiple == pytest.approx(trade.r_multiple, rel=1e-6, abs=1e-9)
        assert label.direction == (1 if trade.direction == "long" else -1)
        assert label.label_time > trade.decided_at


def test_every_intent_is_labelled_refused_or_unresolved(prepared: Prepared) -> None:
    result = meta_labels(prepared)

    assert result.intents == len(intent_bars(prepared.signals))
    assert result.intents > len(trades_frame(run_fast(prepared).logs.trades))
    assert len(result.labels) + sum(result.refused.values()) + result.unresolved == result.intents


def test_a_label_is_known_only_after_its_decision(prepared: Prepared) -> None:
    labels = meta_labels(prepared).labels

    opened = pd.DatetimeIndex(labels.index)
    assert (labels["decided_at"] == opened + pd.Timedelta(minutes=5)).all()
    assert (labels["label_time"] > labels["decided_at"]).all()
    assert set(np.unique(labels["label"])) <= {0, 1}
    assert ((labels["r_multiple"] > 0) == (labels["label"] == 1)).all()


def test_a_short_horizon_leaves_open_trades_unresolved(prepared: Prepared) -> None:
    short = meta_labels(prepared, MetaLabelConfig(horizon_bars=2))

    assert short.unresolved > 0
    assert (short.labels["bars_held"] <= 2).all()


@pytest.mark.parametrize("horizon", [0, 1, 2.5])
def test_a_bad_horizon_is_refused_by_name(horizon: object) -> None:
    with pytest.raises(ValueError, match="horizon_bars"):
        MetaLabelConfig(horizon_bars=horizon)  # type: ignore[arg-type]
