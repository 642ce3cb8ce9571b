"""Candle range theory: HTF candles built causally from base bars, signal at the completing bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.candles.schema import CandleDataError
from features.smc import crt
from features.smc.crt import CRTConfig
from tests.features.smc.module_contract import (
    BAD_INPUTS,
    assert_prefix_invariant,
    candle_frames,
    candles_from,
    random_candles,
    stream_rows,
)

CFG = CRTConfig(timeframe="15m", htf="1h")
SETUP = ["crt_range_high", "crt_range_low", "crt_target", "crt_stop"]


def _hour(o: float, h: float, low: float, c: float) -> list[tuple[float, float, float, float]]:
    """Four 15m bars whose hourly candle is (o, h, low, c)."""
    return [(o, h, o, o), (o, o, low, o), (o, o, o, o), (o, max(o, c), min(o, c), c)]


def _run(
    *hours: tuple[float, float, float, float], start: str = "2024-01-02 00:00"
) -> pd.DataFrame:
    rows = [bar for hour in hours for bar in _hour(*hour)]
    return crt.compute(candles_from(rows, start=start, freq="15min"), CFG)


def test_bearish_crt_is_signalled_at_the_bar_that_closes_the_sweeping_hour() -> None:
    # Arrange: hour A spans 100..110; hour B takes 110 (to 112), keeps above 100, closes at 106.

    # Act
    result = _run((105, 110, 100, 108), (108, 112, 104, 106))

    # Assert
    np.testing.assert_array_equal(result["crt_signal"], [0, 0, 0, 0, 0, 0, 0, -1])
    np.testing.assert_array_equal(result["crt_dir"], [0, 0, 0, 0, 0, 0, 0, -1])
    assert result[SETUP].iloc[:7].isna().all().all()
    np.testing.assert_array_equal(result[SETUP].iloc[7], [110, 100, 100, 112])
    assert (result["crt_bars_since"].iloc[7], result["crt_outcome"].iloc[7]) == (0, 0)
    np.testing.assert_array_equal(result["crt_htf_high"], [np.nan] * 3 + [110] * 4 + [112])
    np.testing.assert_array_equal(result["crt_htf_low"], [np.nan] * 3 + [100] * 4 + [104])


def test_bullish_crt_targets_the_previous_high() -> None:
    # Act
    result = _run((105, 110, 100, 102), (102, 106, 98, 103))

    # Assert
    assert result["crt_signal"].iloc[7] == 1.0
    np.testing.assert_array_equal(result[SETUP].iloc[7], [110, 100, 110, 98])


@pytest.mark.parametrize(
    ("second_hour", "why"),
    [
        ((108, 113, 97, 106), "both sides taken: an outside candle is no CRT"),
        ((108, 112, 104, 111), "closed above the previous high"),
        ((101, 106, 99, 98), "closed below the previous low"),
        ((104, 109, 101, 106), "nothing swept"),
        ((108, 110, 104, 106), "touching the high is no sweep"),
    ],
)
def test_no_crt_without_a_one_sided_sweep_and_a_close_back_inside(
    second_hour: tuple[float, float, float, float], why: str
) -> None:
    result = _run((105, 110, 100, 108), second_hour)
    assert (result["crt_signal"] == 0).all(), why


def test_outcome_records_target_hit_after_the_signal() -> None:
    # Arrange: bearish CRT (target 100, stop 112), then bars falling to the target.
    rows = [*_hour(105, 110, 100, 108), *_hour(108, 112, 104, 106)]
    rows += [(106, 106, 103, 103), (103, 103, 100, 101), (101, 111, 101, 110)]
    candles = candles_from(rows, freq="15min")

    # Act
    result = crt.compute(candles, CFG)

    # Assert
    np.testing.assert_array_equal(result["crt_outcome"].iloc[7:], [0, 0, 1, 1])
    np.testing.assert_array_equal(result["crt_bars_since"].iloc[7:], [0, 1, 2, 3])


@pytest.mark.parametrize(
    ("bar", "outcome"),
    [
        ((106, 112.5, 105, 112), -1.0),  # trades beyond the sweep extreme
        ((106, 112, 105, 111), 0.0),  # touching the stop is not beyond it
        ((106, 113, 99, 105), -1.0),  # both in one bar: the failure counts
    ],
)
def test_outcome_failure_beyond_the_sweep_extreme(
    bar: tuple[float, float, float, float], outcome: float
) -> None:
    rows = [*_hour(105, 110, 100, 108), *_hour(108, 112, 104, 106), bar]
    result = crt.compute(candles_from(rows, freq="15min"), CFG)
    assert result["crt_outcome"].iloc[8] == outcome


def test_a_partial_first_hour_is_never_a_previous_range() -> None:
    # Arrange: data starts at 00:15, so the first hour has 3 of its 4 bars.
    rows = [*_hour(105, 110, 100, 108)[1:], *_hour(108, 112, 104, 106)]
    candles = candles_from(rows, start="2024-01-02 00:15", freq="15min")

    # Act
    result = crt.compute(candles, CFG)

    # Assert
    assert (result["crt_signal"] == 0).all()
    assert result["crt_htf_high"].iloc[:6].isna().all()
    assert result["crt_htf_high"].iloc[6] == 112.0


def test_an_hour_with_a_hole_breaks_the_chain() -> None:
    rows = [*_hour(105, 110, 100, 108), *_hour(108, 112, 104, 106)]
    candles = candles_from(rows, freq="15min").drop(pd.Timestamp("2024-01-02 00:30", tz="UTC"))
    result = crt.compute(candles, CFG)
    assert (result["crt_signal"] == 0).all()
    assert result["crt_htf_high"].iloc[-1] == 112.0  # the later hour is complete


def test_weekly_candles_start_on_monday() -> None:
    # Arrange: 14 daily bars from Monday 2024-01-01; week 2 sweeps week 1's high.
    rows = [(105, 110, 100, 108)] + [(105, 105, 105, 105)] * 6
    rows += [(108, 112, 104, 106)] + [(106, 106, 106, 106)] * 6
    candles = candles_from(rows, start="2024-01-01", freq="1D")

    # Act
    result = crt.compute(candles, CRTConfig(timeframe="1d", htf="1w"))

    # Assert: the signal is on Sunday 2024-01-14, the bar that closes the week.
    assert result["crt_signal"].iloc[13] == -1.0
    assert (result["crt_signal"].iloc[:13] == 0).all()
    assert result["crt_htf_high"].iloc[6] == 110.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeframe": "5m", "htf": "7m"}, "htf"),
        ({"timeframe": "1h", "htf": "1h"}, "htf"),
        ({"timeframe": "1h", "htf": "30m"}, "htf"),
        ({"timeframe": "5x", "htf": "1h"}, "timeframe"),
        ({"timeframe": "5m", "htf": ""}, "htf"),
    ],
)
def test_bad_config_is_refused_naming_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=rf"CRTConfig\.{field}"):
        CRTConfig(**kwargs)


def test_bars_closer_than_the_base_timeframe_are_refused() -> None:
    with pytest.raises(CandleDataError, match="less than the configured timeframe"):
        crt.compute(random_candles(20, seed=3, freq="5min"), CFG)


def test_stream_equals_batch_with_snapshot_restore() -> None:
    candles = random_candles(3_000, seed=11, freq="15min", drop=0.02, vol=0.004)
    batch = crt.compute(candles, CFG).to_numpy()
    assert np.abs(batch[:, 0]).sum() > 20  # the data has setups to track
    np.testing.assert_array_equal(stream_rows(crt, CFG, candles, snapshot_at=1_501), batch)


@pytest.mark.parametrize(("freq", "base", "htf"), [("5min", "5m", "1h"), ("15min", "15m", "4h")])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_prefix_invariance_and_stream_equality_on_random_candles(
    freq: str, base: str, htf: str, data: st.DataObject
) -> None:
    candles = data.draw(candle_frames(max_size=300, freqs=[freq]))
    cfg = CRTConfig(timeframe=base, htf=htf)
    n = len(candles)
    assert_prefix_invariant(crt.compute, candles, cfg, [1, n // 3, n // 2, n - 1])
    np.testing.assert_array_equal(stream_rows(crt, cfg, candles), crt.compute(candles, cfg))


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_a_clear_error(case: str) -> None:
    candles, message = BAD_INPUTS[case]
    with pytest.raises(CandleDataError, match=message):
        crt.compute(candles, CFG)
