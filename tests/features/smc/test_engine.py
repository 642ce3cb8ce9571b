"""The whole engine: schema, prefix invariance (zero rewrites), stream equals batch."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import compact_frame, spec_of, to_float64
from features.smc import (
    SMCConfig,
    SMCStream,
    columns,
    compute_smc,
    context,
    crt,
    displacement,
    engine,
    fvg,
    liquidity,
    order_blocks,
    patterns,
    premium_discount,
    sessions,
    structure,
    swings,
)
from features.smc import tables as tb
from features.smc.fvg import FVGConfig
from features.smc.order_blocks import OrderBlocksConfig
from features.smc.structure import StructureConfig
from features.smc.swings import SwingsConfig
from features.smc.validate import candle_arrays
from tests.features.smc.smc_helpers import assert_same, random_candles, tick_grid_candles

SERIES = random_candles(6000, seed=7)
GAPPY = random_candles(3000, seed=11, gaps=True)
SMALL = SMCConfig(
    swings=SwingsConfig(internal_left=2, internal_right=2, swing_left=6, swing_right=4),
    fvg=FVGConfig(min_size=0.0, max_active=4),
    order_blocks=OrderBlocksConfig(max_active=3, zone="body", invalidate_on="wick"),
    structure=StructureConfig(break_on="wick"),
)


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    return compute_smc(SERIES)


def test_output_has_the_input_index_and_the_documented_columns(full: pd.DataFrame) -> None:
    assert full.index.equals(SERIES.index)
    assert tuple(full.columns) == columns()
    assert list(full.dtypes) == [spec_of(c).dtype for c in full.columns]
    assert len(set(full.columns)) == len(full.columns)


def test_columns_are_the_concepts_columns_in_kernel_order() -> None:
    expected = list(engine.ENGINE_COLUMNS)
    for module in (
        swings,
        structure,
        displacement,
        fvg,
        order_blocks,
        liquidity,
        premium_discount,
        sessions,
        crt,
        patterns,
        context,
    ):
        expected.extend(module.COLUMNS)
    assert list(columns()) == expected


def test_every_module_fires_on_a_long_random_walk(full: pd.DataFrame) -> None:
    events = [
        "swing_int_high_new",
        "struct_int_bos",
        "struct_int_choch",
        "disp_dir",
        "fvg_bull_new",
        "fvg_bear_inverted",
        "ob_bull_new",
        "ob_bear_mitigated",
        "liq_bsl_sweep",
        "liq_ssl_run",
        "liq_eqh_new",
        "liq_pdh_sweep",
    ]
    counts = {name: int((full[name] != 0).sum()) for name in events}
    assert all(count > 0 for count in counts.values()), counts


@pytest.mark.parametrize("k", [1, 2, 3, 13, 14, 15, 40, 41, 42, 97, 288, 289, 1000, 2016, 4321])
def test_prefix_gives_exactly_the_rows_of_the_full_run(full: pd.DataFrame, k: int) -> None:
    prefix = compute_smc(SERIES.iloc[:k])
    assert_same(prefix, full.iloc[:k])


def test_prefix_invariance_holds_for_many_random_cut_points(full: pd.DataFrame) -> None:
    cuts = np.random.default_rng(3).integers(1, len(SERIES), size=25)
    for k in cuts:
        assert_same(compute_smc(SERIES.iloc[: int(k)]), full.iloc[: int(k)])


def test_prefix_invariance_holds_with_time_gaps_and_small_tables() -> None:
    whole = compute_smc(GAPPY, SMALL)
    for k in (5, 77, 500, 1499, 2222):
        assert_same(compute_smc(GAPPY.iloc[:k], SMALL), whole.iloc[:k])


def _bars(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"timestamp": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for ts, (o, h, lo, c, v) in zip(frame.index, frame.to_numpy(), strict=True)
    ]


def test_stream_update_returns_exactly_the_batch_rows() -> None:
    frame = SERIES.iloc[:1500]
    batch = compute_smc(frame)
    stream = SMCStream()
    rows = [stream.update(bar) for bar in _bars(frame)]
    streamed = pd.DataFrame(rows, index=frame.index)
    assert_same(streamed, batch)
    assert stream.bars_seen == len(frame)


def test_stream_equals_batch_across_the_window_wraparound_with_small_config() -> None:
    batch = compute_smc(GAPPY, SMALL)
    stream = SMCStream(SMALL)
    values = GAPPY.to_numpy()
    rows = [stream.update_array(t, values[k]) for k, t in enumerate(GAPPY.index.asi8)]
    np.testing.assert_array_equal(np.vstack(rows), to_float64(batch))


def test_stream_resumes_exactly_after_snapshot_and_restore_midway(full: pd.DataFrame) -> None:
    stream = SMCStream()
    bars = _bars(SERIES.iloc[:3000])
    for bar in bars[:1234]:
        stream.update(bar)
    snap = pickle.loads(pickle.dumps(stream.snapshot()))
    resumed = SMCStream.restore(snap)
    rows = [resumed.update(bar) for bar in bars[1234:]]
    assert_same(pd.DataFrame(rows, index=SERIES.index[1234:3000]), full.iloc[1234:3000])
    # The original stream is untouched by the restored copy and continues identically.
    assert stream.update(bars[1234]) == pytest.approx(rows[0], nan_ok=True)


def test_update_frame_warms_a_stream_that_then_continues_bar_by_bar(full: pd.DataFrame) -> None:
    stream = SMCStream()
    first = stream.update_frame(SERIES.iloc[:2000])
    second = stream.update_frame(SERIES.iloc[2000:2003])
    values = SERIES.to_numpy()
    rest = [
        stream.update_array(t, values[k])
        for k, t in enumerate(SERIES.index.asi8)
        if 2003 <= k < 2600
    ]
    assert_same(first, full.iloc[:2000])
    assert_same(second, full.iloc[2000:2003])
    np.testing.assert_array_equal(np.vstack(rest), to_float64(full.iloc[2003:2600]))


def test_each_module_alone_gives_the_same_columns_as_the_engine(full: pd.DataFrame) -> None:
    cfg = SMCConfig()
    frame = SERIES.iloc[:2500]
    alone = {
        "swings": swings.compute(frame, cfg.swings),
        "structure": structure.compute(frame, cfg.structure, swings_cfg=cfg.swings),
        "displacement": displacement.compute(frame, cfg.displacement),
        "fvg": fvg.compute(frame, cfg.fvg),
        "order_blocks": order_blocks.compute(frame, cfg.order_blocks, swings_cfg=cfg.swings),
        "liquidity": liquidity.compute(frame, cfg.liquidity),
        "premium_discount": premium_discount.compute(
            frame, cfg.premium_discount, swings_cfg=cfg.swings
        ),
    }
    for result in alone.values():
        # A module alone gives float64; stored in the engine's dtypes it is the engine's output.
        stored = compact_frame(result.to_numpy(), list(result.columns), result.index)
        assert_same(stored, full.iloc[:2500][list(result.columns)])


def test_every_step_writes_every_column_on_every_bar() -> None:
    # The kernel does not pre-fill rows: a column a step forgot would keep a stale value.
    cfg = SMCConfig()
    lay = engine.layout(cfg)
    ts, o, h, lo, c, v = candle_arrays(SERIES.iloc[:3000], cfg.bar.ns)
    out = np.full((ts.shape[0], len(lay.columns)), 7.25e300)
    log, logn = tb.no_log()
    state = lay.fresh_state()
    bars = np.vstack([o, h, lo, c, v, np.empty(ts.shape[0])])
    sentinel_row = np.full(len(lay.columns), 7.25e300)
    for i in range(ts.shape[0]):
        # Run one bar at a time with a sentinel-filled row.
        row = sentinel_row.copy()
        engine._bar(
            i, i, ts, bars, state, lay.s_off, row, lay.c_off, lay.params, log, logn, engine.ALL_ON
        )
        out[i] = row
    missing = [lay.columns[k] for k in np.flatnonzero((out == 7.25e300).any(axis=0))]
    assert missing == []


def test_warm_flag_turns_on_after_the_deepest_lookback_and_atr(full: pd.DataFrame) -> None:
    warm = full["smc_warm"].to_numpy()
    first = int(np.argmax(warm == 1.0))
    assert first == engine.layout(SMCConfig()).warmup - 1
    assert (warm[first:] == 1.0).all()
    assert (warm[:first] == 0.0).all()


def test_batch_output_columns_of_one_dtype_share_one_buffer(full: pd.DataFrame) -> None:
    for dtype in engine.DTYPE_GROUPS:
        same = [c for c in full.columns if full[c].dtype == dtype]
        # Each column is a row of its dtype's (columns, bars) array: no copy, no consolidation.
        bases = {id(full[c].to_numpy().base) for c in same}
        assert len(bases) == 1, dtype


def _frame_from(steps: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    price = 100.0
    rows = []
    for drift, up, down, vol in steps:
        open_ = price
        close = max(open_ + drift, 1.0)
        rows.append((open_, max(open_, close) + up, max(min(open_, close) - down, 0.5), close, vol))
        price = close
    index = pd.date_range("2024-03-29 21:00", periods=len(rows), freq="5min", tz="UTC")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=index)


candle_steps = st.lists(
    st.tuples(
        st.floats(-3.0, 3.0, allow_nan=False, width=32),
        st.floats(0.0, 2.0, allow_nan=False, width=32),
        st.floats(0.0, 2.0, allow_nan=False, width=32),
        st.floats(0.0, 1000.0, allow_nan=False, width=32),
    ),
    min_size=1,
    max_size=260,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=candle_steps, data=st.data())
def test_prefix_invariance_on_generated_candles(steps: list, data: st.DataObject) -> None:
    frame = _frame_from(steps)
    k = data.draw(st.integers(1, len(frame)))
    whole = compute_smc(frame, SMALL)
    assert_same(compute_smc(frame.iloc[:k], SMALL), whole.iloc[:k])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=candle_steps)
def test_stream_equals_batch_on_generated_candles(steps: list) -> None:
    frame = _frame_from(steps)
    stream = SMCStream(SMALL)
    values = frame.to_numpy()
    rows = [stream.update_array(t, values[k]) for k, t in enumerate(frame.index.asi8)]
    np.testing.assert_array_equal(np.vstack(rows), to_float64(compute_smc(frame, SMALL)))


@pytest.mark.parametrize("cfg", [SMCConfig(), SMALL], ids=["default", "small"])
def test_every_step_writes_every_column_every_bar(cfg: SMCConfig) -> None:
    """The batch kernel writes rows straight into uninitialised output: nothing may be left."""
    lay = engine.layout(cfg)
    ts, o, h, lo, c, v = candle_arrays(GAPPY, cfg.bar.ns)
    rows = []
    for fill in (np.inf, -np.inf):
        # A scratch row per bar: each row is written once, by that bar's steps.
        out = np.full((ts.shape[0], len(lay.columns)), fill)
        log, logn = tb.no_log()
        bars = np.vstack([o, h, lo, c, v, np.empty(ts.shape[0])])
        args = (ts, bars, 0, 0, 0, lay.fresh_state(), lay.s_off, lay.c_off)
        groups = lay.new_output(ts.shape[0])
        engine.run(*args, lay.params, out, groups, *engine.NO_VALUES, log, logn, 0, engine.ALL_ON)
        rows.append(out)
    np.testing.assert_array_equal(rows[0], rows[1])
    assert not np.isinf(rows[0]).any()


def test_a_market_printing_one_price_has_no_atr_and_no_infinities() -> None:
    index = pd.date_range("2024-03-04", periods=600, freq="5min", tz="UTC", name="ts")
    one_price = pd.DataFrame(
        {"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0, "volume": 0.0}, index=index
    )
    one_price.iloc[300:, :4] = 101.0  # one jump, then flat again
    result = compute_smc(one_price)
    atr = result["ctx_atr"]
    assert atr.iloc[:300].isna().all()  # a zero ATR is no ATR: nothing is scaled by it
    assert (atr.iloc[300:] > 0).all()  # the jump's range, decaying
    assert result["swing_int_high_dist"].iloc[:300].isna().all()
    assert not np.isinf(result.to_numpy()).any()
    assert result["smc_warm"].iloc[-1] == 1.0
    assert_same(SMCStream().update_frame(one_price), result)


@pytest.mark.parametrize("p_flat", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("seed", range(4))
def test_tick_grid_markets_never_raise_nor_give_infinities(seed: int, p_flat: float) -> None:
    result = compute_smc(tick_grid_candles(3000, seed, tick=0.5, p_flat=p_flat))
    assert not np.isinf(result.to_numpy()).any()
