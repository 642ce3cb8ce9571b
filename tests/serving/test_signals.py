"""The one signal rule: the product's signal record is the decision the backtest makes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from serving.backtest.fast import Prepared, prepare, run_fast
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.risk import RiskConfig
from serving.engine.validation import ConfigError
from serving.signals import (
    Signal,
    SMCConfluence,
    SMCConfluenceConfig,
    factor_names,
    make_signal,
)
from tests.serving.conftest import ACTIVE

SIGNAL_KEYS = {
    "signal_id", "symbol", "type", "direction", "strength", "timeframe", "entry_price",
    "stop_loss", "take_profit", "risk_reward_ratio", "confidence_score", "model_version",
    "smc_analysis", "confluence_factors", "generated_at", "expires_at",
}  # fmt: skip
"""The signal format of ``DESIGN.md`` (the seed's format plus ``model_version``)."""


@pytest.fixture(scope="module")
def prepared(market: pd.DataFrame) -> Prepared:
    return prepare(market, "5m", ACTIVE, symbol="BTC/USDT")


@pytest.fixture(scope="module")
def trades(prepared: Prepared) -> pd.DataFrame:
    return run_fast(prepared).trades


def _signal_at(
    prepared: Prepared, i: int, config: BacktestConfig = ACTIVE, position: int = 0
) -> Signal:
    return make_signal(
        prepared.features.matrix[i],
        prepared.candles.index[i],
        symbol="BTC/USDT",
        timeframe="5m",
        config=config,
        position=position,
    )


def _bar_of(prepared: Prepared, close_time: pd.Timestamp) -> int:
    return int(prepared.candles.index.get_loc(close_time - pd.Timedelta(minutes=5)))


def test_every_backtest_trade_is_an_entry_signal_with_its_stop_and_target(
    prepared: Prepared, trades: pd.DataFrame
) -> None:
    # Arrange
    assert len(trades) >= 5

    for trade in trades.itertuples():
        i = _bar_of(prepared, trade.decided_at)

        # Act
        signal = _signal_at(prepared, i)

        # Assert
        assert signal.type == "ENTRY"
        assert signal.direction == trade.direction.upper()
        assert signal.generated_at == trade.decided_at
        assert signal.entry_price == prepared.candles["close"].iat[i]
        assert signal.stop_loss == trade.stop
        assert signal.take_profit[-1] == trade.target
        assert signal.score == trade.score
        d = 1 if trade.direction == "long" else -1
        assert signal.confluence_factors == factor_names(trade.factors, d)
        assert signal.risk_reward_ratio >= ACTIVE.risk.min_reward_risk


def test_the_record_follows_the_signal_format(prepared: Prepared, trades: pd.DataFrame) -> None:
    # Arrange
    trade = trades.iloc[0]
    i = _bar_of(prepared, trade.decided_at)

    # Act
    record = _signal_at(prepared, i).to_dict()

    # Assert
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert set(record) >= SIGNAL_KEYS
    assert record["symbol"] == "BTC/USDT"
    assert record["timeframe"] == "5m"
    assert record["confidence_score"] is None
    assert record["model_version"] is None
    assert record["strength"] in {"WEAK", "MODERATE", "STRONG"}
    closes = prepared.candles.index[i] + pd.Timedelta(minutes=5)
    assert record["generated_at"] == closes.strftime("%Y-%m-%dT%H:%M:%SZ")
    expires = closes + pd.Timedelta(minutes=5)  # a market entry: until the next close
    assert record["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    ladder = record["take_profit"]
    side = 1 if record["direction"] == "LONG" else -1
    assert ladder == sorted(ladder, key=lambda level: side * level)
    assert (
        side * (ladder[0] - record["entry_price"])
        > 0
        > side * (record["stop_loss"] - record["entry_price"])
    )
    assert set(record["smc_analysis"]) == {
        "order_block_present", "fvg_confluence", "liquidity_sweep", "market_structure",
    }  # fmt: skip
    analysis = record["smc_analysis"]
    assert analysis["order_block_present"] or analysis["fvg_confluence"]  # required POI


def test_signal_ids_name_the_bar_and_are_stable(prepared: Prepared) -> None:
    # Act
    first, again, other = (_signal_at(prepared, i) for i in (3000, 3000, 3001))

    # Assert
    assert first.signal_id == again.signal_id
    assert first.signal_id != other.signal_id


def test_bars_without_an_entry_are_none_signals(prepared: Prepared) -> None:
    # Arrange
    i = int(np.flatnonzero(prepared.signals[:, L.SIG_ENTRY] == 0.0)[-1])

    # Act
    signal = _signal_at(prepared, i)

    # Assert
    assert signal.type == "NONE"
    assert signal.direction is None
    assert signal.entry_price is None
    assert signal.take_profit == ()
    assert signal.confluence_factors == ()


def test_an_entry_the_risk_manager_refuses_is_none_with_its_reason(
    prepared: Prepared, trades: pd.DataFrame
) -> None:
    # Arrange
    i = _bar_of(prepared, trades.iloc[0].decided_at)
    greedy = dataclasses.replace(ACTIVE, risk=RiskConfig(min_reward_risk=50.0, max_target_r=100))

    # Act
    signal = _signal_at(prepared, i, greedy)

    # Assert
    assert signal.type == "NONE"
    assert signal.reason is not None
    assert signal.reason.endswith("refused by the risk manager: reward:risk below minimum")


def test_a_held_position_gets_an_exit_when_its_exit_flag_is_set(prepared: Prepared) -> None:
    # Arrange: a bar where the rule says "close longs" (the HTF bias turned bearish)
    flagged = (prepared.signals[:, L.SIG_EXIT_LONG] == 1.0) & (
        prepared.signals[:, L.SIG_ENTRY] == 0.0
    )
    i = int(np.flatnonzero(flagged)[0])

    # Act
    held = _signal_at(prepared, i, position=1)
    flat = _signal_at(prepared, i, position=0)
    short = _signal_at(prepared, i, position=-1)

    # Assert
    assert (held.type, held.direction) == ("EXIT", "LONG")
    assert held.reason == "exit rule: higher-timeframe bias against the position"
    assert flat.type == "NONE"
    assert short.type == "NONE"


def test_limit_entries_expire_with_the_entry_timeout(
    prepared: Prepared, trades: pd.DataFrame
) -> None:
    # Arrange
    i = _bar_of(prepared, trades.iloc[0].decided_at)
    limit = dataclasses.replace(
        ACTIVE, risk=RiskConfig(entry_order="limit", entry_offset_atr=0.1, entry_timeout="2h")
    )

    # Act
    signal = _signal_at(prepared, i, limit)

    # Assert
    assert signal.type == "ENTRY"
    assert signal.expires_at - signal.generated_at == pd.Timedelta(hours=2)
    side = 1 if signal.direction == "LONG" else -1
    assert side * (prepared.candles["close"].iat[i] - signal.entry_price) > 0


@pytest.mark.parametrize(
    ("moderate", "strong", "strength"),
    [(0.5, 1.0, "WEAK"), (0.0, 0.5, "MODERATE"), (-0.5, 0.5, "MODERATE"), (-1.0, 0.0, "STRONG")],
)
def test_strength_reads_the_rules_score_against_the_bands(
    prepared: Prepared, trades: pd.DataFrame, moderate: float, strong: float, strength: str
) -> None:
    # Arrange: bands placed around this entry's score (offsets from it)
    trade = trades.iloc[0]
    i = _bar_of(prepared, trade.decided_at)
    score = float(trade.score)
    bands = dataclasses.replace(
        ACTIVE.strategy, moderate_score=score + moderate, strong_score=score + strong
    )

    # Act
    signal = _signal_at(prepared, i, dataclasses.replace(ACTIVE, strategy=bands))

    # Assert
    assert signal.score == score
    assert signal.strength == strength


def test_strength_bands_are_validated() -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match=r"SMCConfluenceConfig\.strong_score"):
        SMCConfluenceConfig(moderate_score=6.0, strong_score=5.0)


def test_the_engine_and_the_record_run_one_rule(prepared: Prepared) -> None:
    # Arrange
    rule = SMCConfluence(ACTIVE.strategy)
    rows = prepared.features.matrix[-500:]

    # Act
    one_by_one = np.vstack([rule.signal(row) for row in rows])

    # Assert
    assert np.array_equal(one_by_one, prepared.signals[-500:], equal_nan=True)
