"""Liquidity: pools, equal highs/lows with a causal ATR tolerance, sweeps vs runs, PDH/PDL/PWH."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.smc import liquidity
from features.smc.liquidity import LiquidityConfig
from tests.features.smc.smc_helpers import START, candles, flat

HOUR = pd.Timedelta(hours=1)
# Pivot highs (length 2) at bar 7 (105.0, confirmed at 9) and bar 11 (104.9, confirmed at 13).
TWO_HIGHS = [
    *flat(5, 100.0),
    [100.0, 101.0, 99.75, 100.75],
    [100.75, 103.0, 100.5, 102.75],
    [102.75, 105.0, 102.5, 104.0],
    [104.0, 104.25, 102.0, 102.5],
    [102.5, 102.75, 101.0, 101.5],
    [101.5, 103.5, 101.25, 103.25],
    [103.25, 104.9, 103.0, 104.5],
    [104.5, 104.75, 103.0, 103.25],
    [103.25, 103.5, 102.5, 103.0],
]
SWEEP = [103.0, 105.5, 102.75, 104.5]  # wick above 105, close back below
RUN = [103.0, 105.5, 102.75, 105.25]  # close above 105


def _run(rows: list, **kw: object) -> pd.DataFrame:
    cfg = LiquidityConfig(**{"pivot_length": 2, "equal_tolerance": 0.25, **kw})
    return liquidity.compute(candles(rows), cfg, atr_period=3)


def test_pivot_high_rests_buy_side_liquidity_from_its_confirmation() -> None:
    out = _run(TWO_HIGHS)
    assert out["liq_bsl_n"].tolist()[8:10] == [0.0, 1.0]
    assert out["liq_bsl_count"].iloc[9] == 1.0


def test_second_high_within_the_atr_tolerance_makes_equal_highs() -> None:
    out = _run(TWO_HIGHS)
    assert np.flatnonzero(out["liq_eqh_new"].to_numpy()).tolist() == [13]
    assert out["liq_bsl_count"].iloc[13] == 2.0
    assert out["liq_bsl_n"].iloc[13] == 1.0
    assert out["liq_eqh_dist"].iloc[13] > 0.0


def test_equal_highs_sweep_is_a_wick_above_and_a_close_back_below() -> None:
    out = _run([*TWO_HIGHS, SWEEP])
    assert out["liq_bsl_sweep"].iloc[14] == 1.0
    assert out["liq_bsl_run"].iloc[14] == 0.0
    assert out["liq_bsl_swept_count"].iloc[14] == 2.0
    assert out["liq_bsl_n"].iloc[14] == 0.0
    assert out["liq_bsl_sweep_bars_since"].iloc[14] == 0.0


def test_close_beyond_the_pool_is_a_run_not_a_sweep() -> None:
    out = _run([*TWO_HIGHS, RUN])
    assert out["liq_bsl_run"].iloc[14] == 1.0
    assert out["liq_bsl_sweep"].iloc[14] == 0.0


def test_tight_tolerance_keeps_two_separate_pools() -> None:
    out = _run([*TWO_HIGHS, SWEEP], equal_tolerance=0.01)
    assert out["liq_eqh_new"].sum() == 0.0
    assert out["liq_bsl_n"].iloc[13] == 2.0
    assert out["liq_bsl_swept_count"].iloc[14] == 1.0


def test_sweep_margin_requires_trading_that_many_atrs_beyond() -> None:
    out = _run([*TWO_HIGHS, SWEEP], sweep_margin=1.0)
    assert out["liq_bsl_sweep"].iloc[14] == 0.0


def _hourly(rows: list, start: pd.Timestamp = START) -> pd.DataFrame:
    return candles(rows, start=start, step=HOUR)


def _day(high: float = 101.0, low: float = 99.0) -> list[list[float]]:
    rows = flat(24, 100.0)
    rows[10] = [100.0, high, 99.75, 100.25]
    rows[15] = [100.0, 100.25, low, 99.75]
    return rows


def _hour_cfg() -> LiquidityConfig:
    return LiquidityConfig(pivot_length=2, timeframe="1h")


def test_previous_day_high_is_known_at_the_close_of_the_days_last_candle() -> None:
    frame = _hourly([*_day(110.0, 95.0), *flat(24, 100.0)])
    out = liquidity.compute(frame, _hour_cfg(), atr_period=3)
    assert np.isnan(out["liq_pdh"].iloc[22])
    assert out["liq_pdh"].iloc[23] == 110.0
    assert out["liq_pdl"].iloc[23] == 95.0


def test_previous_day_high_is_swept_once() -> None:
    day2 = flat(24, 100.0)
    day2[2] = [100.0, 111.0, 99.75, 109.0]
    day2[3] = [109.0, 112.0, 108.0, 111.0]
    out = liquidity.compute(_hourly([*_day(110.0), *day2]), _hour_cfg(), atr_period=3)
    assert out["liq_pdh_sweep"].tolist()[25:28] == [0.0, 1.0, 0.0]
    assert out["liq_pdh_run"].sum() == 0.0


def test_missing_last_candle_makes_the_day_known_at_the_next_days_first_candle() -> None:
    rows = [*_day(110.0), *flat(24, 100.0)]
    frame = _hourly(rows).drop(START + 23 * HOUR)
    out = liquidity.compute(frame, _hour_cfg(), atr_period=3)
    assert np.isnan(out["liq_pdh"].iloc[22])
    assert out["liq_pdh"].iloc[23] == 110.0  # the first candle of day 2


def test_a_day_the_data_starts_inside_is_incomplete_and_skipped() -> None:
    rows = [*_day(110.0)[5:], *_day(105.0)]
    out = liquidity.compute(_hourly(rows, START + 5 * HOUR), _hour_cfg(), atr_period=3)
    assert out["liq_pdh"].iloc[: 19 + 23].isna().all()
    assert out["liq_pdh"].iloc[19 + 23] == 105.0


def test_previous_week_high_is_known_at_the_close_of_sunday() -> None:
    daily = [[100.0, 100.0 + k, 99.0, 100.0] for k in range(1, 10)]
    frame = candles(daily, step=pd.Timedelta(days=1))
    out = liquidity.compute(frame, LiquidityConfig(timeframe="1d"), atr_period=3)
    assert out["liq_pwh"].iloc[:6].isna().all()
    assert out["liq_pwh"].iloc[6] == 107.0
    assert out["liq_pdh"].iloc[3] == 104.0  # a daily candle completes its own day


def test_config_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        LiquidityConfig(timeframe="5x")
    with pytest.raises(ValueError, match="equal_tolerance"):
        LiquidityConfig(equal_tolerance=-0.1)
