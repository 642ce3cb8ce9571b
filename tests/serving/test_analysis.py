"""analyze_multi_timeframe: the plan's request and keys, with the backtest's entry signals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from features.candles.resample import resample_all
from serving.analysis import analyze_multi_timeframe, last_signal
from serving.backtest.fast import prepare, run_fast
from tests.serving.conftest import ACTIVE

PLAN_MTF_BODY = {
    "symbol": "BTCUSDT",
    "primary_timeframe": "15m",
    "analysis_timeframes": ["1d", "4h", "1h"],
}
"""The product plan's ``POST /api/analysis/multi-timeframe`` request body, verbatim."""
PLAN_KEYS = {
    "higher_timeframe_bias", "discount_zones", "premium_zones", "entry_signals",
    "confluence_score",
}  # fmt: skip


def _by_tf(candles: pd.DataFrame, tfs: list[str]) -> dict[str, pd.DataFrame]:
    return {"5m": candles, **resample_all(candles, "5m", tfs)}


def test_the_plans_request_body_works_verbatim_with_the_plans_keys(
    market: pd.DataFrame,
) -> None:
    # Arrange
    by_tf = _by_tf(market, ["15m", "1h", "4h", "1d"])

    # Act
    answer = analyze_multi_timeframe(by_tf, **PLAN_MTF_BODY)  # type: ignore[arg-type]

    # Assert
    assert json.loads(json.dumps(answer, allow_nan=False)) == answer
    assert set(answer) >= PLAN_KEYS
    assert answer["symbol"] == "BTC/USDT"
    assert answer["primary_timeframe"] == "15m"
    assert answer["analysis_timeframes"] == ["1h", "4h", "1d"]
    assert answer["higher_timeframe_bias"] in {"bullish", "bearish", "neutral"}
    assert 0.0 <= answer["confluence_score"] <= 1.0
    assert isinstance(answer["entry_signals"], list)
    assert set(answer["timeframes"]) == {"1h", "4h", "1d"}


@pytest.fixture(scope="module")
def traded(market: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    prepared = prepare(market, "5m", ACTIVE, symbol="BTC/USDT")
    return market, run_fast(prepared).trades


def test_the_entry_signal_at_a_backtest_trades_bar_is_that_trade(
    traded: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    # Arrange: the candles as they stood when the trade was decided
    market, trades = traded
    trade = trades.iloc[len(trades) // 2]
    known = market.loc[: trade.decided_at - pd.Timedelta(minutes=5)]

    # Act
    answer = analyze_multi_timeframe(
        _by_tf(known, ["1h", "4h"]), "BTCUSDT", "5m", signal_config=ACTIVE
    )

    # Assert
    [signal] = answer["entry_signals"]
    assert signal["type"] == "ENTRY"
    assert signal["direction"] == trade.direction.upper()
    assert signal["stop_loss"] == trade.stop
    assert signal["take_profit"][-1] == trade.target
    assert signal["generated_at"] == answer["as_of"]
    assert signal == last_signal(known, "5m", "BTC/USDT", ACTIVE).to_dict()


def test_no_entry_signal_where_the_rule_does_not_enter(
    traded: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    # Arrange: the bar before a trade's signal bar (the rule entered one bar later)
    market, trades = traded
    trade = trades.iloc[0]
    known = market.loc[: trade.decided_at - pd.Timedelta(minutes=10)]
    assert last_signal(known, "5m", "BTC/USDT", ACTIVE).type == "NONE"

    # Act
    answer = analyze_multi_timeframe(_by_tf(known, ["1h"]), "BTC/USDT", "5m", signal_config=ACTIVE)

    # Assert
    assert answer["entry_signals"] == []


def test_a_primary_timeframe_the_rule_cannot_trade_is_a_warning(market: pd.DataFrame) -> None:
    # Act: the rule reads a 1h higher timeframe, which a 1h primary cannot have
    answer = analyze_multi_timeframe(_by_tf(market, ["1h", "4h"]), "BTC/USDT", "1h")

    # Assert
    assert answer["entry_signals"] == []
    [warning] = answer["warnings"]
    assert warning.startswith("entry signals: the smc_confluence rule cannot run on 1h")
