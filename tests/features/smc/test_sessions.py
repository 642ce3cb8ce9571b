"""Sessions and kill zones: local-time windows with IANA zones, session ranges and sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from features.candles.schema import CandleDataError
from features.smc import sessions
from features.smc.sessions import SessionsConfig, Window, utc_offset_table
from tests.features.smc.module_contract import (
    BAD_INPUTS,
    assert_prefix_invariant,
    candle_frames,
    candles_from,
    random_candles,
    stream_rows,
)


def _flat_day(day: str, freq: str = "5min") -> pd.DataFrame:
    index = pd.date_range(
        f"{day} 00:00",
        periods=pd.Timedelta("1D") // pd.Timedelta(freq),
        freq=freq,
        tz="UTC",
        name="ts",
    )
    return candles_from([(10.0, 10.0, 10.0, 10.0)] * len(index), index=index)


def _active_span(flags: pd.Series) -> tuple[str, str]:
    on = flags[flags == 1.0].index
    return on[0].strftime("%H:%M"), (on[-1] + pd.Timedelta("5min")).strftime("%H:%M")


@pytest.mark.parametrize(
    ("day", "kz_london", "london", "note"),
    [
        ("2024-03-08", ("07:00", "10:00"), ("08:00", "16:00"), "both on standard time"),
        (
            "2024-03-10",
            ("07:00", "09:00"),
            ("08:00", "16:00"),
            "US change day: 02:00-03:00 NY is skipped",
        ),
        ("2024-03-11", ("06:00", "09:00"), ("08:00", "16:00"), "US on DST, UK not yet"),
        ("2024-03-29", ("06:00", "09:00"), ("08:00", "16:00"), "last UK standard-time weekday"),
        ("2024-04-02", ("06:00", "09:00"), ("07:00", "15:00"), "both on summer time"),
        ("2024-10-28", ("06:00", "09:00"), ("08:00", "16:00"), "UK back on GMT, US still on DST"),
        ("2024-11-04", ("07:00", "10:00"), ("08:00", "16:00"), "both on standard time again"),
    ],
)
def test_london_kill_zone_and_session_in_utc_follow_each_countrys_clock_changes(
    day: str, kz_london: tuple[str, str], london: tuple[str, str], note: str
) -> None:
    # Arrange
    candles = _flat_day(day)

    # Act
    result = sessions.compute(candles)

    # Assert
    assert _active_span(result["sess_kz_london"]) == kz_london, note
    assert _active_span(result["sess_london"]) == london, note


@pytest.mark.parametrize(
    ("column", "span"),
    [
        ("sess_asia", ("01:00", "05:00")),  # 20:00-00:00 New York (EST)
        ("sess_ny_am", ("14:30", "17:00")),  # 09:30-12:00
        ("sess_ny_pm", ("18:30", "21:00")),  # 13:30-16:00
        ("sess_kz_asia", ("01:00", "03:00")),
        ("sess_kz_ny_am", ("12:00", "15:00")),
        ("sess_kz_london_close", ("15:00", "17:00")),
        ("sess_kz_ny_pm", ("18:30", "21:00")),
    ],
)
def test_default_windows_on_a_winter_day_in_utc(column: str, span: tuple[str, str]) -> None:
    # Arrange
    candles = _flat_day("2024-01-10")

    # Act
    result = sessions.compute(candles)

    # Assert
    assert _active_span(result[column]) == span


def test_asia_session_range_previous_range_and_sweeps_are_known_bar_by_bar() -> None:
    # Arrange: hourly bars from 00:00 UTC; Asia is 01:00-05:00 UTC (20:00-00:00 New York, EST).
    rows = [
        (10, 10, 10, 10),  # 00:00 outside
        (10, 12, 9, 11),  # 01:00 Asia
        (11, 13, 10, 12),  # 02:00 Asia
        (12, 12, 8, 9),  # 03:00 Asia
        (9, 11, 9, 10),  # 04:00 Asia: the range is 8..13
        (10, 12, 9, 11),  # 05:00 outside: the session is over; nothing swept
        (11, 14, 10, 13),  # 06:00 takes the high (14 > 13)
        (13, 13, 7, 8),  # 07:00 takes the low (7 < 8)
    ]
    candles = candles_from(rows, start="2024-01-10 00:00", freq="1h")

    # Act
    result = sessions.compute(candles)

    # Assert
    np.testing.assert_array_equal(result["sess_asia"], [0, 1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(
        result["sess_asia_high"], [np.nan, 12, 13, 13, 13, np.nan, np.nan, np.nan]
    )
    np.testing.assert_array_equal(
        result["sess_asia_low"], [np.nan, 9, 9, 8, 8, np.nan, np.nan, np.nan]
    )
    nan5 = [np.nan] * 5
    np.testing.assert_array_equal(result["sess_asia_prev_high"], [*nan5, 13, 13, 13])
    np.testing.assert_array_equal(result["sess_asia_prev_low"], [*nan5, 8, 8, 8])
    np.testing.assert_array_equal(result["sess_asia_prev_high_swept"], [*nan5, 0, 1, 1])
    np.testing.assert_array_equal(result["sess_asia_prev_low_swept"], [*nan5, 0, 0, 1])


def test_sweep_flags_reset_when_the_next_session_completes() -> None:
    # Arrange: two Asia sessions (01:00-05:00 UTC on consecutive days), hourly bars.
    index = pd.date_range("2024-01-10 01:00", "2024-01-11 06:00", freq="1h", tz="UTC", name="ts")
    rows = [(10.0, 11.0, 9.0, 10.0)] * len(index)
    candles = candles_from(rows, index=index)
    candles.loc["2024-01-10 06:00", "high"] = 12.0  # sweeps the first session's high

    # Act
    result = sessions.compute(candles)

    # Assert
    at = result.loc[pd.Timestamp("2024-01-10 06:00", tz="UTC")]
    assert at["sess_asia_prev_high_swept"] == 1.0
    assert result.loc[pd.Timestamp("2024-01-11 04:00", tz="UTC"), "sess_asia_prev_high_swept"] == 1
    after = result.loc[pd.Timestamp("2024-01-11 05:00", tz="UTC")]
    assert (after["sess_asia_prev_high"], after["sess_asia_prev_high_swept"]) == (11.0, 0.0)


def test_a_data_gap_into_the_next_session_closes_the_previous_one() -> None:
    # Arrange: the last bars of one Asia session, then (a hole) the next day's Asia session.
    index = pd.DatetimeIndex(
        ["2024-01-10 03:00", "2024-01-10 04:00", "2024-01-11 01:00", "2024-01-11 02:00"],
        tz="UTC",
        name="ts",
    )
    candles = candles_from(
        [(10, 11, 9, 10), (10, 12, 9, 11), (11, 11.5, 10, 11), (11, 11.5, 10.5, 11)], index=index
    )

    # Act
    result = sessions.compute(candles)

    # Assert
    np.testing.assert_array_equal(result["sess_asia"], [1, 1, 1, 1])
    np.testing.assert_array_equal(result["sess_asia_high"], [11, 12, 11.5, 11.5])
    np.testing.assert_array_equal(result["sess_asia_prev_high"], [np.nan, np.nan, 12, 12])
    np.testing.assert_array_equal(result["sess_asia_prev_low"], [np.nan, np.nan, 9, 9])


@pytest.mark.parametrize(
    ("tz", "at", "offset_hours"),
    [
        ("America/New_York", "2024-03-10 06:59:59", -5),
        ("America/New_York", "2024-03-10 07:00:00", -4),
        ("America/New_York", "2024-11-03 05:59:59", -4),
        ("America/New_York", "2024-11-03 06:00:00", -5),
        ("Europe/London", "2024-03-31 00:59:59", 0),
        ("Europe/London", "2024-03-31 01:00:00", 1),
        ("Europe/London", "2024-10-27 01:00:00", 0),
        ("Asia/Tokyo", "2050-06-01 00:00:00", 9),
    ],
)
def test_utc_offset_table_places_transitions_to_the_second(
    tz: str, at: str, offset_hours: int
) -> None:
    # Arrange
    starts, offsets = utc_offset_table(tz)
    t = pd.Timestamp(at, tz="UTC").value

    # Act
    offset = offsets[np.searchsorted(starts, t, side="right") - 1]

    # Assert
    assert offset == offset_hours * 3_600_000_000_000


def test_custom_window_in_another_zone_is_used() -> None:
    # Arrange: Tokyo 09:00-15:00 local is 00:00-06:00 UTC (no DST).
    cfg = SessionsConfig(asia=Window("Asia/Tokyo", "09:00", "15:00"))

    # Act
    result = sessions.compute(_flat_day("2024-07-01"), cfg)

    # Assert
    assert _active_span(result["sess_asia"]) == ("00:00", "06:00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tz": "Mars/Olympus", "start": "08:00", "end": "09:00"}, "Window.tz"),
        ({"tz": "Europe/London", "start": "8am", "end": "09:00"}, "Window.start"),
        ({"tz": "Europe/London", "start": "08:00", "end": "24:00"}, "Window.end"),
        ({"tz": "Europe/London", "start": "08:00", "end": "08:00"}, "empty"),
    ],
)
def test_bad_window_is_refused_naming_the_field(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window(**kwargs)


def test_config_refuses_a_non_window() -> None:
    with pytest.raises(ValueError, match=r"SessionsConfig\.london"):
        SessionsConfig(london=("Europe/London", "08:00", "16:00"))  # type: ignore[arg-type]


def test_stream_equals_batch_with_snapshot_restore() -> None:
    # Arrange
    candles = random_candles(2_000, seed=7, start="2024-03-08 00:00", freq="15min", drop=0.1)
    cfg = SessionsConfig()

    # Act
    batch = sessions.compute(candles, cfg).to_numpy()
    streamed = stream_rows(sessions, cfg, candles, snapshot_at=997)

    # Assert
    np.testing.assert_array_equal(streamed, batch)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candles=candle_frames())
def test_prefix_invariance_and_stream_equality_on_random_candles(candles: pd.DataFrame) -> None:
    cfg = SessionsConfig()
    n = len(candles)
    assert_prefix_invariant(sessions.compute, candles, cfg, [1, n // 3, n // 2, n - 1])
    np.testing.assert_array_equal(stream_rows(sessions, cfg, candles), sessions.compute(candles))


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_a_clear_error(case: str) -> None:
    candles, message = BAD_INPUTS[case]
    with pytest.raises(CandleDataError, match=message):
        sessions.compute(candles)
