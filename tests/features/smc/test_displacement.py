"""Displacement: impulsive candles and legs in ATRs of the bar before."""

from __future__ import annotations

import numpy as np
import pytest

from features.smc import displacement
from features.smc.displacement import DisplacementConfig
from tests.features.smc.smc_helpers import candles, flat

IMPULSE = [100.0, 102.25, 99.875, 102.0]  # body 2, range 2.375: with ATR 1, a displacement
AFTER_GAP = [102.0, 102.5, 101.5, 102.25]  # its low clears the high two bars back (100.5)


def _run(rows: list, **kw: object):
    return displacement.compute(candles(rows), DisplacementConfig(**kw), atr_period=3)


def test_body_of_two_atrs_is_a_bullish_displacement_at_its_own_bar() -> None:
    out = _run([*flat(5, 100.0), IMPULSE, AFTER_GAP])
    assert out["disp_dir"].tolist()[4:7] == [0.0, 1.0, 0.0]
    assert out["disp_size_atr"].iloc[5] == 2.0
    assert out["disp_bull_bars_since"].iloc[6] == 1.0
    assert np.isnan(out["disp_bear_bars_since"].iloc[6])


def test_gap_left_behind_is_flagged_at_the_next_bar() -> None:
    out = _run([*flat(5, 100.0), IMPULSE, AFTER_GAP])
    assert out["disp_fvg"].tolist()[5:7] == [0.0, 1.0]


def test_require_fvg_stamps_the_displacement_when_the_gap_is_known() -> None:
    out = _run([*flat(5, 100.0), IMPULSE, AFTER_GAP], require_fvg=True)
    assert out["disp_dir"].tolist()[4:7] == [0.0, 0.0, 1.0]
    assert out["disp_size_atr"].iloc[6] == 2.0


def test_require_fvg_drops_an_impulse_that_leaves_no_gap() -> None:
    no_gap = [102.0, 102.5, 100.25, 102.25]
    out = _run([*flat(5, 100.0), IMPULSE, no_gap], require_fvg=True)
    assert out["disp_dir"].abs().sum() == 0.0


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([100.0, 101.0, 99.9, 101.0], 0.0),  # body 1 ATR < 1.5
        ([100.0, 103.0, 97.0, 101.5], 0.0),  # big range, body only 25% of it
        ([100.0, 100.1, 97.9, 98.0], -1.0),  # bearish body 2
    ],
)
def test_size_and_body_ratio_thresholds(row: list[float], expected: float) -> None:
    out = _run([*flat(5, 100.0), row])
    assert out["disp_dir"].iloc[5] == expected


def test_range_measure_counts_the_whole_candle() -> None:
    row = [100.0, 101.5, 99.75, 101.25]  # body 1.25 ATR, range 1.75 ATR
    by_body = _run([*flat(5, 100.0), row], min_atr=1.5)
    by_range = _run([*flat(5, 100.0), row], min_atr=1.5, measure="range")
    assert by_body["disp_dir"].iloc[5] == 0.0
    assert by_range["disp_dir"].iloc[5] == 1.0
    assert by_range["disp_size_atr"].iloc[5] == 1.75


def test_run_of_one_colour_becomes_a_leg_at_two_atrs() -> None:
    steps = [
        [100.0, 101.0, 99.75, 100.75],
        [100.75, 101.75, 100.5, 101.5],
        [101.5, 102.5, 101.25, 102.25],
    ]
    out = _run([*flat(5, 100.0), *steps])
    assert out["disp_leg_bars"].tolist()[5:8] == [1.0, 2.0, 3.0]
    assert out["disp_leg_size_atr"].tolist()[5:8] == [0.75, 1.5, 2.25]
    assert out["disp_leg"].tolist()[5:8] == [0.0, 0.0, 1.0]


def test_config_validates_thresholds() -> None:
    with pytest.raises(ValueError, match="min_body_ratio"):
        DisplacementConfig(min_body_ratio=1.5)
    with pytest.raises(ValueError, match="measure"):
        DisplacementConfig(measure="wick")
