"""Gap report: spans of missing candles and their summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.candles.gaps import find_gaps, gaps_to_markdown, summarize_gaps
from features.candles.schema import CandleDataError

START = pd.Timestamp("2024-01-01", tz="UTC")


def grid(*steps: int, freq: str = "5min") -> pd.DatetimeIndex:
    """Open times at the given multiples of ``freq`` from START."""
    return pd.DatetimeIndex([START + k * pd.Timedelta(freq) for k in steps], name="ts")


def t(k: int, freq: str = "5min") -> pd.Timestamp:
    return START + k * pd.Timedelta(freq)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ((0, 1, 2, 3), []),
        ((0, 2), [(1, 1, 1)]),
        ((0, 1, 5, 6), [(2, 4, 3)]),
        ((0, 3, 4, 9), [(1, 2, 2), (5, 8, 4)]),
        ((3, 0, 0, 1, 5), [(2, 2, 1), (4, 4, 1)]),
    ],
    ids=["none", "one-bar", "three-bars", "two-gaps", "unsorted-duplicates"],
)
def test_gaps_report_first_and_last_missing_open_time(
    steps: tuple[int, ...], expected: list[tuple[int, int, int]]
) -> None:
    gaps = find_gaps(grid(*steps), "5m")

    rows = [(r.start, r.end, r.missing_bars) for r in gaps.itertuples(index=False)]
    assert rows == [(t(a), t(b), n) for a, b, n in expected]
    assert list(gaps.columns) == ["start", "end", "missing_bars"]
    assert str(gaps["missing_bars"].dtype) == "int64"
    assert str(gaps["start"].dtype) == "datetime64[ns, UTC]"


def test_nat_is_ignored_and_naive_times_are_utc() -> None:
    index = pd.DatetimeIndex([START.tz_localize(None), pd.NaT, t(3).tz_localize(None)])

    gaps = find_gaps(index, "5m")

    assert gaps.to_dict("records") == [{"start": t(1), "end": t(2), "missing_bars": 2}]


def test_off_grid_spacing_counts_the_grid_points_strictly_between() -> None:
    index = pd.DatetimeIndex([START, START + pd.Timedelta(minutes=12)])

    gaps = find_gaps(index, "5m")

    assert gaps.to_dict("records") == [{"start": t(1), "end": t(2), "missing_bars": 2}]


@pytest.mark.parametrize("index", [pd.DatetimeIndex([]), grid(0)], ids=["empty", "single"])
def test_fewer_than_two_candles_have_no_gaps(index: pd.DatetimeIndex) -> None:
    assert len(find_gaps(index, "1h")) == 0


def test_non_datetime_index_raises() -> None:
    with pytest.raises(CandleDataError, match="needs a DatetimeIndex"):
        find_gaps(pd.Index([1, 2, 3]), "5m")  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=200))
def test_missing_bars_add_up_to_the_removed_interior_candles(kept: list[bool]) -> None:
    full = pd.date_range(START, periods=len(kept), freq="1h")
    index = full[np.asarray(kept)]

    gaps = find_gaps(index, "1h")

    if len(index) < 2:
        assert len(gaps) == 0
        return
    interior = full[(full > index[0]) & (full < index[-1])]
    missing = interior.difference(index)
    assert int(gaps["missing_bars"].sum()) == len(missing)
    spans = [
        pd.date_range(s, e, freq="1h") for s, e in zip(gaps["start"], gaps["end"], strict=True)
    ]
    covered = spans[0].append(spans[1:]) if spans else pd.DatetimeIndex([], tz="UTC")
    assert covered.equals(missing)


def test_summary_names_the_largest_gap_and_completeness() -> None:
    gaps = find_gaps(grid(0, 2, 3, 7), "5m")

    summary = summarize_gaps(gaps, n_bars=4)

    assert summary == {
        "n_gaps": 2,
        "missing_bars": 4,
        "largest_gap_bars": 3,
        "largest_gap_start": "2024-01-01T00:20:00+00:00",
        "largest_gap_end": "2024-01-01T00:30:00+00:00",
        "completeness": 0.5,
    }
    assert json.loads(json.dumps(summary)) == summary


def test_summary_of_no_gaps_is_complete() -> None:
    summary = summarize_gaps(find_gaps(grid(0, 1), "5m"), n_bars=2)

    assert summary["n_gaps"] == 0
    assert summary["completeness"] == 1.0
    assert summary["largest_gap_start"] is None


def test_markdown_lists_largest_gaps_first() -> None:
    markdown = gaps_to_markdown(find_gaps(grid(0, 2, 3, 7), "5m"), limit=1)

    lines = markdown.splitlines()
    assert lines[2] == "| 2024-01-01T00:20:00+00:00 | 2024-01-01T00:30:00+00:00 | 3 |"
    assert lines[-1] == "1 smaller gaps not shown."
