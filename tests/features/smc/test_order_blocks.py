"""Order blocks: the last opposite candle before the leg that breaks structure, known at the break;
touches, mitigation depth, invalidation into breaker blocks."""

from __future__ import annotations

import numpy as np
import pytest

from features.smc import order_blocks
from features.smc.atr import atr_series
from features.smc.order_blocks import OrderBlocksConfig
from features.smc.swings import SwingsConfig
from tests.features.smc.smc_helpers import DOWN_THEN_UP, candles, zigzag

SW = SwingsConfig(internal_left=2, internal_right=2, swing_left=3, swing_right=3)
LAST_BEARISH = [100.5, 100.75, 99.5, 99.75]  # bar 18, the low of the leg: the bullish block
PULLBACK = [
    [104.0, 104.5, 103.5, 104.0],  # 26
    [102.0, 102.25, 100.5, 101.0],  # 27: first touch, 20% deep
    [101.0, 101.5, 100.0, 100.5],  # 28: 60% deep, mitigated
    [100.5, 100.75, 98.5, 99.0],  # 29: closes below the block: invalidated, a bearish breaker
]


def _rows(extra: list[list[float]] | None = None) -> list[list[float]]:
    rows = zigzag(DOWN_THEN_UP)
    rows[18] = LAST_BEARISH
    return rows + (extra or [])


def _run(rows: list[list[float]], **kw: object):
    cfg = OrderBlocksConfig(levels="internal", **kw)
    return order_blocks.compute(candles(rows), cfg, swings_cfg=SW, atr_period=3)


def test_textbook_bullish_order_block_is_the_last_bearish_candle_known_at_the_choch() -> None:
    rows = _rows()
    out = _run(rows)
    assert np.flatnonzero(out["ob_bull_new"].to_numpy()).tolist() == [24]
    frame = candles(rows)
    atr = atr_series(frame.high.to_numpy(), frame.low.to_numpy(), frame.close.to_numpy(), 3)
    assert out["ob_bull_dist"].iloc[24] == pytest.approx((106.0 - 100.75) / atr[24])
    assert out["ob_bull_state"].iloc[24] == 0.0
    assert out["ob_bull_count"].tolist()[23:25] == [0.0, 1.0]
    # Leg of 6.5 over an ATR near 1.5 caps the displacement part (0.4); relative volume 1 of a
    # cap of 2 gives 0.3 * 0.5; no FVG in a leg of dojis.
    assert out["ob_new_strength"].iloc[24] == pytest.approx(55.0)
    assert out["ob_new_relvol"].iloc[24] == 1.0


def test_block_is_touched_then_mitigated_then_invalidated_into_a_breaker() -> None:
    out = _run(_rows(PULLBACK))
    assert out["ob_bull_touch"].tolist()[26:30] == [0.0, 1.0, 0.0, 0.0]
    assert out["ob_bull_state"].tolist()[26:29] == [0.0, 1.0, 2.0]
    assert out["ob_bull_depth"].iloc[27] == pytest.approx(0.2)
    assert out["ob_bull_depth"].iloc[28] == pytest.approx(0.6)
    assert out["ob_bull_mitigated"].tolist()[27:29] == [0.0, 1.0]
    assert out["ob_bull_touches"].iloc[28] == 1.0
    assert out["ob_bull_invalidated"].iloc[29] == 1.0
    assert out["ob_bull_count"].iloc[29] == 0.0
    assert out["ob_brk_bear_count"].iloc[29] == 1.0
    # The breaker [99.5, 100.75] is resistance 0.5 above the close of 99.0... in ATRs.
    assert out["ob_brk_bear_dist"].iloc[29] < 0.0


def test_strength_decays_with_touches() -> None:
    out = _run(_rows(PULLBACK))
    at_touch = out["ob_bull_strength"].iloc[27]
    before = out["ob_bull_strength"].iloc[26]
    assert at_touch < before * 0.76


def test_body_zone_uses_open_and_close() -> None:
    out = order_blocks.compute(
        candles(_rows(PULLBACK)),
        OrderBlocksConfig(levels="internal", zone="body"),
        swings_cfg=SW,
        atr_period=3,
    )
    # Body [99.75, 100.5]: the touch at bar 27 (low 100.5) is 0% deep, bar 28 (100.0) 2/3.
    assert out["ob_bull_depth"].iloc[27] == 0.0
    assert out["ob_bull_depth"].iloc[28] == pytest.approx(2.0 / 3.0)


@pytest.mark.parametrize(
    "kw", [{"require_displacement": True}, {"min_relvol": 1.5}], ids=["displacement", "volume"]
)
def test_filters_drop_blocks_without_displacement_or_volume(kw: dict) -> None:
    out = _run(_rows(), **kw)
    assert out["ob_bull_new"].sum() == 0.0


def test_bearish_blocks_form_at_bearish_breaks_and_die_into_bullish_breakers() -> None:
    out = _run(_rows())
    assert np.flatnonzero(out["ob_bear_new"].to_numpy()).tolist() == [9, 16]
    # The second bearish block is bar 13's range [104.5, 105.5]: the rally closes above it.
    assert out["ob_bear_touch"].tolist()[21:24] == [0.0, 1.0, 0.0]  # high 104.5 reaches it
    assert out["ob_bear_invalidated"].iloc[24] == 1.0
    assert out["ob_brk_bull_count"].iloc[24] == 1.0


def test_wick_invalidation_needs_only_a_wick_beyond_the_block() -> None:
    rows = _rows([[104.0, 104.5, 103.5, 104.0], [102.0, 102.25, 99.25, 100.0]])
    by_close = _run(rows)
    by_wick = _run(rows, invalidate_on="wick")
    assert by_close["ob_bull_invalidated"].iloc[27] == 0.0
    assert by_wick["ob_bull_invalidated"].iloc[27] == 1.0


def test_config_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="levels"):
        OrderBlocksConfig(levels="all")
    with pytest.raises(ValueError, match="sum to 1"):
        OrderBlocksConfig(w_disp=0.9)
    with pytest.raises(ValueError, match="mitigation"):
        OrderBlocksConfig(mitigation=0.0)
