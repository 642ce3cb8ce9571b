"""Validation: good rows become a canonical frame, bad rows are quarantined, nothing is lost."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.candles.validate import (
    QUARANTINE_COLUMNS,
    parse_raw_candles,
    reason_kind,
    validate_candles,
)

TF = Timeframe.parse("5m")
START = pd.Timestamp("2024-01-01", tz="UTC")


def make_raw(n: int = 6, *, as_text: bool = False) -> pd.DataFrame:
    """Build a clean raw frame: rising candles on the 5m grid, source lines 2..n+1."""
    open_ = 100.0 + np.arange(n)
    close = open_ + 0.5
    raw = pd.DataFrame(
        {
            "ts": pd.date_range(START, periods=n, freq="5min"),
            "open": open_,
            "high": close + 1.0,
            "low": open_ - 1.0,
            "close": close,
            "volume": 10.0 + np.arange(n),
            "source_row": np.arange(2, n + 2),
        }
    )
    if as_text:
        raw[list(OHLCV)] = raw[list(OHLCV)].astype(str).astype(object)
    return raw


def validate(raw: pd.DataFrame, tf: Timeframe | str = TF):
    return validate_candles(raw, tf, source="csv", symbol="BTC/USDT")


def with_value(raw: pd.DataFrame, row: int, **values: object) -> pd.DataFrame:
    out = raw.astype({c: object for c in values if c in OHLCV})
    for column, value in values.items():
        out.loc[row, column] = value
    return out


# --- clean input -------------------------------------------------------------------------


@pytest.mark.parametrize("as_text", [False, True], ids=["floats", "text"])
def test_clean_rows_become_a_canonical_frame(as_text: bool) -> None:
    raw = make_raw(as_text=as_text)

    result = validate(raw)

    valid = result.valid
    assert list(valid.columns) == list(OHLCV)
    assert all(str(t) == "float64" for t in valid.dtypes)
    assert valid.index.name == "ts"
    assert str(valid.index.tz) == "UTC"
    assert valid.index.is_monotonic_increasing
    assert valid.index.is_unique
    assert valid["open"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert len(result.quarantine) == 0
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert (result.n_received, result.n_out_of_order, len(result.gaps)) == (6, 0, 0)


def test_open_times_in_another_timezone_are_converted_to_utc() -> None:
    raw = make_raw(2)
    raw["ts"] = raw["ts"].dt.tz_convert("Asia/Kolkata")

    result = validate(raw)

    assert result.valid.index[0] == START
    assert str(result.valid.index.tz) == "UTC"


def test_text_timestamps_are_parsed_as_utc() -> None:
    raw = make_raw(2)
    raw["ts"] = ["2024-01-01 00:00:00", "2024-01-01T05:35:00+05:30"]

    result = validate(raw)

    assert list(result.valid.index) == [START, START + TF.delta]


# --- the bad input table -----------------------------------------------------------------


BAD_ROWS = [
    pytest.param({"high": 99.0}, "high < low; high below max(open, close)", id="high-below-low"),
    pytest.param({"high": 101.2}, "high below max(open, close)", id="high-below-close"),
    pytest.param({"low": 101.2}, "low above min(open, close)", id="low-above-open"),
    pytest.param({"close": np.nan}, "missing/null value in close", id="nan-price"),
    pytest.param({"open": None}, "missing/null value in open", id="none-price"),
    pytest.param({"open": "  "}, "missing/null value in open", id="blank-price"),
    pytest.param({"volume": -1.0}, "negative volume", id="negative-volume"),
    pytest.param({"volume": "12,5"}, "non-numeric volume '12,5'", id="non-numeric"),
    pytest.param({"high": np.inf}, "non-finite value in high 'inf'", id="inf"),
    pytest.param({"low": 0.0}, "price <= 0 in low", id="zero-price"),
    pytest.param({"open": -3.0, "low": -4.0}, "price <= 0 in open; price <= 0 in low", id="neg"),
    pytest.param(
        {"ts": pd.Timestamp("2024-01-01 00:11", tz="UTC")},
        "ts not aligned to the 5m grid",
        id="off-grid",
    ),
    pytest.param({"ts": pd.NaT}, "unparseable timestamp", id="nat"),
]


@pytest.mark.parametrize(("values", "reason"), BAD_ROWS)
def test_bad_row_is_quarantined_with_a_reason_naming_field_and_line(
    values: dict[str, object], reason: str
) -> None:
    raw = with_value(make_raw(), 1, **values)

    result = validate(raw)

    q = result.quarantine
    assert q["reason"].tolist() == [reason]
    assert q["source_row"].tolist() == [3]
    assert (q["source"].iloc[0], q["symbol"].iloc[0], q["timeframe"].iloc[0]) == (
        "csv",
        "BTC/USDT",
        "5m",
    )
    assert len(result.valid) == 5
    assert START + TF.delta not in result.valid.index


def test_text_timestamp_that_cannot_be_parsed_is_quoted_in_the_reason() -> None:
    raw = make_raw(3)
    raw["ts"] = ["2024-01-01 00:00", "yesterday-ish", None]

    result = validate(raw)

    assert result.quarantine["reason"].tolist() == [
        "unparseable timestamp 'yesterday-ish'",
        "missing/null value in ts",
    ]
    assert result.quarantine["ts"].isna().all()
    assert len(result.valid) == 1


def test_quarantine_keeps_the_five_fields_as_received_text() -> None:
    raw = with_value(make_raw(), 2, open="1O2", volume=None)

    result = validate(raw)

    row = result.quarantine.iloc[0]
    assert [row[c] for c in OHLCV] == ["1O2", "103.5", "101.0", "102.5", None]
    assert row["ts"] == START + 2 * TF.delta
    assert row["reason"] == "non-numeric open '1O2'; missing/null value in volume"


def test_identical_duplicate_keeps_the_first_copy_and_quarantines_the_rest() -> None:
    raw = make_raw(4)
    copy = raw.iloc[[1]].assign(source_row=9)
    raw = pd.concat([raw, copy], ignore_index=True)

    result = validate(raw)

    assert len(result.valid) == 4
    assert result.quarantine["source_row"].tolist() == [9]
    assert result.quarantine["reason"].tolist() == ["duplicate timestamp, identical copy of line 3"]


def test_identical_duplicate_compares_values_not_spelling() -> None:
    raw = make_raw(3, as_text=True)
    copy = raw.iloc[[0]].assign(source_row=7, open="100", volume="1e1")

    result = validate(pd.concat([raw, copy], ignore_index=True))

    assert result.quarantine["reason"].tolist() == ["duplicate timestamp, identical copy of line 2"]


def test_conflicting_duplicates_are_all_quarantined() -> None:
    raw = make_raw(4)
    conflicting = raw.iloc[[2]].assign(source_row=9, close=102.25)
    raw = pd.concat([raw, conflicting], ignore_index=True)

    result = validate(raw)

    assert len(result.valid) == 3
    assert START + 2 * TF.delta not in result.valid.index
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [
        [4, "duplicate timestamp, conflicting with line 9"],
        [9, "duplicate timestamp, conflicting with line 4"],
    ]


def test_conflict_among_many_copies_lists_the_other_lines() -> None:
    raw = make_raw(2)
    copies = [raw.iloc[[0]].assign(source_row=10 + k, close=100.5 + k / 10) for k in range(1, 8)]
    raw = pd.concat([raw, *copies], ignore_index=True)

    result = validate(raw)

    assert len(result.quarantine) == 8
    assert result.quarantine["reason"].iloc[0] == (
        "duplicate timestamp, conflicting with lines 11, 12, 13, 14, 15 and 2 more"
    )


def test_good_row_sharing_a_timestamp_with_a_bad_row_is_kept() -> None:
    raw = make_raw(3)
    broken_twin = raw.iloc[[1]].assign(source_row=9, volume=-5.0)

    result = validate(pd.concat([raw, broken_twin], ignore_index=True))

    assert len(result.valid) == 3
    assert result.quarantine["reason"].tolist() == ["negative volume"]


def test_rows_out_of_order_are_valid_sorted_and_counted() -> None:
    raw = make_raw(6).iloc[[0, 3, 1, 2, 5, 4]].reset_index(drop=True)

    result = validate(raw)

    assert result.valid.index.is_monotonic_increasing
    assert result.valid["open"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert result.n_out_of_order == 3
    assert len(result.quarantine) == 0


def test_quarantined_row_leaves_a_gap_in_the_report() -> None:
    raw = with_value(make_raw(6), 2, volume=-1.0)

    result = validate(raw)

    assert result.gaps.to_dict("records") == [
        {"start": START + 2 * TF.delta, "end": START + 2 * TF.delta, "missing_bars": 1}
    ]


def test_line_numbers_default_to_positions_without_source_row() -> None:
    raw = with_value(make_raw(), 3, low=1e9).drop(columns="source_row")

    result = validate(raw)

    assert result.quarantine["source_row"].tolist() == [4]


# --- frame-level errors ------------------------------------------------------------------


@pytest.mark.parametrize("column", ["ts", *OHLCV])
def test_missing_column_raises_naming_the_column_and_the_source(column: str) -> None:
    raw = make_raw().drop(columns=column)

    with pytest.raises(CandleDataError, match=rf"source 'csv'.*column '{column}'"):
        validate(raw)


def test_empty_frame_raises_naming_the_source() -> None:
    with pytest.raises(CandleDataError, match=r"source 'csv' returned no rows for BTC/USDT 5m"):
        validate(make_raw().iloc[0:0])


def test_epoch_numbers_as_timestamps_raise() -> None:
    raw = make_raw().assign(ts=np.arange(6) * 300_000)

    with pytest.raises(CandleDataError, match="column 'ts' from source 'csv' holds numbers"):
        validate(raw)


def test_unknown_timeframe_raises() -> None:
    with pytest.raises(CandleDataError, match="unknown timeframe '7x'"):
        validate(make_raw(), "7x")


# --- reporting ---------------------------------------------------------------------------


def test_messages_and_metadata_describe_the_quarantine() -> None:
    raw = with_value(make_raw(), 1, volume=-2.0)

    result = validate(raw)

    assert result.messages() == [
        "csv BTC/USDT 5m line 3 (2024-01-01T00:05:00+00:00): negative volume"
    ]
    meta = json.loads(json.dumps(result.to_metadata()))
    assert meta["n_received"] == 6
    assert meta["n_quarantined"] == 1
    assert meta["quarantine_reasons"] == {"negative volume": 1}
    assert meta["gaps"]["missing_bars"] == 1


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("non-numeric open 'abc'", "non-numeric open"),
        ("unparseable timestamp 'x'", "unparseable timestamp"),
        ("duplicate timestamp, identical copy of line 3", "duplicate timestamp, identical copy"),
        ("duplicate timestamp, conflicting with lines 4, 5", "duplicate timestamp, conflicting"),
        ("high < low", "high < low"),
    ],
)
def test_reason_kind_drops_row_specific_detail(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_parse_raw_candles_keeps_every_row_in_received_order() -> None:
    raw = with_value(make_raw(4), 1, open="abc").iloc[[0, 2, 1, 3, 3]]

    parsed = parse_raw_candles(raw)

    assert len(parsed) == 5
    assert parsed["source_row"].tolist() == [2, 4, 3, 5, 5]
    assert np.isnan(parsed["open"].iloc[2])


# --- invariants --------------------------------------------------------------------------

_DEFECTS = st.sampled_from(
    [
        None,
        None,
        None,
        ("high", 1.0),
        ("close", np.nan),
        ("volume", -1.0),
        ("open", "n/a?"),
        ("ts_shift", 60),
        ("dup", 0),
        ("dup", 1),
    ]
)


@st.composite
def raw_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 25))
    raw = make_raw(n).astype({c: object for c in OHLCV})
    rows = []
    for i in range(n):
        row = raw.iloc[i].to_dict()
        defect = draw(_DEFECTS)
        if defect is not None and defect[0] == "ts_shift":
            row["ts"] = row["ts"] + pd.Timedelta(seconds=int(defect[1]))
        elif defect is not None and defect[0] == "dup":
            twin = dict(row, close=row["close"] + defect[1] * 0.25)
            rows.append(twin)
        elif defect is not None:
            row[defect[0]] = defect[1]
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = draw(st.permutations(range(len(frame))))
    frame = frame.iloc[list(order)].reset_index(drop=True)
    frame["source_row"] = np.arange(2, len(frame) + 2)
    return frame


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_frames())
def test_every_received_row_is_either_valid_or_quarantined(raw: pd.DataFrame) -> None:
    result = validate(raw)

    assert len(result.valid) + len(result.quarantine) == result.n_received == len(raw)
    assert result.quarantine["source_row"].is_unique
    valid = result.valid
    assert valid.index.is_monotonic_increasing
    assert valid.index.is_unique
    assert (valid.index.asi8 % TF.ns == 0).all()
    assert np.isfinite(valid.to_numpy()).all()
    assert (valid["high"] >= valid[["open", "close"]].max(axis=1)).all()
    assert (valid["low"] <= valid[["open", "close"]].min(axis=1)).all()
    assert (valid[["open", "high", "low", "close"]] > 0).all().all()
    assert (valid["volume"] >= 0).all()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_frames(), st.randoms(use_true_random=False))
def test_valid_frame_does_not_depend_on_row_order(raw: pd.DataFrame, rnd) -> None:
    order = list(range(len(raw)))
    rnd.shuffle(order)

    a = validate(raw)
    b = validate(raw.iloc[order].reset_index(drop=True))

    pd.testing.assert_frame_equal(a.valid, b.valid)
    assert len(a.quarantine) == len(b.quarantine)


# --- speed -------------------------------------------------------------------------------


def test_one_million_clean_rows_validate_in_well_under_a_second() -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    open_ = 1000 + rng.standard_normal(n).cumsum()
    close = open_ + rng.standard_normal(n)
    raw = pd.DataFrame(
        {
            "ts": pd.date_range(START, periods=n, freq="1min"),
            "open": open_,
            "high": np.maximum(open_, close) + 1,
            "low": np.minimum(open_, close) - 1,
            "close": close,
            "volume": rng.random(n),
            "source_row": np.arange(2, n + 2),
        }
    )

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        result = validate_candles(raw, "1m", source="synthetic", symbol="X")
        best = min(best, time.perf_counter() - started)

    assert len(result.valid) == n
    assert best < 0.75, f"1M clean rows took {best:.2f} s"
