"""Candlestick patterns: hand-built candles with exact flags and strengths.

With ATR = 1 and a constant volume the volume score is 0.5, so
``strength = 0.5 * shape + 0.25 * min(1, range / 2) + 0.125``; the prices are binary fractions,
so every expected value below is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from features.candles.schema import CandleDataError
from features.smc import patterns
from features.smc.atr import atr_series
from features.smc.patterns import PatternsConfig
from tests.features.smc.module_contract import (
    BAD_INPUTS,
    assert_prefix_invariant,
    candle_frames,
    candles_from,
    random_candles,
    stream_rows,
)

Bar = tuple[float, ...]
FALLING: list[Bar] = [(20 - k, 20.5 - k, 19 - k, 19.5 - k) for k in range(7)]  # closes 19.5..13.5
RISING: list[Bar] = [(k, k + 1.5, k - 0.5, k + 1) for k in range(1, 8)]  # closes 2..8


def _last(rows: Sequence[Bar], atr: float = 1.0, cfg: PatternsConfig | None = None) -> pd.Series:
    """Return the pattern row of the last bar, with a constant ATR."""
    cfg = cfg or PatternsConfig()
    candles = candles_from(rows)
    out = stream_rows(patterns, cfg, candles, atr=np.full(len(rows), atr))
    return pd.Series(out[-1], index=list(patterns.COLUMNS))


def _strength(shape: float, rng: float, volume_score: float = 0.5) -> float:
    return 0.5 * shape + 0.25 * min(1.0, rng / 2.0) + 0.25 * volume_score


@pytest.mark.parametrize(
    ("prev", "bar", "value", "strength"),
    [
        # bearish body 0.5, then a bullish body 1.0 over it: shape 1 - 0.5 / 1 = 0.5, range 1.5
        ((10.5, 10.75, 9.875, 10.0), (9.75, 11.0, 9.5, 10.75), 1.0, _strength(0.5, 1.5)),
        # bullish body 0.5, then a bearish body 2.0: shape 0.75, range 2.5
        ((10.0, 10.625, 9.875, 10.5), (10.75, 11.0, 8.5, 8.75), -1.0, _strength(0.75, 2.5)),
    ],
)
def test_engulfing_has_direction_and_strength(
    prev: Bar, bar: Bar, value: float, strength: float
) -> None:
    row = _last([prev, bar])
    assert (row["pat_engulfing"], row["pat_engulfing_str"]) == (value, strength)


@pytest.mark.parametrize(
    ("prev", "bar", "why"),
    [
        ((10.5, 10.75, 9.875, 10.0), (10.0, 10.5, 10.0, 10.25), "a smaller body"),
        ((10.0, 10.75, 9.875, 10.5), (9.75, 11.0, 9.5, 10.75), "the same colour"),
        ((10.5, 10.75, 9.875, 10.0), (10.25, 11.0, 10.0, 10.75), "opens above the prior close"),
        ((10.125, 10.25, 9.875, 10.0), (9.875, 10.25, 9.75, 10.125), "body below 0.3 ATR"),
    ],
)
def test_no_engulfing(prev: Bar, bar: Bar, why: str) -> None:
    assert _last([prev, bar])["pat_engulfing"] == 0.0, why


@pytest.mark.parametrize(
    ("bar", "atr", "kind"),
    [
        ((10.75, 11.0, 10.0, 10.75), 1.0, patterns.DOJI_STANDARD),
        ((11.0, 11.0, 10.0, 11.0), 1.0, patterns.DOJI_DRAGONFLY),
        ((10.0, 11.0, 10.0, 10.0), 1.0, patterns.DOJI_GRAVESTONE),
        ((10.5, 11.0, 10.0, 10.5), 1.0, patterns.DOJI_LONG_LEGGED),
        ((10.5, 11.0, 10.0, 10.5), 2.0, patterns.DOJI_STANDARD),  # legs shorter than 1 ATR
    ],
)
def test_doji_kinds(bar: Bar, atr: float, kind: float) -> None:
    # Act
    row = _last([bar], atr=atr)

    # Assert: no body, so shape 1; range 1 vs ATR.
    assert (row["pat_doji"], row["pat_doji_kind"]) == (1.0, kind)
    assert row["pat_doji_str"] == 0.5 + 0.25 * min(1.0, 1.0 / (2 * atr)) + 0.125


def test_doji_strength_falls_with_the_body() -> None:
    # body 0.0625 of a range of 1: shape 1 - 0.0625 / 0.1
    row = _last([(10.5, 11.0, 10.0, 10.5625)])
    assert row["pat_doji"] == 1.0
    assert row["pat_doji_str"] == pytest.approx(_strength(1 - 0.0625 / 0.1, 1.0), abs=1e-15)


def test_no_doji_on_a_tiny_range_or_a_real_body() -> None:
    assert _last([(10.5, 10.625, 10.5, 10.5)])["pat_doji"] == 0.0  # range 0.125 < 0.3 ATR
    assert _last([(10.25, 11.0, 10.0, 10.75)])["pat_doji"] == 0.0  # body half the range


# Hammer shape: body 0.25 at the top, lower shadow 0.75 (shape 0.75), range 1.
HAMMER = (12.75, 13.0, 12.0, 13.0)
# Inverted shape: body 0.25 at the bottom, upper shadow 0.75.
INVERTED = (12.0, 13.0, 12.0, 12.25)


@pytest.mark.parametrize(
    ("trend", "bar", "column"),
    [
        (FALLING, HAMMER, "pat_hammer"),
        (RISING, HAMMER, "pat_hanging_man"),
        (FALLING, INVERTED, "pat_inverted_hammer"),
        (RISING, INVERTED, "pat_shooting_star"),
    ],
)
def test_hammer_family_is_named_by_shape_and_prior_trend(
    trend: list[Bar], bar: Bar, column: str
) -> None:
    # Act
    row = _last([*trend, bar])

    # Assert
    family = ["pat_hammer", "pat_hanging_man", "pat_inverted_hammer", "pat_shooting_star"]
    assert {c: row[c] for c in family} == {c: float(c == column) for c in family}
    assert row[f"{column}_str"] == _strength(0.75, 1.0)


def test_no_hammer_without_a_prior_trend_or_with_a_long_upper_shadow() -> None:
    assert _last([HAMMER])["pat_hammer"] == 0.0  # no history: no trend
    assert _last([*FALLING, (12.5, 13.0, 12.0, 12.75)])["pat_hammer"] == 0.0  # upper 0.25


@pytest.mark.parametrize(
    ("prev", "bar", "value", "shape"),
    [
        ((12.5, 13.5, 12.25, 13.0), (12.75, 13.0, 12.0, 13.0), 1.0, 0.75),  # nose below prev low
        ((12.5, 12.75, 11.5, 12.0), (12.25, 13.0, 12.0, 12.0), -1.0, 0.75),  # nose above prev high
    ],
)
def test_pin_bar_nose_must_stick_out(prev: Bar, bar: Bar, value: float, shape: float) -> None:
    row = _last([prev, bar])
    assert (row["pat_pin_bar"], row["pat_pin_bar_str"]) == (value, _strength(shape, 1.0))


def test_no_pin_bar_when_the_nose_stays_inside_the_previous_bar() -> None:
    assert _last([(12.5, 13.5, 11.5, 13.0), HAMMER])["pat_pin_bar"] == 0.0


def test_inside_bar_strength_uses_the_mother_bar() -> None:
    # range 1 inside a range of 2: shape 0.5, size from the mother bar's range 2
    row = _last([(10.5, 12.0, 10.0, 11.5), (11.0, 11.5, 10.5, 11.0)])
    assert (row["pat_inside"], row["pat_outside"]) == (1.0, 0.0)
    assert row["pat_inside_str"] == _strength(0.5, 2.0)


def test_outside_bar() -> None:
    # range 2 around a range of 0.5: shape 0.75
    row = _last([(11.0, 11.25, 10.75, 11.0), (11.0, 12.0, 10.0, 10.25)])
    assert (row["pat_inside"], row["pat_outside"]) == (0.0, 1.0)
    assert row["pat_outside_str"] == _strength(0.75, 2.0)


def test_equal_ranges_are_neither_inside_nor_outside() -> None:
    row = _last([(11.0, 12.0, 10.0, 11.0), (11.5, 12.0, 10.0, 10.5)])
    assert (row["pat_inside"], row["pat_outside"]) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("bars", "value", "shape"),
    [
        # long bearish 12 -> 10 (middle 11), star 9.75/9.5, bullish close 11.5: shape 0.5
        ([(12, 12, 10, 10), (9.75, 10, 9.25, 9.5), (9.75, 11.5, 9.5, 11.5)], 1.0, 0.5),
        # long bullish 10 -> 12, star 12.25/12.5, bearish close at the first open: shape 1
        ([(10, 12, 10, 12), (12.25, 12.75, 12.0, 12.5), (12.25, 12.5, 10.0, 10.0)], -1.0, 1.0),
    ],
)
def test_morning_and_evening_star(bars: list[Bar], value: float, shape: float) -> None:
    row = _last(bars)
    assert (row["pat_star"], row["pat_star_str"]) == (
        value,
        _strength(shape, 2.0 if value > 0 else 2.5),
    )


def test_no_star_when_the_star_body_is_too_big() -> None:
    bars: list[Bar] = [(12, 12, 10, 10), (10.0, 10.0, 9.0, 9.25), (9.5, 11.5, 9.5, 11.5)]
    assert _last(bars)["pat_star"] == 0.0  # star body 0.75 > 0.3 * 2


@pytest.mark.parametrize(
    ("bars", "value"),
    [
        ([(10, 11, 10, 11), (10.5, 11.5, 10.5, 11.5), (11, 12, 11, 12)], 1.0),
        ([(12, 12, 11, 11), (11.5, 11.5, 10.5, 10.5), (11, 11, 10, 10)], -1.0),
    ],
)
def test_three_soldiers_and_crows(bars: list[Bar], value: float) -> None:
    # all bodies fill their ranges: shape 1; range 1
    row = _last(bars)
    assert (row["pat_three"], row["pat_three_str"]) == (value, _strength(1.0, 1.0))


def test_no_soldiers_when_one_opens_above_the_previous_body() -> None:
    bars: list[Bar] = [(10, 11, 10, 11), (11.25, 12.25, 11.25, 12.25), (12, 13, 12, 13)]
    assert _last(bars)["pat_three"] == 0.0


def test_volume_score_compares_with_the_average_of_earlier_bars() -> None:
    # Arrange: volume 10 for a while (EMA 10), then a doji on volume 40.
    rows: list[Bar] = [(10.5, 10.75, 10.25, 10.5, 10.0)] * 5 + [(11.0, 11.0, 10.0, 11.0, 40.0)]

    # Act
    row = _last(rows)

    # Assert: volume score min(1, 40 / 20) = 1
    assert row["pat_doji_str"] == _strength(1.0, 1.0, volume_score=1.0)


def test_everything_is_nan_until_the_atr_is_known() -> None:
    # Act
    result = patterns.compute(random_candles(30, seed=5), PatternsConfig(atr_period=14))

    # Assert
    assert result.iloc[:13].isna().all().all()
    assert result.iloc[13:].notna().all().all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"doji_body": 0.0}, "doji_body"),
        ({"pin_nose": 1.0}, "pin_nose"),
        ({"min_range_atr": -1.0}, "min_range_atr"),
        ({"trend_bars": 0}, "trend_bars"),
        ({"volume_ema": 2.5}, "volume_ema"),
    ],
)
def test_bad_config_is_refused_naming_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=rf"PatternsConfig\.{field}"):
        PatternsConfig(**kwargs)  # type: ignore[arg-type]


def test_patterns_occur_on_random_data_and_strengths_stay_in_unit_interval() -> None:
    # Act
    result = patterns.compute(random_candles(5_000, seed=2)).iloc[20:]

    # Assert
    flags = [c for c in patterns.COLUMNS if not c.endswith(("_str", "_kind"))]
    assert (result[flags].abs().sum() > 0).all()
    strengths = result[[c for c in patterns.COLUMNS if c.endswith("_str")]].to_numpy()
    assert strengths.min() >= 0.0
    assert strengths.max() <= 1.0


def test_stream_equals_batch_with_snapshot_restore() -> None:
    # Arrange
    candles = random_candles(2_000, seed=13)
    cfg = PatternsConfig()
    batch = patterns.compute(candles, cfg)
    atr = atr_series(*(candles[c].to_numpy() for c in ("high", "low", "close")), 14)

    # Act
    streamed = stream_rows(patterns, cfg, candles, atr=atr, snapshot_at=1_000)

    # Assert
    np.testing.assert_array_equal(streamed, batch.to_numpy())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candles=candle_frames())
def test_prefix_invariance_on_random_candles(candles: pd.DataFrame) -> None:
    n = len(candles)
    assert_prefix_invariant(patterns.compute, candles, PatternsConfig(), [1, 2, 3, n // 2, n - 1])


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_a_clear_error(case: str) -> None:
    candles, message = BAD_INPUTS[case]
    with pytest.raises(CandleDataError, match=message):
        patterns.compute(candles)
