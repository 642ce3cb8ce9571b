"""Swing points: pivots confirmed ``right`` bars after the pivot, on two levels."""

from __future__ import annotations

import numpy as np
import pytest

from features.smc import swings
from features.smc.swings import SwingsConfig
from tests.features.smc.smc_helpers import DOWN_THEN_UP, candles, zigzag

CFG = SwingsConfig(internal_left=2, internal_right=2, swing_left=3, swing_right=3)


def _hl(highs: list[float], lows: list[float] | None = None) -> list[list[float]]:
    lows = lows if lows is not None else [h - 1.0 for h in highs]
    return [[(h + lo) / 2, h, lo, (h + lo) / 2] for h, lo in zip(highs, lows, strict=True)]


def test_pivot_high_is_confirmed_right_bars_after_the_pivot() -> None:
    frame = candles(_hl([1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5]))
    out = swings.compute(frame, CFG)
    new = out["swing_int_high_new"].to_numpy()
    assert np.flatnonzero(new).tolist() == [6]
    assert np.isnan(out["swing_int_high"].iloc[5])
    assert out["swing_int_high"].iloc[6] == 5.0
    assert out["swing_int_high_age"].iloc[6] == 2.0
    assert out["swing_int_high_age"].iloc[9] == 5.0


def test_swing_level_uses_its_own_longer_lengths() -> None:
    frame = candles(_hl([1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5]))
    out = swings.compute(frame, CFG)
    assert np.flatnonzero(out["swing_ext_high_new"].to_numpy()).tolist() == [7]
    assert out["swing_ext_high"].iloc[7] == 5.0


def test_first_of_equal_highs_is_the_pivot() -> None:
    frame = candles(_hl([1, 2, 5, 5, 2, 1, 0.5]))
    out = swings.compute(frame, CFG)
    assert np.flatnonzero(out["swing_int_high_new"].to_numpy()).tolist() == [4]
    assert out["swing_int_high_age"].iloc[4] == 2.0


def test_no_pivot_without_enough_bars_on_the_left() -> None:
    frame = candles(_hl([9, 8, 7, 6, 5, 4]))
    out = swings.compute(frame, CFG)
    assert out["swing_int_high_new"].sum() == 0.0
    assert out["swing_int_high"].isna().all()


@pytest.mark.parametrize(
    ("second", "kind"), [(6.0, 1.0), (4.0, -1.0), (5.0, 0.0)], ids=["HH", "LH", "equal"]
)
def test_second_pivot_high_is_labelled_against_the_first(second: float, kind: float) -> None:
    frame = candles(_hl([1, 2, 5, 2, 1, 2, second, 2, 1, 0.5]))
    out = swings.compute(frame, CFG)
    assert np.isnan(out["swing_int_high_kind"].iloc[4])
    assert out["swing_int_high_kind"].iloc[8] == kind


def test_pivot_lows_and_distances_in_atr_on_a_zigzag() -> None:
    frame = candles(zigzag(DOWN_THEN_UP))
    out = swings.compute(frame, CFG, atr_period=1)
    assert np.flatnonzero(out["swing_int_low_new"].to_numpy()).tolist() == [6, 13, 20]
    assert out["swing_int_low"].iloc[13] == 102.5
    assert out["swing_int_low_kind"].iloc[13] == -1.0
    # Doji bars of range 1 with steps of 1: every true range is 1.5 (ATR 1.5 from bar 1).
    assert out["swing_int_low_dist"].iloc[14] == pytest.approx((104 - 102.5) / 1.5)


def test_config_rejects_non_positive_lengths() -> None:
    with pytest.raises(ValueError, match="internal_right"):
        SwingsConfig(internal_right=0)
