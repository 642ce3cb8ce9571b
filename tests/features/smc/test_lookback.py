"""Every core step reads no further back than its ``lookback``: run on a sliding window as short
as that, with NaN-poisoned padding before it, each gives exactly its batch columns."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from features.smc import (
    displacement,
    fvg,
    liquidity,
    order_blocks,
    premium_discount,
    structure,
    swings,
)
from features.smc import tables as tb
from features.smc.atr import atr_series
from features.smc.swings import SwingsConfig
from tests.features.smc.smc_helpers import random_candles

FRAME = random_candles(1500, seed=23, gaps=True)
SW = SwingsConfig(internal_left=3, internal_right=4, swing_left=9, swing_right=6)
_PAD = 4


def _windowed(
    step: Callable[..., None],
    window: int,
    state: np.ndarray,
    params: tuple,
    width: int,
    extra: Callable[[int], tuple],
) -> np.ndarray:
    ts = FRAME.index.asi8
    cols = [FRAME[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    atr = atr_series(cols[1], cols[2], cols[3], 14)
    out = np.empty((len(FRAME), width))
    for j in range(len(FRAME)):
        first = max(0, j - window + 1)
        size = _PAD + j + 1 - first
        buf_ts = np.full(size, -(2**62), dtype=np.int64)
        buf_ts[_PAD:] = ts[first : j + 1]
        bufs = []
        for src in (*cols, atr):
            buf = np.full(size, np.nan)
            buf[_PAD:] = src[first : j + 1]
            bufs.append(buf)
        row = np.empty(width)
        step(size - 1, j, buf_ts, *bufs, state, params, row, *extra(j))
        out[j] = row
    return out


def _rows(frame: pd.DataFrame) -> np.ndarray:
    return np.ascontiguousarray(frame.to_numpy())


def _no_log(_: int) -> tuple:
    return tb.no_log()


@pytest.mark.parametrize(
    "name",
    ["swings", "structure", "displacement", "fvg", "order_blocks", "liquidity", "premium_discount"],
)
def test_step_on_a_window_of_its_lookback_equals_its_batch_columns(name: str) -> None:
    sw = _rows(swings.compute(FRAME, SW))
    st = _rows(structure.compute(FRAME, swings_cfg=SW))
    dp = _rows(displacement.compute(FRAME))
    fv = _rows(fvg.compute(FRAME))
    log, logn = tb.no_log()
    cases = {
        "swings": (swings, SW, swings.lookback(SW), lambda j: (), swings.compute(FRAME, SW)),
        "structure": (
            structure,
            structure.StructureConfig(),
            1,
            lambda j: (sw[j],),
            structure.compute(FRAME, swings_cfg=SW),
        ),
        "displacement": (
            displacement,
            displacement.DisplacementConfig(),
            3,
            lambda j: (),
            displacement.compute(FRAME),
        ),
        "fvg": (fvg, fvg.FVGConfig(), 3, _no_log, fvg.compute(FRAME)),
        "order_blocks": (
            order_blocks,
            order_blocks.OrderBlocksConfig(),
            order_blocks.lookback(order_blocks.OrderBlocksConfig(), SW),
            lambda j: (sw[j], st[j], dp[j], fv[j], log, logn),
            order_blocks.compute(FRAME, swings_cfg=SW),
        ),
        "liquidity": (liquidity, liquidity.LiquidityConfig(), 7, _no_log, liquidity.compute(FRAME)),
        "premium_discount": (
            premium_discount,
            premium_discount.PremiumDiscountConfig(),
            1,
            lambda j: (sw[j],),
            premium_discount.compute(FRAME, swings_cfg=SW),
        ),
    }
    module, cfg, window, extra, batch = cases[name]
    if name not in ("order_blocks",):
        assert window == module.lookback(cfg)
    rows = _windowed(
        module.step,
        window,
        module.init_state(cfg),
        module.make_params(cfg),
        len(module.COLUMNS),
        extra,
    )
    np.testing.assert_array_equal(rows, batch.to_numpy())
