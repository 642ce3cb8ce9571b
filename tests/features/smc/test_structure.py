"""Market structure: BOS and CHoCH stamped at the break bar, with the level and trend after."""

from __future__ import annotations

import numpy as np
import pytest

from features.smc import structure
from features.smc.structure import StructureConfig
from features.smc.swings import SwingsConfig
from tests.features.smc.smc_helpers import DOWN_THEN_UP, candles, zigzag

SW = SwingsConfig(internal_left=2, internal_right=2, swing_left=3, swing_right=3)


def _run(rows: list[list[float]], break_on: str = "close"):
    return structure.compute(candles(rows), StructureConfig(break_on=break_on), swings_cfg=SW)


def test_bearish_breaks_are_bos_then_a_break_of_the_lower_high_is_a_choch() -> None:
    out = _run(zigzag(DOWN_THEN_UP))
    bos = out["struct_int_bos"].to_numpy()
    choch = out["struct_int_choch"].to_numpy()
    assert np.flatnonzero(bos).tolist() == [9, 16]
    assert bos[9] == -1.0
    assert bos[16] == -1.0
    assert np.flatnonzero(choch).tolist() == [24]
    assert choch[24] == 1.0


def test_break_carries_the_level_broken_and_the_trend_after() -> None:
    out = _run(zigzag(DOWN_THEN_UP))
    assert out["struct_int_level"].iloc[9] == 105.5
    assert out["struct_int_level"].iloc[16] == 102.5
    assert out["struct_int_level"].iloc[24] == 105.5
    assert np.isnan(out["struct_int_level"].iloc[23])
    trend = out["struct_int_trend"].to_numpy()
    assert (trend[:9] == 0.0).all()
    assert (trend[9:24] == -1.0).all()
    assert trend[24] == 1.0
    assert out["struct_int_last_choch"].iloc[23] == 0.0
    assert out["struct_int_last_choch"].iloc[24] == 1.0
    assert out["struct_int_bars_since"].iloc[20] == 4.0


def test_a_wick_through_the_level_breaks_only_in_wick_mode() -> None:
    rows = zigzag(DOWN_THEN_UP)
    rows[23] = [104.75, 105.75, 104.5, 105.0]  # trades above 105.5, closes below it
    close_mode = _run(rows, "close")
    wick_mode = _run(rows, "wick")
    assert np.flatnonzero(close_mode["struct_int_choch"].to_numpy()).tolist() == [24]
    assert np.flatnonzero(wick_mode["struct_int_choch"].to_numpy()).tolist() == [23]


def test_a_level_is_broken_once_only() -> None:
    rows = zigzag([*DOWN_THEN_UP, 108, 109, 110])
    out = _run(rows)
    assert np.flatnonzero(
        out["struct_int_choch"].to_numpy() + out["struct_int_bos"].to_numpy()
    ).tolist() == [9, 16, 24]


def test_distance_to_the_unbroken_top_is_in_atr_and_nan_once_broken() -> None:
    out = structure.compute(candles(zigzag(DOWN_THEN_UP)), swings_cfg=SW, atr_period=1)
    assert out["struct_int_top_dist"].iloc[20] == pytest.approx((105.5 - 102.0) / 1.5)
    assert np.isnan(out["struct_int_top_dist"].iloc[24])


def test_config_rejects_unknown_break_mode() -> None:
    with pytest.raises(ValueError, match="break_on"):
        StructureConfig(break_on="body")
