"""The GX candle suite: a clean frame passes, each defect fails exactly its expectation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from expectations.candles import (
    build_candle_suite,
    candle_checks,
    run_candle_suite,
    suite_frame,
)
from features.candles.schema import OHLCV, CandleDataError
from features.candles.validate import parse_raw_candles

START = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta(minutes=5)
ALL_KEYS = [c.key for c in candle_checks("5m")]


def make_candles(n: int = 12) -> pd.DataFrame:
    """Clean canonical 5m candles: open 100.., close = open + 0.5, high/low 1 beyond."""
    open_ = 100.0 + np.arange(n)
    close = open_ + 0.5
    index = pd.DatetimeIndex(pd.date_range(START, periods=n, freq="5min"), name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": close + 1,
            "low": open_ - 1,
            "close": close,
            "volume": 5.0 + np.arange(n),
        },
        index=index,
    )


def set_value(row: int, column: str, value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame.iloc[row, frame.columns.get_loc(column)] = value
        return frame

    return mutate


def set_ts(row: int, value: pd.Timestamp | None) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        index = frame.index.to_series()
        index.iloc[row] = pd.NaT if value is None else value
        frame.index = pd.DatetimeIndex(index, name="ts")
        return frame

    return mutate


def swap_rows(a: int, b: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        order = list(range(len(frame)))
        order[a], order[b] = order[b], order[a]
        return frame.iloc[order]

    return mutate


def both(*mutations: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        for m in mutations:
            frame = m(frame)
        return frame

    return mutate


def test_clean_frame_passes_every_expectation() -> None:
    report = run_candle_suite(make_candles(), "5m")

    assert report.success is True
    assert [e.key for e in report.expectations] == ALL_KEYS
    assert all(e.success and e.unexpected_count == 0 for e in report.expectations)
    assert report.statistics["evaluated_expectations"] == len(ALL_KEYS)
    assert report.statistics["unsuccessful_expectations"] == 0
    assert len(report.gaps) == 0


DEFECTS = [
    pytest.param(set_value(3, "high", 101.0), {"high_ge_low": 1, "high_ge_body": 1}, id="hi<lo"),
    pytest.param(set_value(3, "high", 103.2), {"high_ge_body": 1}, id="high-below-close"),
    pytest.param(set_value(3, "low", 103.2), {"low_le_body": 1}, id="low-above-open"),
    pytest.param(set_value(2, "close", np.nan), {"close_not_null": 1}, id="nan-close"),
    pytest.param(set_value(2, "open", np.nan), {"open_not_null": 1}, id="nan-open"),
    pytest.param(
        both(set_value(1, "volume", -1.0), set_value(7, "volume", -0.5)),
        {"volume_non_negative": 2},
        id="negative-volume",
    ),
    pytest.param(set_value(4, "low", 0.0), {"low_positive": 1}, id="zero-low"),
    pytest.param(set_ts(4, None), {"ts_not_null": 1}, id="nat"),
    pytest.param(set_ts(6, START + 5 * STEP), {"ts_unique": 2}, id="duplicate-ts"),
    pytest.param(swap_rows(3, 4), {"ts_increasing": 1}, id="out-of-order"),
    pytest.param(
        set_ts(2, START + 2 * STEP + pd.Timedelta(minutes=1)), {"ts_aligned": 1}, id="off-grid"
    ),
]


@pytest.mark.parametrize(("defect", "expected"), DEFECTS)
def test_each_defect_fails_exactly_its_expectations(
    defect: Callable[[pd.DataFrame], pd.DataFrame], expected: dict[str, int]
) -> None:
    candles = defect(make_candles())

    report = run_candle_suite(candles, "5m")

    assert report.success is False
    assert {e.key: e.unexpected_count for e in report.failed} == expected
    assert report.statistics["unsuccessful_expectations"] == len(expected)


def test_examples_name_the_breaking_rows_with_ts_and_values() -> None:
    candles = set_value(3, "high", 101.0)(make_candles())

    outcome = run_candle_suite(candles, "5m").outcome("high_ge_low")

    assert outcome.columns == ("high", "low")
    assert outcome.examples == (
        {
            "row": 3,
            "ts": "2024-01-01T00:15:00+00:00",
            "open": 103.0,
            "high": 101.0,
            "low": 102.0,
            "close": 103.5,
            "volume": 8.0,
        },
    )


def test_examples_are_capped() -> None:
    candles = make_candles(30)
    candles["volume"] = -1.0

    outcome = run_candle_suite(candles, "5m", max_examples=3).outcome("volume_non_negative")

    assert outcome.unexpected_count == 30
    assert [e["row"] for e in outcome.examples] == [0, 1, 2]


def test_raw_but_parsed_input_reports_source_lines() -> None:
    raw = make_candles(5).reset_index()
    raw = raw.astype({c: object for c in OHLCV})
    raw.loc[1, "open"] = "abc"
    raw.loc[3, "ts"] = pd.NaT
    raw["source_row"] = np.arange(2, 7)

    report = run_candle_suite(parse_raw_candles(raw), "5m")

    assert {e.key: e.unexpected_count for e in report.failed} == {
        "open_not_null": 1,
        "ts_not_null": 1,
    }
    example = report.outcome("open_not_null").examples[0]
    assert (example["source_row"], example["open"]) == (3, None)
    assert report.outcome("ts_not_null").examples[0]["ts"] is None


def test_gaps_are_reported_with_their_spans() -> None:
    candles = make_candles(12).drop(index=[START + 3 * STEP, START + 4 * STEP, START + 10 * STEP])

    report = run_candle_suite(candles, "5m")

    assert report.success is True
    assert report.gaps.to_dict("records") == [
        {"start": START + 3 * STEP, "end": START + 4 * STEP, "missing_bars": 2},
        {"start": START + 10 * STEP, "end": START + 10 * STEP, "missing_bars": 1},
    ]
    gaps = report.to_metadata()["gaps"]
    assert gaps["missing_bars"] == 3
    assert gaps["completeness"] == 0.75


def test_metadata_is_json_serializable_and_has_a_readable_table() -> None:
    candles = both(set_value(3, "high", 101.0), set_value(5, "volume", np.inf))(make_candles())
    candles.iloc[6, 0] = np.nan

    metadata = run_candle_suite(candles, "5m").to_metadata()

    decoded = json.loads(json.dumps(metadata, allow_nan=False))
    assert decoded["success"] is False
    assert decoded["failed_expectations"] == ["open_not_null", "high_ge_body", "high_ge_low"]
    assert decoded["unexpected_counts"]["high_ge_low"] == 1
    markdown = decoded["report_markdown"]
    assert "| high >= low | high, low | FAIL | 1 | 2024-01-01T00:15:00+00:00 |" in markdown
    assert "FAILED**: 14 of 17 expectations held on 12 rows" in markdown


def test_empty_frame_passes_with_zero_rows() -> None:
    report = run_candle_suite(make_candles().iloc[0:0], "5m")

    assert report.success is True
    assert report.n_rows == 0


def test_suite_is_built_with_one_keyed_expectation_per_check() -> None:
    suite = build_candle_suite("1h")

    keys = [e.meta["key"] for e in suite.expectations]
    assert suite.name == "candles_1h"
    assert sorted(keys) == sorted(ALL_KEYS)
    assert len(set(keys)) == len(keys)


def test_suite_frame_derives_body_and_grid_offset_columns() -> None:
    candles = set_ts(1, START + STEP + pd.Timedelta(seconds=30))(make_candles(3))

    frame = suite_frame(candles, "5m")

    assert frame["body_top"].tolist() == [100.5, 101.5, 102.5]
    assert frame["body_bottom"].tolist() == [100.0, 101.0, 102.0]
    assert frame["ts_offset_ns"].tolist() == [0.0, 30e9, 0.0]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (make_candles().reset_index(), "indexed by open times"),
        (make_candles().drop(columns="volume"), r"column\(s\) \['volume'\]"),
    ],
    ids=["no-time-index", "missing-column"],
)
def test_frames_the_suite_cannot_read_raise(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(CandleDataError, match=message):
        run_candle_suite(frame, "5m")


def test_unknown_expectation_key_raises_naming_the_keys() -> None:
    report = run_candle_suite(make_candles(3), "5m")

    with pytest.raises(KeyError, match="ts_unique"):
        report.outcome("no_such_check")


def test_importing_the_package_does_not_import_great_expectations() -> None:
    code = "import sys, expectations; print('great_expectations' in sys.modules)"

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert out.stdout.strip() == "False"
