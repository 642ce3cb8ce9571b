"""Fair value gaps: known at the third candle, causal fill, filled/invalidated, inverse gaps."""

from __future__ import annotations

import numpy as np
import pytest

from features.smc import fvg
from features.smc.fvg import FVGConfig
from tests.features.smc.smc_helpers import candles, flat

# With flat bars of range 1 (ATR 1): candle A high 100.5, B a bullish impulse, C low 104.5 leaves
# the bullish gap [100.5, 104.5] (4 ATRs), known at C (bar 6).
A_B_C = [*flat(5, 100.0), [100.0, 105.0, 99.75, 104.75], [104.75, 105.5, 104.5, 105.25]]


def _run(rows: list, **kw: object):
    return fvg.compute(candles(rows), FVGConfig(**kw), atr_period=3)


def test_fvg_is_confirmed_on_third_candle() -> None:
    out = _run(A_B_C)
    assert np.flatnonzero(out["fvg_bull_new"].to_numpy()).tolist() == [6]
    assert out["fvg_new_size_atr"].iloc[6] == pytest.approx(4.0 / out_atr(A_B_C)[6])
    assert out["fvg_bull_count"].tolist()[5:7] == [0.0, 1.0]
    assert out["fvg_bull_bars_since"].iloc[6] == 0.0


def out_atr(rows: list) -> np.ndarray:
    from features.smc.atr import atr_series

    frame = candles(rows)
    return atr_series(frame.high.to_numpy(), frame.low.to_numpy(), frame.close.to_numpy(), 3)


def test_fvg_filled_half_reports_fill_of_one_half() -> None:
    rows = [*A_B_C, [105.0, 105.25, 102.5, 103.0]]  # low 102.5: half of [100.5, 104.5]
    out = _run(rows)
    assert out["fvg_bull_fill"].iloc[7] == 0.5
    assert out["fvg_bull_dist"].iloc[7] == 0.0  # the close is inside the gap
    assert out["fvg_bull_filled"].iloc[7] == 0.0
    assert out["fvg_bull_count"].iloc[7] == 1.0


def test_fill_is_the_deepest_so_far_and_never_decreases() -> None:
    rows = [*A_B_C, [105.0, 105.25, 102.5, 103.0], [103.0, 106.0, 102.75, 105.5]]
    out = _run(rows)
    assert out["fvg_bull_fill"].tolist()[6:9] == [0.0, 0.5, 0.5]


def test_wick_to_the_far_side_fills_and_retires_the_gap() -> None:
    rows = [*A_B_C, [105.0, 105.25, 100.25, 101.0]]
    out = _run(rows)
    assert out["fvg_bull_filled"].iloc[7] == 1.0
    assert out["fvg_bull_inverted"].iloc[7] == 0.0
    assert out["fvg_bull_count"].iloc[7] == 0.0
    assert np.isnan(out["fvg_bull_fill"].iloc[7])


def test_close_through_the_gap_turns_it_into_a_bearish_inverse_fvg() -> None:
    rows = [*A_B_C, [105.0, 105.25, 99.5, 100.0], [100.0, 101.0, 99.75, 100.5]]
    out = _run(rows)
    assert out["fvg_bull_inverted"].iloc[7] == 1.0
    assert out["fvg_ibear_count"].iloc[7] == 1.0
    # Price under the inverse gap [100.5, 104.5]: resistance 0 ATR away (close at its bottom).
    assert out["fvg_ibear_dist"].iloc[8] == 0.0


def test_inverse_gap_retires_when_price_closes_back_above_it() -> None:
    rows = [*A_B_C, [105.0, 105.25, 99.5, 100.0], [100.0, 105.0, 99.75, 104.75]]
    out = _run(rows)
    assert out["fvg_ibear_count"].tolist()[7:9] == [1.0, 0.0]


@pytest.mark.parametrize(("margin", "found"), [(-0.01, 1.0), (0.01, 0.0)])
def test_minimum_size_in_atr_at_the_third_candle(margin: float, found: float) -> None:
    size_in_atr = 4.0 / out_atr(A_B_C)[6]
    out = _run(A_B_C, min_size=size_in_atr + margin)
    assert out["fvg_bull_new"].iloc[6] == found


def test_minimum_size_in_basis_points_of_the_close() -> None:
    # The gap is 4.0 on a close of 105.25: 380 bps.
    assert _run(A_B_C, min_size=380.0, size_unit="bps")["fvg_bull_new"].iloc[6] == 1.0
    assert _run(A_B_C, min_size=381.0, size_unit="bps")["fvg_bull_new"].iloc[6] == 0.0


def test_bearish_middle_candle_blocks_a_bullish_gap_unless_allowed() -> None:
    rows = [*flat(5, 100.0), [103.0, 105.0, 99.75, 101.0], [104.75, 105.5, 104.5, 105.25]]
    assert _run(rows)["fvg_bull_new"].iloc[6] == 0.0
    assert _run(rows, require_middle_direction=False)["fvg_bull_new"].iloc[6] == 1.0


def test_bearish_gap_mirrors_the_bullish_one() -> None:
    rows = [
        *flat(5, 100.0),
        [100.0, 100.25, 95.0, 95.25],
        [95.25, 95.5, 94.5, 94.75],
        [94.75, 97.5, 94.75, 97.0],
    ]
    out = _run(rows)
    assert out["fvg_bear_new"].iloc[6] == 1.0  # gap [95.5, 99.5]
    assert out["fvg_bear_fill"].iloc[7] == 0.5


def test_size_zero_matches_the_reference_definition_shifted_to_the_third_candle() -> None:
    from tests.features.smc.smc_helpers import random_candles

    frame = random_candles(3000, seed=5)
    ours = fvg.compute(frame, FVGConfig(min_size=0.0))
    h, lo, o, c = (frame[k].to_numpy() for k in ("high", "low", "open", "close"))
    bull = np.zeros(len(frame))
    bull[2:] = (h[:-2] < lo[2:]) & (c[1:-1] > o[1:-1])
    bear = np.zeros(len(frame))
    bear[2:] = (lo[:-2] > h[2:]) & (c[1:-1] < o[1:-1])
    np.testing.assert_array_equal(ours["fvg_bull_new"].to_numpy(), bull)
    np.testing.assert_array_equal(ours["fvg_bear_new"].to_numpy(), bear)


def test_oldest_gap_is_evicted_when_the_table_is_full() -> None:
    rows = [*flat(5, 100.0)]
    price = 100.0
    for _ in range(4):  # four separate bullish gaps stacked upwards
        rows += [
            [price, price + 5.0, price - 0.25, price + 4.75],
            [price + 4.75, price + 5.5, price + 4.5, price + 5.25],
            [price + 5.25, price + 5.75, price + 5.0, price + 5.5],
        ]
        price += 5.5
    out = _run(rows, max_active=2)
    assert out["fvg_bull_new"].sum() == 4.0
    assert out["fvg_bull_count"].max() == 2.0


def test_config_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="size_unit"):
        FVGConfig(size_unit="pips")
    with pytest.raises(ValueError, match="min_size"):
        FVGConfig(min_size=-1.0)
