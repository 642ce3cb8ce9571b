"""Premium/discount: the dealing range of confirmed swings, position, equilibrium and OTE."""

from __future__ import annotations

import numpy as np
import pytest

from features.smc import premium_discount
from features.smc.premium_discount import PremiumDiscountConfig
from features.smc.swings import SwingsConfig
from tests.features.smc.smc_helpers import candles, zigzag

SW = SwingsConfig(internal_left=2, internal_right=2, swing_left=3, swing_right=3)
# Pivot low at bar 5 (99.5, confirmed at 7); pivot high at bar 15 (110.5, confirmed at 17);
# then a retracement to 102.5 at bar 23.
UP_THEN_BACK = [
    105,
    104,
    103,
    102,
    101,
    100,
    101,
    102,
    103,
    104,
    105,
    106,
    107,
    108,
    109,
    110,
    109,
    108,
    107,
    106,
    105,
    104,
    103,
    102.5,
]


def _run(mids: list[float], **kw: object):
    cfg = PremiumDiscountConfig(level="internal", **kw)
    return premium_discount.compute(candles(zigzag(mids)), cfg, swings_cfg=SW, atr_period=3)


def test_range_exists_once_both_sides_come_from_confirmed_swings() -> None:
    out = _run(UP_THEN_BACK)
    assert out["pd_high"].iloc[:17].isna().all()
    assert out["pd_high"].iloc[17] == 110.5
    assert out["pd_low"].iloc[17] == 99.5
    assert out["pd_eq"].iloc[17] == 105.0


def test_retracement_into_discount_lands_in_the_optimal_trade_entry_band() -> None:
    out = _run(UP_THEN_BACK)
    last = out.iloc[23]
    assert last["pd_pos"] == pytest.approx(3.0 / 11.0)
    assert last["pd_zone"] == -1.0
    assert last["pd_leg_dir"] == 1.0
    assert last["pd_in_ote"] == 1.0
    assert last["pd_ote_top"] == pytest.approx(110.5 - 0.62 * 11.0)
    assert last["pd_ote_bottom"] == pytest.approx(110.5 - 0.79 * 11.0)
    assert out["pd_in_ote"].iloc[17] == 0.0
    assert out["pd_zone"].iloc[17] == 1.0


def test_range_trails_a_new_high_and_restarts_at_a_new_swing_low() -> None:
    out = _run([*UP_THEN_BACK[:18], 109, 111, 112])
    assert out["pd_high"].tolist()[17:21] == [110.5, 110.5, 111.5, 112.5]
    # The dip at bar 17 (low 107.5) is a pivot low confirmed at bar 19.
    assert out["pd_low"].tolist()[17:21] == [99.5, 99.5, 107.5, 107.5]
    assert out["pd_pos"].iloc[20] == pytest.approx((112.0 - 107.5) / 5.0)


def test_equilibrium_band_marks_the_middle_as_zone_zero() -> None:
    mids = [*UP_THEN_BACK[:17], 108, 107, 106, 105.25]
    narrow = _run(mids)
    banded = _run(mids, equilibrium_band=0.1)
    assert narrow["pd_zone"].iloc[20] == 1.0  # 105.25 is just above 105
    assert banded["pd_zone"].iloc[20] == 0.0


def test_position_is_always_within_zero_and_one() -> None:
    from tests.features.smc.smc_helpers import random_candles

    out = premium_discount.compute(random_candles(3000, seed=2))
    pos = out["pd_pos"].dropna().to_numpy()
    assert pos.size > 2000
    assert ((pos >= 0.0) & (pos <= 1.0)).all()
    assert np.isfinite(out["pd_range_atr"].dropna()).all()


def test_config_validates_the_ote_band() -> None:
    with pytest.raises(ValueError, match="ote_low"):
        PremiumDiscountConfig(ote_low=0.8, ote_high=0.7)
