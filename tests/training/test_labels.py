"""Triple-barrier labels and sample uniqueness weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import BarrierConfig, ConfigError
from training.labels import LABEL_COLUMNS, triple_barrier, uniqueness_weights

TF = 300 * 10**9  # 5m in ns
START = pd.Timestamp("2024-01-01", tz="UTC")


def candles(
    rows: list[tuple[float, float, float, float]], missing: tuple[int, ...] = ()
) -> pd.DataFrame:
    """Candles from (open, high, low, close) rows, 5m apart; ``missing`` bar numbers skipped."""
    slots = [k for k in range(len(rows) + len(missing)) if k not in missing]
    index = pd.DatetimeIndex([START + pd.Timedelta(minutes=5 * k) for k in slots], name="ts")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)


FLAT = (100.0, 100.5, 99.5, 100.0)
CFG = BarrierConfig(horizon_bars=3, stop_atr=1.0, target_atr=2.0)


def first_label(bars: list[tuple[float, float, float, float]], **kwargs: object) -> pd.Series:
    frame = candles(bars)
    labels = triple_barrier(frame, kwargs.pop("config", CFG), timeframe_ns=TF, **kwargs)  # type: ignore[arg-type]
    assert labels.index[0] == frame.index[0]
    return labels.iloc[0]


@pytest.mark.parametrize(
    ("bars", "outcome", "exit_price", "bars_held"),
    [
        # decision close 100, ATR 1: stop 99, target 102
        ([FLAT, (100.0, 102.5, 99.8, 102.0), FLAT, FLAT], 1, 102.0, 1),
        ([FLAT, (100.0, 100.5, 98.9, 99.0), FLAT, FLAT], -1, 99.0, 1),
        # both barriers inside one bar: the stop is assumed first (the engine's worst case)
        ([FLAT, (100.0, 103.0, 98.0, 101.0), FLAT, FLAT], -1, 99.0, 1),
        # neither within the horizon: the vertical barrier at bar t+3's close
        ([FLAT, FLAT, FLAT, (100.0, 100.5, 99.5, 100.4), FLAT], 0, 100.4, 3),
        # a gap through the stop exits at the open, not at the stop
        ([FLAT, FLAT, (98.0, 98.5, 97.0, 98.0), FLAT], -1, 98.0, 2),
        # a gap through the target exits at the open
        ([FLAT, (103.0, 104.0, 102.5, 103.5), FLAT, FLAT], 1, 103.0, 1),
        # touching the target is not trading through it (target_fill="through")
        ([FLAT, (100.0, 102.0, 99.5, 101.0), (101.0, 101.5, 99.5, 100.0), FLAT], 0, 100.0, 3),
    ],
)
def test_long_barriers_resolve_like_the_engine(
    bars: list[tuple[float, float, float, float]], outcome: int, exit_price: float, bars_held: int
) -> None:
    # Arrange
    atr = np.ones(len(bars))
    # Act
    label = first_label(bars, atr=atr)
    # Assert
    assert label["outcome"] == outcome
    assert label["exit_price"] == pytest.approx(exit_price)
    assert label["bars"] == bars_held
    assert label["ret"] == pytest.approx(exit_price / 100.0 - 1.0)
    assert label["r"] == pytest.approx(exit_price - 100.0)  # risk is 1 price unit


def test_touch_fill_takes_a_target_the_bar_only_touched() -> None:
    bars = [FLAT, (100.0, 102.0, 99.5, 101.0), FLAT, FLAT]
    config = BarrierConfig(horizon_bars=3, target_fill="touch")
    label = first_label(bars, atr=np.ones(4), config=config)
    assert (label["outcome"], label["exit_price"]) == (1, 102.0)


def test_short_side_mirrors_the_barriers_and_still_takes_the_stop_first() -> None:
    # Arrange: short from 100: stop 101, target 98; the bar reaches both
    bars = [FLAT, (100.0, 101.5, 97.5, 99.0), FLAT, FLAT]
    # Act
    label = first_label(bars, atr=np.ones(4), side=np.array([-1.0, 0, 0, 0]))
    # Assert
    assert (label["side"], label["outcome"], label["exit_price"]) == (-1, -1, 101.0)
    assert label["ret"] == pytest.approx(-(101.0 / 100.0 - 1.0))
    assert label["r"] == pytest.approx(-1.0)


def test_given_stop_and_target_prices_override_atr_and_cost_is_subtracted() -> None:
    # Arrange: a structure stop at 99.5 and a 2R target at 101
    bars = [FLAT, (100.0, 101.2, 99.8, 101.0), FLAT, FLAT]
    nan = np.nan
    config = BarrierConfig(horizon_bars=3, cost=0.001)
    # Act
    label = first_label(
        bars, config=config, stop=np.array([99.5, nan, nan, nan]),
        target=np.array([101.0, nan, nan, nan]),
    )  # fmt: skip
    # Assert
    assert label["outcome"] == 1
    assert label["ret"] == pytest.approx(0.01 - 0.001)
    assert label["r"] == pytest.approx((0.01 - 0.001) / 0.005)


def test_label_time_is_the_close_of_the_resolving_bar() -> None:
    bars = [FLAT, FLAT, (100.0, 102.5, 99.8, 102.0), FLAT]
    frame = candles(bars)
    labels = triple_barrier(frame, CFG, timeframe_ns=TF, atr=np.ones(4))
    first = labels.iloc[0]
    assert first["event_timestamp"] == START + pd.Timedelta(minutes=5)
    assert first["label_time"] == frame.index[2] + pd.Timedelta(minutes=5)
    assert list(labels.columns) == list(LABEL_COLUMNS)


def test_no_label_across_a_missing_candle_or_past_the_data_or_without_atr() -> None:
    # Arrange: bar 2 is missing; nothing resolves within 3 bars
    frame = candles([FLAT] * 8, missing=(2,))
    atr = np.ones(8)
    atr[5] = np.nan
    # Act
    labels = triple_barrier(frame, CFG, timeframe_ns=TF, atr=atr)
    # Assert: rows 0 and 1 would span the gap, 5 has no ATR, 6 and 7 run past the data
    assert labels["decision_bar"].tolist() == [2, 3, 4]
    assert (labels["outcome"] == 0).all()


def test_a_stop_on_the_wrong_side_of_the_close_is_refused_naming_the_row() -> None:
    frame = candles([FLAT] * 4)
    with pytest.raises(ValueError, match=r"row 1\) side \+1"):
        triple_barrier(
            frame, CFG, timeframe_ns=TF, stop=np.array([99.0, 100.5, 99.0, 99.0]),
            target=np.full(4, 101.0),
        )  # fmt: skip


def test_barrier_config_is_validated_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"BarrierConfig\.horizon_bars"):
        BarrierConfig(horizon_bars=0)
    with pytest.raises(ConfigError, match=r"BarrierConfig\.target_fill"):
        BarrierConfig(target_fill="maybe")


@st.composite
def markets(draw: st.DrawFn) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, BarrierConfig]:
    n = draw(st.integers(2, 60))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0.0, 0.002, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    missing = tuple(sorted(set(rng.integers(1, n, draw(st.integers(0, 2))).tolist())))
    frame = candles(list(zip(open_, high, low, close, strict=True)), missing)
    atr = close * rng.uniform(0.002, 0.02, n)
    side = rng.choice([-1.0, 0.0, 1.0], n)
    config = BarrierConfig(
        horizon_bars=draw(st.integers(1, 10)),
        stop_atr=draw(st.floats(0.2, 3.0)),
        target_atr=draw(st.floats(0.2, 3.0)),
        target_fill=draw(st.sampled_from(["through", "touch"])),
    )
    return frame, atr, side, config


@settings(max_examples=60, deadline=None)
@given(markets())
def test_labels_resolve_after_the_decision_within_the_horizon_with_consistent_signs(
    market: tuple[pd.DataFrame, np.ndarray, np.ndarray, BarrierConfig],
) -> None:
    frame, atr, side, config = market
    labels = triple_barrier(frame, config, timeframe_ns=TF, atr=atr, side=side)
    tf = pd.Timedelta(TF, unit="ns")
    assert (labels["label_time"] > labels["event_timestamp"]).all()
    assert (labels["label_time"] <= labels["event_timestamp"] + config.horizon_bars * tf).all()
    assert (labels["label_time"] - labels["event_timestamp"] == labels["bars"] * tf).all()
    assert set(labels["outcome"].unique()) <= {-1, 0, 1}
    assert (labels["ret"][labels["outcome"] == 1] > 0).all()
    assert (labels["ret"][labels["outcome"] == -1] < 0).all()
    assert (labels["side"] != 0).all()


@settings(max_examples=60, deadline=None)
@given(markets(), st.integers(1, 60))
def test_a_label_depends_only_on_the_bars_up_to_its_label_time(
    market: tuple[pd.DataFrame, np.ndarray, np.ndarray, BarrierConfig], cut: int
) -> None:
    # Arrange
    frame, atr, side, config = market
    full = triple_barrier(frame, config, timeframe_ns=TF, atr=atr, side=side)
    m = min(cut, len(frame))
    # Act: the same computation on the first m bars only
    prefix = triple_barrier(frame.iloc[:m], config, timeframe_ns=TF, atr=atr[:m], side=side[:m])
    # Assert: every label resolved within the prefix is the same; no other label appears
    expected = full[full["exit_bar"] < m]
    pd.testing.assert_frame_equal(prefix, expected)


@pytest.mark.parametrize(
    ("start", "end", "weights", "concurrency"),
    [
        ([0, 2], [1, 3], [1.0, 1.0], [1, 1, 1, 1]),
        ([0, 0, 0], [1, 1, 1], [1 / 3, 1 / 3, 1 / 3], [3, 3]),
        ([0, 1], [1, 2], [0.75, 0.75], [1, 2, 1]),
        ([1], [1], [1.0], [0, 1]),
    ],
)
def test_uniqueness_is_the_mean_inverse_concurrency_over_each_span(
    start: list[int], end: list[int], weights: list[float], concurrency: list[int]
) -> None:
    result = uniqueness_weights(np.array(start), np.array(end))
    np.testing.assert_allclose(result.weights, weights)
    np.testing.assert_array_equal(result.concurrency, concurrency)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 8)), min_size=1, max_size=40))
def test_uniqueness_matches_the_definition_bar_by_bar(spans: list[tuple[int, int]]) -> None:
    start = np.array([a for a, _ in spans])
    end = np.array([a + w for a, w in spans])
    result = uniqueness_weights(start, end, n_bars=60)
    cover = np.zeros(60)
    for a, b in zip(start, end, strict=True):
        cover[a : b + 1] += 1
    np.testing.assert_array_equal(result.concurrency, cover)
    expected = [np.mean(1.0 / cover[a : b + 1]) for a, b in zip(start, end, strict=True)]
    np.testing.assert_allclose(result.weights, expected)
    assert ((result.weights > 0) & (result.weights <= 1 + 1e-12)).all()


def test_uniqueness_refuses_reversed_spans() -> None:
    with pytest.raises(ValueError, match=r"label 1 spans bars 5\.\.3"):
        uniqueness_weights(np.array([0, 5]), np.array([1, 3]))
