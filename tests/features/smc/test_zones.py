"""detect_zones: records with formation, confirmation and lifecycle times; prefix invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.smc import SMCConfig, detect_zones
from features.smc.order_blocks import OrderBlocksConfig
from features.smc.swings import SwingsConfig
from features.smc.zones import EVENT_FIELDS, RECORD_COLUMNS
from tests.features.smc.smc_helpers import DOWN_THEN_UP, candles, random_candles, zigzag

CFG = SMCConfig(
    atr_period=3,
    swings=SwingsConfig(internal_left=2, internal_right=2, swing_left=3, swing_right=3),
    order_blocks=OrderBlocksConfig(levels="internal"),
)


def _ob_frame() -> pd.DataFrame:
    rows = zigzag(DOWN_THEN_UP)
    rows[18] = [100.5, 100.75, 99.5, 99.75]
    rows += [
        [104.0, 104.5, 103.5, 104.0],
        [102.0, 102.25, 100.5, 101.0],
        [101.0, 101.5, 100.0, 100.5],
        [100.5, 100.75, 98.5, 99.0],
    ]
    return candles(rows)


@pytest.fixture(scope="module")
def ob_zones() -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    frame = _ob_frame()
    return detect_zones(frame, CFG), frame.index


def test_records_have_the_documented_columns(ob_zones: tuple) -> None:
    zones, _ = ob_zones
    assert tuple(zones.columns) == RECORD_COLUMNS
    assert zones["confirmed_at"].is_monotonic_increasing


def test_order_block_record_carries_its_whole_life(ob_zones: tuple) -> None:
    zones, ts = ob_zones
    block = zones[(zones.kind == "order_block") & (zones.direction == 1.0)]
    assert len(block) == 1
    rec = block.iloc[0]
    assert (rec.top, rec.bottom, rec.level) == (100.75, 99.5, "internal")
    assert (rec.formed_at, rec.confirmed_at) == (ts[18], ts[24])
    assert (rec.touched_at, rec.mitigated_at, rec.invalidated_at) == (ts[27], ts[28], ts[29])
    assert pd.isna(rec.filled_at)
    assert pd.isna(rec.expired_at)
    assert rec.strength == pytest.approx(55.0)


def test_invalidated_block_becomes_a_breaker_record(ob_zones: tuple) -> None:
    zones, ts = ob_zones
    breaker = zones[(zones.kind == "breaker") & (zones.confirmed_at == ts[29])].iloc[0]
    assert breaker.direction == -1.0
    assert (breaker.top, breaker.bottom, breaker.formed_at) == (100.75, 99.5, ts[18])


def test_structure_breaks_and_swings_are_records_too(ob_zones: tuple) -> None:
    zones, ts = ob_zones
    choch = zones[(zones.kind == "choch") & (zones.level == "internal")].iloc[0]
    assert (choch.direction, choch.top, choch.formed_at, choch.confirmed_at) == (
        1.0,
        105.5,
        ts[13],
        ts[24],
    )
    bos = zones[(zones.kind == "bos") & (zones.level == "internal")]
    assert bos.confirmed_at.tolist() == [ts[9], ts[16]]
    assert bos.formed_at.tolist() == [ts[4], ts[11]]
    swing = zones[(zones.kind == "swing_high") & (zones.level == "internal")].iloc[0]
    assert (swing.formed_at, swing.confirmed_at, swing.top) == (ts[6], ts[8], 108.5)


def test_pools_report_sweeps_and_equal_counts() -> None:
    frame = random_candles(3000, seed=21)
    zones = detect_zones(frame)
    pools = zones[zones.kind == "liquidity"]
    assert pools["count"].min() >= 1.0
    assert (pools["count"] >= 2.0).any()
    assert pools["swept_at"].notna().any()
    assert pools["invalidated_at"].notna().any()
    both = pools["swept_at"].notna() & pools["invalidated_at"].notna()
    assert not both.any()  # a pool is taken once: by a sweep or by a run
    days = zones[zones.kind == "prev_day"]
    assert set(days.direction) == {1.0, -1.0}
    assert (days.formed_at.dt.hour == 0).all()


FULL_FRAME = random_candles(2500, seed=13)


@pytest.fixture(scope="module")
def full_zones() -> pd.DataFrame:
    return detect_zones(FULL_FRAME)


@pytest.mark.parametrize("k", [50, 333, 1000, 1777, 2499])
def test_zone_fields_known_by_a_prefix_end_never_change(full_zones: pd.DataFrame, k: int) -> None:
    end = FULL_FRAME.index[k - 1]
    prefix = detect_zones(FULL_FRAME.iloc[:k]).reset_index(drop=True)
    known = full_zones[full_zones.confirmed_at <= end].reset_index(drop=True)
    assert len(prefix) == len(known)
    static = [
        "kind",
        "direction",
        "level",
        "top",
        "bottom",
        "formed_at",
        "confirmed_at",
        "strength",
        "zone_id",
    ]
    pd.testing.assert_frame_equal(prefix[static], known[static])
    for field in EVENT_FIELDS:
        expected = known[field].where(known[field] <= end)
        pd.testing.assert_series_equal(prefix[field], expected, check_names=False)
    assert (prefix["count"].fillna(0) <= known["count"].fillna(0)).all()


def test_zone_ids_are_unique_for_tracked_zones(full_zones: pd.DataFrame) -> None:
    ids = full_zones["zone_id"].dropna()
    assert ids.is_unique
    assert (
        len(ids)
        == full_zones.kind.isin(
            ["order_block", "breaker", "fvg", "inverse_fvg", "liquidity", "prev_day", "prev_week"]
        ).sum()
    )


def test_a_long_series_grows_the_event_log_without_losing_events() -> None:
    frame = random_candles(12000, seed=17)
    zones = detect_zones(frame)
    assert len(zones) > 5000
    assert np.isfinite(zones["top"]).all()
