"""compute_mtf: causal (no HTF peek, prefix invariant), exact incrementally, bounded confluence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.mtf import (
    ConfluenceWeights,
    MTFConfig,
    compute_mtf,
    input_window,
    output_columns,
)
from features.mtf.inputs import ATR_COLUMN
from tests.features.mtf.builders import flat_frame, market_frames

COMPONENTS = ("mtf_comp_htf_bias", "mtf_comp_smc", "mtf_comp_technical", "mtf_comp_session")


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Assert two frames are identical: index, columns and every value bit for bit."""
    assert a.index.equals(b.index)
    assert list(a.columns) == list(b.columns)
    x, y = a.to_numpy(), b.to_numpy()
    same = (x.view(np.int64) == y.view(np.int64)) | (np.isnan(x) & np.isnan(y))
    if not same.all():
        row, col = np.argwhere(~same)[0]
        raise AssertionError(
            f"{a.columns[col]} differs at {a.index[row]}: {x[row, col]!r} != {y[row, col]!r}"
        )


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return market_frames()


@pytest.fixture(scope="module")
def full(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return compute_mtf(frames, "5m")


# --- the peeking case -------------------------------------------------------------------------


def _flip_case() -> dict[str, pd.DataFrame]:
    """Return 5m bars and 1h candles whose structure flips bearish -> bullish in one 1h candle.

    The 1h candle opening at 2024-01-02 01:00 (row 25 from 2024-01-01 00:00) is the first
    bullish one; it closes at 02:00.
    """
    hours = 30
    trend = np.where(np.arange(hours) >= 25, 1.0, -1.0)
    hour = flat_frame(
        "2024-01-01 00:00", hours, "1h", struct_ext_trend=trend, struct_int_trend=trend
    )
    five = flat_frame("2024-01-01 00:00", hours * 12, "5min")
    return {"5m": five, "1h": hour}


def test_hour_candle_that_flips_the_bias_is_seen_only_from_the_bar_closing_with_it() -> None:
    # Arrange
    frames = _flip_case()

    # Act
    result = compute_mtf(frames, "5m")

    # Assert: bars closing before 02:00 still read the bearish candle of 00:00-01:00.
    bias = result["h1_bias"]
    assert bias.loc["2024-01-02 01:45"] == -1.0
    assert bias.loc["2024-01-02 01:50"] == -1.0  # closes 01:55: one bar before the 1h close
    assert bias.loc["2024-01-02 01:55"] == 1.0  # closes 02:00, with the bullish 1h candle
    assert result["mtf_direction"].loc["2024-01-02 01:50"] == -1.0
    assert result["mtf_direction"].loc["2024-01-02 01:55"] == 1.0
    flips = bias.diff().fillna(0.0) != 0.0
    assert bias.index[flips.to_numpy()].tolist() == [pd.Timestamp("2024-01-02 01:55", tz="UTC")]


def test_adding_hour_candles_that_have_not_closed_changes_nothing() -> None:
    # Arrange: the same 5m bars, with 1h candles cut at the last one closed by 01:55's close.
    frames = _flip_case()
    cut = {"5m": frames["5m"].loc[:"2024-01-02 01:50"], "1h": frames["1h"]}

    # Act
    result = compute_mtf(cut, "5m")

    # Assert
    assert (result["h1_bias"].dropna() == -1.0).all()


# --- zones and ranges, by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "close", "expected"),
    [
        (1.5, 98.0, 0.0),  # zone top at 100 - 1.5 * 2 = 97: not reached
        (1.5, 97.0, 1.0),  # touching the top
        (1.5, 95.0, 1.0),  # inside (or through: the far edge is unknown)
        (0.0, 120.0, 1.0),  # the HTF candle closed inside the zone
        (np.nan, 97.0, 0.0),  # no live zone
    ],
)
def test_bullish_order_block_flag_follows_the_trading_close_to_the_zone_edge(
    dist: float, close: float, expected: float
) -> None:
    # Arrange: one 1h candle (close 100, ATR 2) seen by the 5m bars of the next hour.
    hour = flat_frame("2024-01-01 00:00", 1, "1h", **{ATR_COLUMN: 2.0, "ob_bull_dist": dist})
    five = flat_frame("2024-01-01 00:00", 24, "5min", close=close, low=min(close, 99.0))

    # Act
    flag = compute_mtf({"5m": five, "1h": hour}, "5m")["h1_in_ob_bull"]

    # Assert
    assert flag.iloc[:11].isna().all()  # before the 1h close nothing is known
    assert (flag.iloc[11:] == expected).all()


@pytest.mark.parametrize(("close", "expected"), [(103.9, 0.0), (104.0, 1.0), (106.0, 1.0)])
def test_bearish_fvg_flag_is_set_from_the_zone_bottom_up(close: float, expected: float) -> None:
    # Arrange: bearish FVG 2 ATRs above the 1h close: its bottom at 104.
    hour = flat_frame("2024-01-01 00:00", 1, "1h", **{ATR_COLUMN: 2.0, "fvg_bear_dist": -2.0})
    five = flat_frame("2024-01-01 00:00", 13, "5min", close=close, high=max(close, 101.0))

    # Act
    result = compute_mtf({"5m": five, "1h": hour}, "5m")

    # Assert
    assert result["h1_in_fvg_bear"].iloc[-1] == expected


@pytest.mark.parametrize(
    ("close", "pos", "zone"),
    [(90.0, 0.0, -1.0), (95.0, 0.25, -1.0), (100.0, 0.5, 0.0), (108.0, 0.9, 1.0),
     (130.0, 1.0, 1.0)],
)  # fmt: skip
def test_trading_close_is_placed_in_the_higher_timeframe_dealing_range(
    close: float, pos: float, zone: float
) -> None:
    # Arrange: 4h dealing range 90..110.
    four = flat_frame("2024-01-01 00:00", 1, "4h")
    five = flat_frame(
        "2024-01-01 00:00", 49, "5min", close=close, high=max(close, 101.0), low=min(close, 99.0)
    )

    # Act
    last = compute_mtf({"5m": five, "4h": four}, "5m").iloc[-1]

    # Assert
    assert last["h4_pd_pos"] == pytest.approx(pos)
    assert last["h4_pd_zone"] == zone


# --- causality on a realistic market ----------------------------------------------------------


def test_output_has_the_trading_index_and_the_documented_float_columns(
    frames: dict[str, pd.DataFrame], full: pd.DataFrame
) -> None:
    # Assert
    assert full.index.equals(frames["5m"].index)
    assert tuple(full.columns) == output_columns("5m", ["15m", "1h", "4h", "1d"])
    assert (full.dtypes == np.float64).all()
    assert set(COMPONENTS) <= set(full.columns)
    assert full["mtf_confluence"].iloc[-2000:].notna().all()


@pytest.mark.parametrize("k", [1, 2, 13, 97, 288, 500, 1234, 2881, 5000, 8000, 11519])
def test_every_prefix_gives_exactly_the_full_rows(
    frames: dict[str, pd.DataFrame], full: pd.DataFrame, k: int
) -> None:
    # Arrange: everything known at the close of the k-th 5m bar.
    cut = frames["5m"].index[k - 1] + pd.Timedelta("5min")
    prefix = {tf: frame[frame.index + pd.Timedelta(tf) <= cut] for tf, frame in frames.items()}

    # Act
    result = compute_mtf(prefix, "5m")

    # Assert
    _same(result, full.iloc[:k])


@pytest.mark.parametrize("k", [1, 700, 6000])
def test_higher_timeframe_candles_after_the_bar_do_not_leak_into_it(
    frames: dict[str, pd.DataFrame], full: pd.DataFrame, k: int
) -> None:
    # Arrange: a 5m prefix, but every higher timeframe in full (closing up to 40 days later).
    prefix = {**frames, "5m": frames["5m"].iloc[:k]}

    # Act
    result = compute_mtf(prefix, "5m")

    # Assert
    _same(result, full.iloc[:k])


@pytest.mark.parametrize(
    ("day", "until"),
    [("2024-02-25", "2024-02-26"), ("2024-03-02", "2024-03-03"), ("2024-03-10", "2024-03-12")],
)
def test_recomputing_a_span_with_the_documented_lookback_is_bit_identical(
    frames: dict[str, pd.DataFrame], full: pd.DataFrame, day: str, until: str
) -> None:
    # Arrange
    start, end = pd.Timestamp(day, tz="UTC"), pd.Timestamp(until, tz="UTC")
    window = input_window(frames, "5m", start, end)

    # Act
    result = compute_mtf(window, "5m")

    # Assert
    span = full.index[(full.index >= start) & (full.index < end)]
    assert len(window["5m"]) == len(span) + MTFConfig().lookback_bars("5m", "5m") - 1
    assert len(window["1d"]) <= MTFConfig().lookback_bars("1d", "5m") + 2
    _same(result.loc[span], full.loc[span])


@pytest.mark.parametrize("tf", ["5m", "15m", "1h", "4h", "1d"])
def test_one_row_less_than_the_lookback_changes_the_first_row(
    frames: dict[str, pd.DataFrame], tf: str
) -> None:
    # Arrange: the documented window minus the oldest row of one timeframe. A huge
    # trend_full_atr keeps the trend vote from saturating, so that losing it shows.
    config = MTFConfig(trend_full_atr=1e6)
    start = pd.Timestamp("2024-03-02", tz="UTC")
    window = input_window(frames, "5m", start, start + pd.Timedelta("1D"), config)
    window[tf] = window[tf].iloc[1:]

    # Act
    result = compute_mtf(window, "5m", config)

    # Assert: the lookback is tight, so the first bar of the span loses a value.
    first = result.index[result.index >= start][0]
    full_first = compute_mtf(frames, "5m", config).loc[first]
    assert not np.array_equal(result.loc[first].to_numpy(), full_first.to_numpy(), equal_nan=True)


def test_input_window_keeps_all_rows_when_the_history_is_short(
    frames: dict[str, pd.DataFrame],
) -> None:
    # Arrange
    start = frames["5m"].index[10]

    # Act
    window = input_window(frames, "5m", start, start + pd.Timedelta("1h"))

    # Assert
    assert window["5m"].index[0] == frames["5m"].index[0]
    assert len(window["5m"]) == 22


# --- confluence ---------------------------------------------------------------------------------


def test_confluence_is_the_weighted_sum_of_its_components(full: pd.DataFrame) -> None:
    # Arrange
    w = MTFConfig().weights
    weights = np.array([w.htf_bias, w.smc, w.technical, w.session])

    # Act
    expected = full[list(COMPONENTS)].to_numpy() @ weights

    # Assert
    score = full["mtf_confluence"].to_numpy()
    np.testing.assert_allclose(score, expected, rtol=1e-12, atol=1e-15)
    assert np.nanmin(score) >= 0.0
    assert np.nanmax(score) <= 1.0
    for name in COMPONENTS:
        values = full[name].dropna()
        assert values.between(0.0, 1.0).all(), name
        assert values.nunique() > 1, name


weight_sets = st.lists(st.integers(0, 100), min_size=4, max_size=4).filter(lambda v: sum(v) > 0)


@settings(max_examples=25, deadline=None)
@given(raw=weight_sets)
def test_confluence_stays_in_unit_interval_for_any_valid_weights(
    frames: dict[str, pd.DataFrame], raw: list[int]
) -> None:
    # Arrange
    total = sum(raw)
    parts = [r / total for r in raw[:3]]
    weights = ConfluenceWeights(*parts, session=1.0 - sum(parts))
    sample = {tf: frame.loc["2024-03-01":"2024-03-04"] for tf, frame in frames.items()}

    # Act
    score = compute_mtf(sample, "5m", MTFConfig(weights=weights))["mtf_confluence"].dropna()

    # Assert
    assert len(score) > 0
    assert score.between(0.0, 1.0).all()


def test_weights_change_the_score_but_not_the_components(
    frames: dict[str, pd.DataFrame], full: pd.DataFrame
) -> None:
    # Arrange
    only_session = MTFConfig(weights=ConfluenceWeights(0.0, 0.0, 0.0, 1.0))

    # Act
    result = compute_mtf(frames, "5m", only_session)

    # Assert
    _same(result[list(COMPONENTS)], full[list(COMPONENTS)])
    np.testing.assert_array_equal(result["mtf_confluence"], full["mtf_comp_session"])


def test_alignment_counts_timeframes_agreeing_with_the_direction(full: pd.DataFrame) -> None:
    # Arrange
    biases = full[["m5_bias", "m15_bias", "h1_bias", "h4_bias", "d1_bias"]].to_numpy()
    direction = full["mtf_direction"].to_numpy()

    # Act
    expected = ((biases == direction[:, None]) & (direction[:, None] != 0)).sum(axis=1)

    # Assert
    known = ~np.isnan(direction)
    np.testing.assert_array_equal(full["mtf_alignment"].to_numpy()[known], expected[known])
    assert (full["mtf_align_bull"] + full["mtf_align_bear"]).max() <= 5


def test_regime_flag_marks_trends_and_ranges(full: pd.DataFrame) -> None:
    # Act
    regime = full["mtf_regime"].dropna()
    efficiency = full["mtf_efficiency"].loc[regime.index]

    # Assert
    assert set(regime.unique()) == {-1.0, 0.0, 1.0}
    assert (regime[efficiency.abs() >= 0.3] == np.sign(efficiency[efficiency.abs() >= 0.3])).all()
    assert (regime[efficiency.abs() < 0.3] == 0.0).all()


def test_without_higher_timeframes_the_trading_bias_sets_the_direction(
    frames: dict[str, pd.DataFrame],
) -> None:
    # Act
    result = compute_mtf({"5m": frames["5m"]}, "5m")

    # Assert
    assert tuple(result.columns) == output_columns("5m")
    known = result["mtf_direction"].notna()
    np.testing.assert_array_equal(result["mtf_direction"][known], result["m5_bias"][known])


def test_lower_timeframes_than_the_trading_one_are_ignored(
    frames: dict[str, pd.DataFrame],
) -> None:
    # Arrange
    sample = {tf: frame.loc["2024-03-01":"2024-03-03"] for tf, frame in frames.items()}
    without_5m = {tf: frame for tf, frame in sample.items() if tf != "5m"}

    # Act
    result = compute_mtf(sample, "15m")

    # Assert
    _same(result, compute_mtf(without_5m, "15m"))
    assert not any(c.startswith("m5_") for c in result.columns)


# --- bad input ----------------------------------------------------------------------------------


def test_missing_trading_timeframe_is_named() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=r"trading timeframe '15m' is not in frames"):
        compute_mtf({"5m": flat_frame("2024-01-01", 3, "5min")}, "15m")


def test_missing_column_is_named_with_its_timeframe() -> None:
    # Arrange
    hour = flat_frame("2024-01-01", 3, "1h").drop(columns=["pd_pos"])

    # Act / Assert
    with pytest.raises(ValueError, match=r"frames\['1h'\] is missing column\(s\) \['pd_pos'\]"):
        compute_mtf({"5m": flat_frame("2024-01-01", 3, "5min"), "1h": hour}, "5m")


def test_two_keys_for_one_timeframe_are_refused() -> None:
    # Arrange
    hour = flat_frame("2024-01-01", 3, "1h")

    # Act / Assert
    with pytest.raises(ValueError, match="two keys for the same timeframe"):
        compute_mtf({"5m": flat_frame("2024-01-01", 3, "5min"), "1h": hour, "60m": hour}, "5m")


def test_unsorted_index_is_named() -> None:
    # Arrange
    five = flat_frame("2024-01-01", 5, "5min").iloc[::-1]

    # Act / Assert
    with pytest.raises(ValueError, match=r"frames\['5m'\]: index must be strictly increasing"):
        compute_mtf({"5m": five}, "5m")


def test_config_of_the_wrong_type_is_refused() -> None:
    # Act / Assert
    with pytest.raises(TypeError, match="config must be an MTFConfig"):
        compute_mtf({"5m": flat_frame("2024-01-01", 3, "5min")}, "5m", {"trend_window": 3})  # type: ignore[arg-type]


@pytest.mark.parametrize("start", ["2024-03-02", pd.Timestamp("2024-03-02"), "yesterday-ish"])
def test_input_window_needs_a_tz_aware_start(
    frames: dict[str, pd.DataFrame], start: object
) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="input_window: start must be a tz-aware timestamp"):
        input_window(frames, "5m", start)  # type: ignore[arg-type]


def _random_frame(rng: np.random.Generator, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Return a frame with every read column filled with random but plausible values."""
    n = len(index)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    dist = rng.normal(0.0, 2.0, (4, n))
    dist[rng.random((4, n)) < 0.2] = 0.0
    dist[rng.random((4, n)) < 0.2] = np.nan
    frame = flat_frame(
        "2024-01-01",
        n,
        "5min",
        close=close,
        high=close * 1.002,
        low=close * 0.998,
        struct_ext_trend=rng.integers(-1, 2, n).astype(float),
        struct_int_trend=rng.integers(-1, 2, n).astype(float),
        pd_pos=np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        pd_high=close * 1.05,
        pd_low=close * 0.95,
        ob_bull_dist=np.abs(dist[0]),
        ob_bear_dist=-np.abs(dist[1]),
        fvg_bull_dist=np.abs(dist[2]),
        fvg_bear_dist=-np.abs(dist[3]),
        sess_kz_london=(rng.random(n) < 0.2).astype(float),
        sess_london=(rng.random(n) < 0.4).astype(float),
        liq_ssl_sweep_bars_since=rng.integers(0, 40, n).astype(float),
        liq_bsl_sweep_bars_since=rng.integers(0, 40, n).astype(float),
        **{ATR_COLUMN: close * 0.004},
    )
    frame.index = index
    return frame


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    base_minutes=st.sampled_from([5, 15]),
    factors=st.lists(st.sampled_from([3, 4, 12, 48]), min_size=1, max_size=3, unique=True),
    n=st.integers(30, 400),
    drop=st.sampled_from([0.0, 0.1]),
)
def test_prefix_invariance_holds_on_random_frames_and_timeframes(
    seed: int, base_minutes: int, factors: list[int], n: int, drop: float
) -> None:
    # Arrange: random trading frame with holes, and random higher-timeframe frames.
    rng = np.random.default_rng(seed)
    config = MTFConfig(trend_window=5, tech_window=8, regime_window=6, vol_short=3, vol_long=9)
    start = pd.Timestamp("2024-03-09 20:00", tz="UTC")
    index = pd.date_range(start, periods=n, freq=f"{base_minutes}min", tz="UTC", name="ts")
    frames = {f"{base_minutes}m": _random_frame(rng, index[rng.random(n) >= drop])}
    for factor in factors:
        minutes = base_minutes * factor
        htf_index = pd.date_range(
            start - pd.Timedelta(minutes=minutes), periods=n // factor + 2, freq=f"{minutes}min",
            tz="UTC", name="ts",
        )  # fmt: skip
        frames[f"{minutes}m"] = _random_frame(rng, htf_index)
    trading = f"{base_minutes}m"
    full = compute_mtf(frames, trading, config)
    cuts = sorted(set(rng.integers(1, len(frames[trading]) + 1, 5).tolist()))

    for k in cuts:
        # Act: everything known at the close of the k-th trading bar.
        close = frames[trading].index[k - 1] + pd.Timedelta(minutes=base_minutes)
        prefix = {
            tf: f[f.index + pd.Timedelta(tf.replace("m", "min")) <= close]
            for tf, f in frames.items()
        }
        result = compute_mtf(prefix, trading, config)

        # Assert
        _same(result, full.iloc[:k])
