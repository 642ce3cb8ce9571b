"""The state machine's trade management: breakeven, trailing, exits, limits, timeouts."""

from __future__ import annotations

import numpy as np
import pytest

from serving.engine.risk import RiskConfig
from tests.serving import scripted as S

UP_TO_TP1 = (100.0, 101.2, 99.9, 101.1)  # reaches 1R (101) of a long from 100 with stop 99


def test_first_take_profit_moves_the_stop_to_breakeven_plus_the_offset() -> None:
    # Arrange: enter at 100 (stop 99), TP1 at 101, then a fall through 100.1
    bars = [S.FLAT_BAR, S.FLAT_BAR, UP_TO_TP1, (101.1, 101.1, 99.0, 99.5), S.FLAT_BAR]
    # Act
    result = S.run(bars, S.intents(len(bars), {0: 1.0}), S.config())
    # Assert
    amends = result.orders[result.orders["action"] == "amend_stop"]
    assert amends["stop"].tolist() == pytest.approx([100.1])  # entry + 0.1R
    assert result.fills["kind"].tolist() == ["entry", "tp1", "stop"]
    assert result.fills["price"].iloc[-1] == pytest.approx(100.1)
    assert result.trades["net_pnl"].iloc[0] > 0.0


def test_trailing_follows_confirmed_swings_after_the_first_target_and_never_loosens() -> None:
    # Arrange: swing-low candidates at 100.5 (tighter), then 100.2 (looser: ignored)
    risk = RiskConfig(
        volatility_scaling=False,
        final_target="fixed",
        min_stop_costs=0.0,
        breakeven_after_tp1=False,
    )
    bars = [
        S.FLAT_BAR,
        S.FLAT_BAR,
        UP_TO_TP1,
        (101.1,) * 4,
        (101.1,) * 4,
        (101.1, 101.1, 100.4, 100.6),
    ]
    sig = S.intents(len(bars), {0: 1.0}, trails={1: 99.8, 3: 100.5, 4: 100.2})
    # Act
    result = S.run(bars, sig, S.config(risk=risk))
    # Assert
    amends = result.orders[result.orders["action"] == "amend_stop"]
    assert amends["stop"].tolist() == [100.5]  # bar 1 was before TP1; bar 4 would loosen
    assert result.fills["kind"].tolist() == ["entry", "tp1", "stop"]


def test_exit_intent_closes_at_the_next_open_not_at_the_signal_close() -> None:
    # Arrange
    bars = [S.FLAT_BAR, S.FLAT_BAR, (100.0, 100.5, 99.8, 100.4), (100.3, 100.6, 100.2, 100.5)]
    # Act
    result = S.run(bars, S.intents(len(bars), {0: 1.0}, exits={2: "long"}), S.config())
    # Assert
    exit_fill = result.fills.iloc[-1]
    assert exit_fill["kind"] == "close"
    assert exit_fill["price"] == 100.3  # bar 3's open, not bar 2's close (100.4)
    assert exit_fill["bar"] == result.index[3]


@pytest.mark.parametrize(
    ("max_positions", "second", "blocked"),
    [
        (1, 1.0, {"max concurrent positions": 1}),
        (2, 1.0, {}),
        (2, -1.0, {"opposite position open": 1}),
    ],
)
def test_concurrent_positions_are_limited_and_never_opposite(
    max_positions: int, second: float, blocked: dict[str, int]
) -> None:
    # Arrange
    risk = RiskConfig(
        volatility_scaling=False,
        final_target="fixed",
        min_stop_costs=0.0,
        max_positions=max_positions,
    )
    bars = [S.FLAT_BAR] * 6
    # Act
    result = S.run(bars, S.intents(len(bars), {0: 1.0, 2: second}), S.config(risk=risk))
    # Assert
    assert result.blocked == blocked


def test_unfilled_limit_entry_is_cancelled_after_its_timeout() -> None:
    # Arrange: a buy limit 0.5 ATR under a flat market never fills
    risk = RiskConfig(
        volatility_scaling=False, final_target="fixed", min_stop_costs=0.0,
        entry_order="limit", entry_offset_atr=0.5, entry_timeout="30min",
    )  # fmt: skip
    bars = [S.FLAT_BAR] * 10
    # Act
    result = S.run(bars, S.intents(len(bars), {0: 1.0}, stop_distance=2.0), S.config(risk=risk))
    # Assert
    actions = result.orders["action"].tolist()
    assert actions == ["new", "cancel"]
    assert result.orders["price"].iloc[0] == 99.5
    decided = result.orders["decided_at"]
    assert decided.iloc[1] - decided.iloc[0] == np.timedelta64(30, "m")
    assert len(result.fills) == 0


def test_liquidity_target_sets_the_final_take_profit() -> None:
    # Arrange: next buy-side liquidity at 104.5 with a 1.0 stop: 4.5R
    risk = RiskConfig(volatility_scaling=False, min_stop_costs=0.0)
    bars = [S.FLAT_BAR] * 3
    # Act
    result = S.run(bars, S.intents(len(bars), {0: 1.0}, targets={0: 104.5}), S.config(risk=risk))
    # Assert
    new = result.orders.iloc[0]
    assert (new["tp1"], new["tp2"], new["tp3"]) == pytest.approx((101.0, 102.0, 104.5))
