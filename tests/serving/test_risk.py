"""The risk manager: sizing, hard cap, stops, reward:risk, ladder, exposure, volatility, Kelly."""

from __future__ import annotations

import numpy as np
import pytest

from serving.engine import layout as L
from serving.engine import params as P
from serving.engine.risk import EntryRefused, RiskConfig, kelly, plan_order, risk_fraction
from serving.engine.validation import ConfigError

FLAT = RiskConfig(volatility_scaling=False, min_stop_costs=0.0)
COSTS = 100.0 * (2 * 0.0005 + 2 * 1e-4)  # round-trip taker fees and slippage at price 100


def test_default_risk_loses_one_percent_of_equity_at_the_stop_costs_included() -> None:
    # Act
    plan = plan_order(FLAT, 1, price=100.0, stop=98.0, atr=1.0, equity=10_000.0, target=110.0)
    # Assert
    assert plan.qty * (2.0 + COSTS) == pytest.approx(100.0)
    assert plan.stop == 98.0
    assert plan.risk_amount == pytest.approx(plan.qty * 2.0)


@pytest.mark.parametrize("risk", [0.021, 0.05, 1.0])
def test_risk_above_the_two_percent_hard_cap_is_refused_naming_the_field(risk: float) -> None:
    with pytest.raises(ConfigError, match=r"RiskConfig\.risk_per_trade must be in \(0, 0\.02\]"):
        RiskConfig(risk_per_trade=risk)


@pytest.mark.parametrize("risk", [-0.01, 0.0])
def test_negative_or_zero_risk_is_refused(risk: float) -> None:
    with pytest.raises(ConfigError, match="risk_per_trade"):
        RiskConfig(risk_per_trade=risk)


@pytest.mark.parametrize(
    ("direction", "stop", "words"),
    [(1, 101.0, "long's stop must be below"), (-1, 99.0, "short's stop must be above")],
)
def test_stop_on_the_wrong_side_is_an_error_naming_it(
    direction: int, stop: float, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        plan_order(FLAT, direction, price=100.0, stop=stop, atr=1.0, equity=10_000.0)


@pytest.mark.parametrize(
    ("target", "refused", "reward_risk"),
    [
        (102.0, True, None),
        (103.9, True, None),
        (104.0, False, 2.0),
        (110.0, False, 5.0),
        (200.0, False, 10.0),
    ],
)
def test_entry_needs_two_r_to_the_next_liquidity_and_the_target_is_capped(
    target: float, refused: bool, reward_risk: float | None
) -> None:
    # Arrange: the stop is 2 away, so 2R is 104
    args = {"price": 100.0, "stop": 98.0, "atr": 1.0, "equity": 10_000.0, "target": target}
    if refused:
        with pytest.raises(EntryRefused, match="reward:risk below minimum"):
            plan_order(FLAT, 1, **args)  # type: ignore[arg-type]
        return
    # Act
    plan = plan_order(FLAT, 1, **args)  # type: ignore[arg-type]
    # Assert
    assert plan.reward_risk == pytest.approx(reward_risk)


def test_ladder_takes_half_at_one_r_a_quarter_at_two_r_and_the_rest_at_the_target() -> None:
    # Act
    long = plan_order(FLAT, 1, price=100.0, stop=98.0, atr=1.0, equity=10_000.0, target=108.0)
    short = plan_order(FLAT, -1, price=100.0, stop=102.0, atr=1.0, equity=10_000.0, target=92.0)
    # Assert
    assert long.take_profits == pytest.approx((102.0, 104.0, 108.0))
    assert short.take_profits == pytest.approx((98.0, 96.0, 92.0))
    assert long.fractions == pytest.approx((0.5, 0.25, 0.25))


def test_without_a_known_liquidity_level_the_final_target_is_three_r() -> None:
    # Act
    plan = plan_order(FLAT, 1, price=100.0, stop=98.0, atr=1.0, equity=10_000.0)
    # Assert
    assert plan.take_profits[-1] == pytest.approx(106.0)


@pytest.mark.parametrize(
    ("config", "expected_stop"),
    [
        (RiskConfig(volatility_scaling=False, min_stop_costs=0.0), 99.5),  # 0.5 ATR
        (RiskConfig(volatility_scaling=False, min_stop_costs=5.0), 100.0 - 5 * COSTS),  # costs
    ],
)
def test_too_tight_stops_are_widened(config: RiskConfig, expected_stop: float) -> None:
    # Act
    plan = plan_order(config, 1, price=100.0, stop=99.9, atr=1.0, equity=10_000.0, target=120.0)
    # Assert
    assert plan.stop == pytest.approx(expected_stop)


def test_stop_further_than_max_stop_atr_is_refused() -> None:
    with pytest.raises(EntryRefused, match="stop too far"):
        plan_order(FLAT, 1, price=100.0, stop=90.0, atr=1.0, equity=10_000.0)


def test_size_is_cut_to_the_per_symbol_exposure_cap() -> None:
    # Arrange: 1% risk on a 0.5 stop buys ~161 units (1.6x equity); the cap allows 1x
    config = RiskConfig(volatility_scaling=False, min_stop_costs=0.0, max_symbol_exposure=1.0)
    # Act
    plan = plan_order(config, 1, price=100.0, stop=99.5, atr=1.0, equity=10_000.0, target=110.0)
    # Assert
    assert plan.qty == pytest.approx(100.0)


def test_leverage_cap_binds_when_it_is_the_tightest() -> None:
    # Arrange: risk alone would hold 1.6x equity
    config = RiskConfig(volatility_scaling=False, min_stop_costs=0.0, max_leverage=1.5)
    plan = plan_order(config, 1, price=100.0, stop=99.5, atr=1.0, equity=10_000.0, target=110.0)
    assert plan.qty * 100.0 == pytest.approx(15_000.0)


@pytest.mark.parametrize(
    ("reference", "current", "expected"),
    [(0.01, 0.01, 0.01), (0.01, 0.02, 0.005), (0.01, 0.04, 0.005), (0.04, 0.01, 0.015)],
)
def test_volatility_scaling_shrinks_risk_in_wild_markets_within_bounds(
    reference: float, current: float, expected: float
) -> None:
    # Arrange
    p = np.zeros(P.NP)
    RiskConfig().fill(p)
    acct = np.zeros(L.NA)
    acct[L.A_VOL_EMA] = reference
    # Act / Assert
    assert risk_fraction(acct, current * 100.0, 100.0, p) == pytest.approx(expected)


def _with_history(r_multiples: list[float]) -> np.ndarray:
    acct = np.zeros(L.NA)
    acct[L.A_VOL_EMA] = np.nan
    for k, r in enumerate(r_multiples):
        acct[L.A_HIST + k] = r
    acct[L.A_HIST_N] = len(r_multiples)
    acct[L.A_HIST_HEAD] = len(r_multiples)
    return acct


def test_kelly_fraction_of_the_strategys_own_r_multiples() -> None:
    # Arrange: half the trades win 2R, half lose 1R: Kelly f = 0.5/1 - 0.5/2 = 0.25
    acct = _with_history([2.0, -1.0] * 15)
    p = np.zeros(P.NP)
    RiskConfig(volatility_scaling=False, kelly_fraction=0.05).fill(p)
    # Act / Assert
    assert kelly(acct, 50) == pytest.approx(0.25)
    assert risk_fraction(acct, 1.0, 100.0, p) == pytest.approx(0.0125)


def test_kelly_never_exceeds_the_cap_nor_goes_below_its_floor() -> None:
    p = np.zeros(P.NP)
    RiskConfig(volatility_scaling=False, kelly_fraction=1.0).fill(p)
    assert risk_fraction(_with_history([3.0] * 30), 1.0, 100.0, p) == pytest.approx(0.02)
    assert risk_fraction(_with_history([-1.0] * 30), 1.0, 100.0, p) == pytest.approx(0.0025)


def test_a_model_size_scales_the_risk_and_zero_declines_the_entry() -> None:
    args = {"price": 100.0, "stop": 98.0, "atr": 1.0, "equity": 10_000.0, "target": 110.0}
    full = plan_order(FLAT, 1, **args)  # type: ignore[arg-type]

    half = plan_order(FLAT, 1, size=0.5, **args)  # type: ignore[arg-type]

    assert half.qty == pytest.approx(full.qty * 0.5)
    assert half.stop == full.stop
    with pytest.raises(EntryRefused, match="declined by the model"):
        plan_order(FLAT, 1, size=0.0, **args)  # type: ignore[arg-type]
