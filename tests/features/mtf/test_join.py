"""Point-in-time join: a higher-timeframe candle is visible only from the bar closing with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.candles.schema import CandleDataError, Timeframe
from features.mtf import htf_asof_join, tf_prefix, visible_rows


def _frame(start: str, periods: int, freq: str, **columns: object) -> pd.DataFrame:
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="ts")
    return pd.DataFrame(columns or {"x": np.arange(periods, dtype=float)}, index=index)


@pytest.mark.parametrize(
    ("tf", "prefix"),
    [("1m", "m1_"), ("5m", "m5_"), ("15m", "m15_"), ("60m", "h1_"), ("1h", "h1_"),
     ("4h", "h4_"), ("1d", "d1_"), ("24h", "d1_"), ("1w", "w1_"), ("90m", "m90_")],
)  # fmt: skip
def test_prefix_names_the_timeframe_in_its_largest_whole_unit(tf: str, prefix: str) -> None:
    # Act / Assert
    assert tf_prefix(tf) == prefix


def test_hour_candle_is_first_seen_by_the_five_minute_bar_that_closes_with_it() -> None:
    # Arrange: 5m bars 10:00..11:55; 1h candles opening 09:00, 10:00, 11:00.
    base = _frame("2024-01-02 10:00", 24, "5min")
    hour = _frame("2024-01-02 09:00", 3, "1h", close=[1.0, 2.0, 3.0])

    # Act
    joined = htf_asof_join(base, hour, "1h", "h1_")

    # Assert: the 10:00 candle closes at 11:00, i.e. with the 5m bar opening 10:55.
    seen = joined["h1_close"]
    assert list(joined.columns) == ["h1_close"]
    assert seen.loc["2024-01-02 10:00"] == 1.0
    assert seen.loc["2024-01-02 10:50"] == 1.0
    assert seen.loc["2024-01-02 10:55"] == 2.0
    assert seen.loc["2024-01-02 11:50"] == 2.0
    assert seen.loc["2024-01-02 11:55"] == 3.0


def test_bars_before_the_first_higher_timeframe_close_get_nan() -> None:
    # Arrange
    base = _frame("2024-01-02 00:00", 12, "5min")
    hour = _frame("2024-01-02 00:00", 1, "1h", close=[7.0])

    # Act
    seen = htf_asof_join(base, hour, "1h", "h1_", base_timeframe="5m")["h1_close"]

    # Assert
    assert seen.iloc[:11].isna().all()
    assert seen.iloc[11] == 7.0


def test_join_keeps_the_base_index_and_non_numeric_columns() -> None:
    # Arrange
    base = _frame("2024-01-02 00:00", 6, "15min")
    hour = _frame("2024-01-01 23:00", 2, "1h", label=["a", "b"], flag=[True, False])

    # Act
    joined = htf_asof_join(base, hour, "1h", "x_")

    # Assert
    assert joined.index.equals(base.index)
    assert joined["x_label"].tolist() == ["a", "a", "a", "b", "b", "b"]
    assert joined["x_flag"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_empty_higher_timeframe_gives_all_nan() -> None:
    # Arrange
    base = _frame("2024-01-02 00:00", 4, "5min")
    empty = _frame("2024-01-02 00:00", 0, "1h", close=np.array([], dtype=float))

    # Act
    joined = htf_asof_join(base, empty, "1h", "h1_")

    # Assert
    assert joined["h1_close"].isna().all()


@pytest.mark.parametrize(
    ("base", "htf", "kwargs", "message"),
    [
        (_frame("2024-01-02", 3, "5min").tz_localize(None), _frame("2024-01-02", 2, "1h"), {},
         "htf_asof_join base: index must be a tz-aware"),
        (_frame("2024-01-02", 3, "5min"), _frame("2024-01-02", 2, "1h").iloc[::-1], {},
         "htf_asof_join htf: index must be strictly increasing"),
        (_frame("2024-01-02", 1, "5min"), _frame("2024-01-02", 2, "1h"), {},
         "cannot infer the timeframe from fewer than 2 rows"),
        (_frame("2024-01-02", 3, "5min"), _frame("2024-01-02", 2, "1h"),
         {"base_timeframe": "5x"}, "unknown timeframe '5x'"),
    ],
)  # fmt: skip
def test_bad_input_raises_an_error_naming_the_problem(
    base: pd.DataFrame, htf: pd.DataFrame, kwargs: dict[str, str], message: str
) -> None:
    # Act / Assert
    with pytest.raises(CandleDataError, match=message):
        htf_asof_join(base, htf, "1h", "h1_", **kwargs)


def _brute_force(base_close: np.ndarray, htf_close: np.ndarray) -> np.ndarray:
    out = np.full(base_close.shape, -1)
    for i, close in enumerate(base_close):
        closed = np.flatnonzero(htf_close <= close)
        out[i] = closed[-1] if closed.size else -1
    return out


@st.composite
def _timeframe_pairs(draw: st.DrawFn) -> tuple[pd.DatetimeIndex, str, pd.DatetimeIndex, str]:
    base_minutes = draw(st.sampled_from([1, 3, 5, 15, 30, 60]))
    factor = draw(st.sampled_from([1, 2, 3, 4, 12, 24]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    base_n = draw(st.integers(1, 300))
    htf_minutes = base_minutes * factor
    start = pd.Timestamp("2024-03-10 00:00", tz="UTC") + pd.Timedelta(
        minutes=htf_minutes * draw(st.integers(0, 5))
    )
    base_index = pd.date_range(start, periods=base_n, freq=f"{base_minutes}min", tz="UTC")
    base_index = base_index[rng.random(base_n) >= draw(st.sampled_from([0.0, 0.2, 0.6]))]
    htf_n = base_n // factor + 3
    htf_start = start - pd.Timedelta(minutes=htf_minutes * draw(st.integers(0, 2)))
    htf_index = pd.date_range(htf_start, periods=htf_n, freq=f"{htf_minutes}min", tz="UTC")
    htf_index = htf_index[rng.random(htf_n) >= draw(st.sampled_from([0.0, 0.3]))]
    return base_index, f"{base_minutes}m", htf_index, f"{htf_minutes}m"


@settings(max_examples=150, deadline=None)
@given(case=_timeframe_pairs())
def test_higher_timeframe_row_is_never_visible_before_its_close(
    case: tuple[pd.DatetimeIndex, str, pd.DatetimeIndex, str],
) -> None:
    # Arrange
    base_index, base_tf, htf_index, htf_tf = case
    base = pd.DataFrame(index=base_index)
    htf_close_ns = htf_index.asi8 + Timeframe.parse(htf_tf).ns
    htf = pd.DataFrame({"close_ns": htf_close_ns.astype(float)}, index=htf_index)
    base_close_ns = base_index.asi8 + Timeframe.parse(base_tf).ns

    # Act
    joined = htf_asof_join(base, htf, htf_tf, "h_", base_timeframe=base_tf)
    rows = visible_rows(
        base_index.asi8, Timeframe.parse(base_tf), htf_index.asi8, Timeframe.parse(htf_tf)
    )

    # Assert: the row seen closed at or before the bar's close, and it is the latest such row.
    seen = joined["h_close_ns"].to_numpy()
    known = ~np.isnan(seen)
    assert (seen[known] <= base_close_ns[known]).all()
    np.testing.assert_array_equal(rows, _brute_force(base_close_ns, htf_close_ns))
    np.testing.assert_array_equal(known, rows >= 0)
