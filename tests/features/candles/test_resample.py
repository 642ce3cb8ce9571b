"""Resampling: exact aggregation, closed periods only, UTC grid, prefix invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.candles.resample import resample_all, resample_candles
from features.candles.schema import OHLCV, CandleDataError, Timeframe


def candles(start: str, n: int, step: str = "1min", seed: int = 0) -> pd.DataFrame:
    """Build ``n`` consistent random candles every ``step`` from ``start`` (UTC)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=step, tz="UTC", name="ts")
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
            "low": np.minimum(open_, close) - rng.uniform(0, 1, n),
            "close": close,
            "volume": rng.uniform(0, 10, n),
        },
        index=index,
    )


def frame(rows: list[tuple[str, float, float, float, float, float]]) -> pd.DataFrame:
    """Build a candle frame from ``(open time, open, high, low, close, volume)`` rows."""
    index = pd.DatetimeIndex([pd.Timestamp(r[0], tz="UTC") for r in rows], name="ts")
    return pd.DataFrame([r[1:] for r in rows], columns=list(OHLCV), index=index, dtype="float64")


def pandas_reference(data: pd.DataFrame, base: Timeframe, target: Timeframe) -> pd.DataFrame:
    """Resample with pandas, then keep the non-empty periods the data has completed."""
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = (
        data.resample(f"{target.seconds}s", label="left", closed="left", origin="epoch")
        .agg(agg)
        .dropna(subset=["open"])
    )
    last_close = data.index[-1] + base.delta
    return out[out.index + target.delta <= last_close]


def test_five_one_minute_candles_aggregate_to_one_five_minute_candle() -> None:
    # Arrange
    data = frame(
        [
            ("2024-01-01 00:00", 10.0, 12.0, 9.0, 11.0, 1.0),
            ("2024-01-01 00:01", 11.0, 15.0, 10.5, 14.0, 2.0),
            ("2024-01-01 00:02", 14.0, 14.5, 8.0, 9.0, 3.0),
            ("2024-01-01 00:03", 9.0, 10.0, 8.5, 9.5, 4.0),
            ("2024-01-01 00:04", 9.5, 11.0, 9.2, 10.5, 5.0),
            ("2024-01-01 00:05", 10.5, 20.0, 10.0, 19.0, 6.0),
        ]
    )

    # Act
    out = resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))

    # Assert
    expected = frame([("2024-01-01 00:00", 10.0, 15.0, 8.0, 10.5, 15.0)])
    pd.testing.assert_frame_equal(out, expected)


@pytest.mark.parametrize(
    ("last_open", "emitted"),
    [
        ("2024-01-01 00:08", ["00:00"]),  # closes 00:09 < 00:10: second period still open
        ("2024-01-01 00:09", ["00:00", "00:05"]),  # closes 00:10: second period complete
    ],
)
def test_last_period_is_emitted_only_when_its_last_candle_has_closed(
    last_open: str, emitted: list[str]
) -> None:
    # Arrange
    data = candles("2024-01-01 00:00", 10)
    data = data.loc[: pd.Timestamp(last_open, tz="UTC")]

    # Act
    out = resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))

    # Assert
    assert [t.strftime("%H:%M") for t in out.index] == emitted


def test_period_with_missing_inner_candles_is_emitted_from_the_candles_present() -> None:
    # Arrange: 00:01 and 00:02 are missing
    data = frame(
        [
            ("2024-01-01 00:00", 10.0, 12.0, 9.0, 11.0, 1.0),
            ("2024-01-01 00:03", 9.0, 10.0, 8.5, 9.5, 4.0),
            ("2024-01-01 00:04", 9.5, 11.0, 7.0, 10.5, 5.0),
        ]
    )

    # Act
    out = resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))

    # Assert
    expected = frame([("2024-01-01 00:00", 10.0, 12.0, 7.0, 10.5, 10.0)])
    pd.testing.assert_frame_equal(out, expected)


def test_period_missing_its_last_candles_is_complete_once_later_data_exists() -> None:
    # Arrange: 00:03 and 00:04 are missing, but 00:05..00:09 prove 00:00-00:05 has ended
    data = pd.concat([candles("2024-01-01 00:00", 3), candles("2024-01-01 00:05", 5, seed=1)])

    # Act
    out = resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))

    # Assert
    assert list(out.index.strftime("%H:%M")) == ["00:00", "00:05"]
    assert out["close"].iloc[0] == data["close"].iloc[2]


@pytest.mark.parametrize(
    ("target", "first_open", "hours", "expected_opens"),
    [
        (
            "4h",
            "2024-01-01 01:00",
            11,
            ["2024-01-01 00:00", "2024-01-01 04:00", "2024-01-01 08:00"],
        ),
        ("4h", "2024-01-01 01:00", 10, ["2024-01-01 00:00", "2024-01-01 04:00"]),
        ("1d", "2024-01-01 12:00", 36, ["2024-01-01 00:00", "2024-01-02 00:00"]),
        ("1d", "2024-01-01 00:00", 47, ["2024-01-01 00:00"]),
    ],
)
def test_periods_lie_on_the_utc_epoch_grid(
    target: str, first_open: str, hours: int, expected_opens: list[str]
) -> None:
    # Arrange
    data = candles(first_open, hours, step="1h")

    # Act
    out = resample_candles(data, Timeframe.parse(target), Timeframe.parse("1h"))

    # Assert
    assert list(out.index.strftime("%Y-%m-%d %H:%M")) == expected_opens
    assert str(out.index.tz) == "UTC"


def test_weeks_start_on_monday_at_midnight_utc() -> None:
    # Arrange: daily candles Wed 2024-01-03 .. Sun 2024-01-21
    data = candles("2024-01-03", 19, step="1D")

    # Act
    out = resample_candles(data, Timeframe.parse("1w"), Timeframe.parse("1d"))

    # Assert: weeks of Mon 01-01 (partial at the front), 01-08, 01-15
    assert list(out.index.strftime("%Y-%m-%d %a")) == [
        "2024-01-01 Mon",
        "2024-01-08 Mon",
        "2024-01-15 Mon",
    ]
    week3 = data.loc["2024-01-15":"2024-01-21"]
    assert out["open"].iloc[1] == data.at[pd.Timestamp("2024-01-08", tz="UTC"), "open"]
    assert out["close"].iloc[2] == week3["close"].iloc[-1]
    assert out["volume"].iloc[2] == pytest.approx(week3["volume"].sum())


def test_first_period_starting_before_the_data_is_built_from_the_candles_present() -> None:
    # Arrange
    data = candles("2024-01-01 00:03", 7)

    # Act
    out = resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))

    # Assert
    assert out["open"].iloc[0] == data["open"].iloc[0]
    assert out["volume"].iloc[0] == pytest.approx(data["volume"].iloc[:2].sum())


@pytest.mark.parametrize(
    ("base", "target", "message"),
    [
        ("5m", "7m", "whole multiple"),
        ("15m", "5m", "whole multiple"),
        ("1h", "90m", "whole multiple"),
        ("3d", "3w", "straddle"),
    ],
)
def test_incompatible_timeframes_raise_naming_both(base: str, target: str, message: str) -> None:
    # Arrange
    data = candles("2024-01-01", 10, step=Timeframe.parse(base).delta)

    # Act / Assert
    with pytest.raises(CandleDataError, match=message):
        resample_candles(data, Timeframe.parse(target), Timeframe.parse(base))


def test_candle_off_the_base_grid_raises_naming_its_time() -> None:
    # Arrange
    data = candles("2024-01-01 00:00:30", 10)

    # Act / Assert
    with pytest.raises(CandleDataError, match=r"2024-01-01 00:00:30.*1m UTC grid"):
        resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))


def test_unsorted_index_raises_naming_the_position() -> None:
    # Arrange
    data = candles("2024-01-01", 10).iloc[[0, 2, 1, 3]]

    # Act / Assert
    with pytest.raises(CandleDataError, match=r"strictly increasing.*00:01"):
        resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))


def test_naive_index_raises() -> None:
    # Arrange
    data = candles("2024-01-01", 10).tz_localize(None)

    # Act / Assert
    with pytest.raises(CandleDataError, match="tz-aware"):
        resample_candles(data, Timeframe.parse("5m"), Timeframe.parse("1m"))


@pytest.mark.parametrize(("step", "expected"), [("1min", "1m"), ("15min", "15m"), ("4h", "4h")])
def test_base_is_inferred_from_the_smallest_step(step: str, expected: str) -> None:
    # Arrange
    data = candles("2024-01-01", 40, step=step).iloc[[0, 1, 5, 6, 7, 30, 31]]
    base = Timeframe.parse(expected)

    # Act
    out = resample_candles(data, Timeframe(base.seconds * 2, "2x"))

    # Assert
    pd.testing.assert_frame_equal(
        out, resample_candles(data, Timeframe(base.seconds * 2, "2x"), base)
    )
    assert len(out) > 0


def test_empty_input_gives_an_empty_canonical_frame() -> None:
    # Arrange
    data = candles("2024-01-01", 0)

    # Act
    out = resample_candles(data, Timeframe.parse("1h"), Timeframe.parse("1m"))

    # Assert
    assert out.empty
    assert list(out.columns) == list(OHLCV)
    assert str(out.index.tz) == "UTC"


def test_index_in_another_timezone_is_returned_in_utc() -> None:
    # Arrange
    data = candles("2024-01-01", 120).tz_convert("Asia/Kolkata")

    # Act
    out = resample_candles(data, Timeframe.parse("1h"), Timeframe.parse("1m"))

    # Assert
    assert str(out.index.tz) == "UTC"
    assert list(out.index.strftime("%H:%M")) == ["00:00", "01:00"]


def test_resample_all_equals_each_single_resample() -> None:
    # Arrange
    data = candles("2024-01-01 00:07", 3000, seed=3)
    targets = ["5m", "15m", "1h", "4h", "1d"]

    # Act
    out = resample_all(data, "1m", targets)

    # Assert
    assert list(out) == targets
    for label, result in out.items():
        pd.testing.assert_frame_equal(result, resample_candles(data, label, "1m"))


def test_output_keeps_only_the_five_canonical_float_columns() -> None:
    # Arrange
    data = candles("2024-01-01", 60)

    # Act
    out = resample_candles(data, "15m", "1m")

    # Assert
    assert list(out.columns) == list(OHLCV)
    assert all(dtype == np.float64 for dtype in out.dtypes)
    assert out.index.name == "ts"


@st.composite
def gapped_candles(draw: st.DrawFn) -> tuple[pd.DataFrame, Timeframe, Timeframe]:
    """Draw random candles with random gaps, a base timeframe and a multiple of it."""
    base = Timeframe.parse(draw(st.sampled_from(["1m", "3m", "5m", "15m", "1h"])))
    target = Timeframe(base.seconds * draw(st.sampled_from([1, 2, 3, 4, 5, 12, 24])), "t")
    n = draw(st.integers(min_value=1, max_value=300))
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    offset = draw(st.integers(min_value=0, max_value=500))
    data = candles("2024-03-01", n + offset, step=base.delta, seed=draw(st.integers(0, 99)))
    data = data.iloc[offset:][np.array(keep)]
    return data, base, target


@settings(max_examples=150, deadline=None)
@given(case=gapped_candles())
def test_matches_pandas_resample_on_random_gapped_data(
    case: tuple[pd.DataFrame, Timeframe, Timeframe],
) -> None:
    # Arrange
    data, base, target = case

    # Act
    out = resample_candles(data, target, base)

    # Assert
    if data.empty:
        assert out.empty
        return
    expected = pandas_reference(data, base, target)
    pd.testing.assert_index_equal(out.index, expected.index.as_unit("ns"), exact=False)
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(out[column].to_numpy(), expected[column].to_numpy())
    np.testing.assert_allclose(out["volume"].to_numpy(), expected["volume"].to_numpy(), rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(case=gapped_candles(), cut=st.floats(min_value=0.0, max_value=1.0))
def test_resampling_a_prefix_gives_the_full_rows_for_periods_it_completes(
    case: tuple[pd.DataFrame, Timeframe, Timeframe], cut: float
) -> None:
    # Arrange
    data, base, target = case
    prefix = data.iloc[: int(len(data) * cut)]

    # Act
    full = resample_candles(data, target, base)
    part = resample_candles(prefix, target, base)

    # Assert: every prefix row is identical to the full row; nothing complete is missing
    pd.testing.assert_frame_equal(part, full.iloc[: len(part)])
    if len(prefix):
        completed = full.index + target.delta <= prefix.index[-1] + base.delta
        assert len(part) == int(completed.sum())
