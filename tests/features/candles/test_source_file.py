"""Tests for the CSV/Parquet file source."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import CandleDataError, Timeframe
from features.candles.sources import FileSource, MarketDataSource, make_source

TF1H = Timeframe.parse("1h")
RAW_COLUMNS = ["ts", "open", "high", "low", "close", "volume", "source_row"]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _load(path: Path, **kwargs: Any) -> pd.DataFrame:
    return FileSource(path, **kwargs).fetch("BTC/USDT", TF1H)


CLEAN = """timestamp,open,high,low,close,volume
2024-01-01T00:00:00Z,100.0,101.0,99.0,100.5,10.0
2024-01-01T01:00:00Z,100.5,102.0,100.0,101.5,11.0
2024-01-01T02:00:00Z,101.5,103.0,101.0,102.5,12.0
"""


# --- formats ------------------------------------------------------------------------------


def test_gzip_csv_in_the_shared_data_format_loads_as_received(tmp_path: Path) -> None:
    path = _write(tmp_path, "binance_BTCUSDT_1h.csv.gz", CLEAN)
    source = FileSource(path, symbol="BTC/USDT")

    raw = source.fetch("BTC/USDT", TF1H)

    assert isinstance(source, MarketDataSource)
    assert list(raw.columns) == RAW_COLUMNS
    assert str(raw["ts"].dtype) == "datetime64[ns, UTC]"
    assert raw["ts"].tolist() == [
        _ts("2024-01-01 00:00"),
        _ts("2024-01-01 01:00"),
        _ts("2024-01-01 02:00"),
    ]
    assert raw["close"].tolist() == [100.5, 101.5, 102.5]
    assert raw["volume"].dtype == np.float64
    assert raw["source_row"].tolist() == [2, 3, 4]


def test_plain_csv_gives_the_same_frame_as_gzip(tmp_path: Path) -> None:
    plain = _load(_write(tmp_path, "a.csv", CLEAN))
    zipped = _load(_write(tmp_path, "a.csv.gz", CLEAN))

    pd.testing.assert_frame_equal(plain, zipped, check_exact=True)


def test_parquet_with_timestamp_column_loads_with_one_based_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Timestamp": pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC"),
            "Open": [1.0, 2.0, 3.0],
            "High": [2.0, 3.0, 4.0],
            "Low": [0.5, 1.5, 2.5],
            "Close": [1.5, 2.5, 3.5],
            "Volume": [7, 8, 9],
        }
    )
    path = tmp_path / "candles.parquet"
    frame.to_parquet(path, index=False)

    raw = _load(path)

    assert raw["ts"].tolist() == frame["Timestamp"].tolist()
    assert raw["volume"].tolist() == [7.0, 8.0, 9.0]
    assert raw["volume"].dtype == np.float64
    assert raw["source_row"].tolist() == [1, 2, 3]


def test_parquet_with_named_ts_index_and_epoch_ms_loads(tmp_path: Path) -> None:
    ms = [1_704_067_200_000, 1_704_070_800_000]  # 2024-01-01 00:00 and 01:00 UTC
    frame = pd.DataFrame(
        {"o": [1.0, 2.0], "h": [2.0, 3.0], "l": [0.5, 1.5], "c": [1.5, 2.5], "v": [1.0, 1.0]},
        index=pd.Index(ms, name="ts"),
    )
    path = tmp_path / "candles.pq"
    frame.to_parquet(path)

    raw = _load(path)

    assert raw["ts"].tolist() == [_ts("2024-01-01 00:00"), _ts("2024-01-01 01:00")]
    assert raw["open"].tolist() == [1.0, 2.0]


def test_semicolon_delimited_csv_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", CLEAN.replace(",", ";"))

    raw = _load(path)

    assert raw["high"].tolist() == [101.0, 102.0, 103.0]


# --- column naming ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected_map"),
    [
        ("timestamp,open,high,low,close,volume", {"ts": "timestamp", "volume": "volume"}),
        ("Date,Open,High,Low,Close,Volume", {"ts": "Date", "open": "Open"}),
        ("time,o,h,l,c,v", {"ts": "time", "close": "c", "volume": "v"}),
        ("datetime,OPEN,HIGH,LOW,CLOSE,VOL", {"ts": "datetime", "volume": "VOL"}),
        ("Open time,Open,High,Low,Close,Volume", {"ts": "Open time"}),
        ("open_time,open,high,low,close,volume", {"ts": "open_time"}),
        ("ts,open,high,low,close,tickvol", {"ts": "ts", "volume": "tickvol"}),
        (" TS , Open , High , Low , Close , Volume ", {"ts": " TS ", "close": " Close "}),
    ],
)
def test_common_column_names_are_mapped_case_insensitively(
    tmp_path: Path, header: str, expected_map: dict[str, str]
) -> None:
    body = "2024-01-01 00:00:00,1,2,0.5,1.5,10\n2024-01-01 01:00:00,1.5,2.5,1,2,11\n"
    source = FileSource(_write(tmp_path, "a.csv", f"{header}\n{body}"))

    raw = source.fetch("X", TF1H)

    assert expected_map.items() <= source.column_map.items()
    assert raw["close"].tolist() == [1.5, 2.0]
    assert raw["ts"].tolist() == [_ts("2024-01-01 00:00"), _ts("2024-01-01 01:00")]
    assert source.extra_columns == ()


def test_volume_is_preferred_over_tick_volume_which_is_noted_as_extra(tmp_path: Path) -> None:
    text = "timestamp,open,high,low,close,volume,tickvol\n2022-10-10T00:00:00,1,2,0.5,1.5,0,60\n"
    source = FileSource(_write(tmp_path, "eurusd.csv.gz", text), symbol="EUR/USD")

    raw = source.fetch("EUR/USD", Timeframe.parse("15m"))

    assert source.column_map["volume"] == "volume"
    assert source.extra_columns == ("tickvol",)
    assert raw["volume"].tolist() == [0.0]


def test_metatrader_date_and_time_columns_are_combined(tmp_path: Path) -> None:
    text = "<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>\n2024.01.02,10:00,1,2,0.5,1.5,42\n"
    source = FileSource(_write(tmp_path, "mt.csv", text))

    raw = source.fetch("EURUSD", TF1H)

    assert source.column_map["ts"] == "<DATE>+<TIME>"
    assert raw["ts"].tolist() == [_ts("2024-01-02 10:00")]
    assert raw["volume"].tolist() == [42.0]


def test_base_asset_volume_column_is_chosen_from_the_symbol(tmp_path: Path) -> None:
    text = (
        "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n"
        "1704067200000,2024-01-01 00:00:00,BTC/USDT,1,2,0.5,1.5,3.0,4.5\n"
    )
    source = FileSource(_write(tmp_path, "cdd.csv", text), symbol="BTC/USDT")

    raw = source.fetch("BTC/USDT", TF1H)

    assert source.column_map["volume"] == "Volume BTC"
    assert source.column_map["ts"] == "unix"
    assert raw["ts"].tolist() == [_ts("2024-01-01")]
    assert set(source.extra_columns) == {"date", "symbol", "Volume USDT"}


def test_explicit_columns_override_the_matching(tmp_path: Path) -> None:
    text = "when,a,b,c_,d,qty\n2024-01-01T00:00:00Z,1,2,0.5,1.5,9\n"
    columns = {"ts": "when", "open": "a", "high": "b", "low": "c_", "close": "d", "volume": "qty"}

    raw = _load(_write(tmp_path, "odd.csv", text), columns=columns)

    assert raw[["open", "high", "low", "close", "volume"]].iloc[0].tolist() == [1, 2, 0.5, 1.5, 9]


# --- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1704067200", "2024-01-01 00:00"),  # epoch seconds
        ("1704067200000", "2024-01-01 00:00"),  # epoch milliseconds
        ("1704067200000000", "2024-01-01 00:00"),  # epoch microseconds
        ("1704070800.0", "2024-01-01 01:00"),  # float seconds
        ("20240102", "2024-01-02 00:00"),  # yyyymmdd
        ("2024-01-01T03:00:00+02:00", "2024-01-01 01:00"),  # aware ISO, converted
        ("2024-01-01 01:00:00Z", "2024-01-01 01:00"),
        ("2024-01-01", "2024-01-01 00:00"),
    ],
)
def test_timestamp_encodings_are_recognised(tmp_path: Path, stamp: str, expected: str) -> None:
    path = _write(tmp_path, "a.csv", f"time,open,high,low,close,volume\n{stamp},1,2,0.5,1.5,1\n")

    raw = _load(path)

    assert raw["ts"].tolist() == [_ts(expected)]


def test_naive_times_are_read_in_the_given_zone_across_spring_forward(tmp_path: Path) -> None:
    # New York springs forward at 02:00 local on 2024-03-10: 01:00 EST then 03:00 EDT.
    text = (
        "timestamp,open,high,low,close,volume\n"
        "2024-03-10 00:00:00,1,2,0.5,1.5,1\n"
        "2024-03-10 01:00:00,1,2,0.5,1.5,1\n"
        "2024-03-10 03:00:00,1,2,0.5,1.5,1\n"
    )

    raw = _load(_write(tmp_path, "ny.csv", text), tz="America/New_York")

    assert raw["ts"].tolist() == [
        _ts("2024-03-10 05:00"),
        _ts("2024-03-10 06:00"),
        _ts("2024-03-10 07:00"),
    ]


def test_repeated_hour_at_fall_back_is_inferred_from_row_order(tmp_path: Path) -> None:
    # New York falls back at 02:00 EDT on 2024-11-03: local 01:00 and 01:30 happen twice.
    local = ["00:30", "01:00", "01:30", "01:00", "01:30", "02:00"]
    rows = "".join(f"2024-11-03 {t}:00,1,2,0.5,1.5,1\n" for t in local)

    raw = _load(
        _write(tmp_path, "ny.csv", "timestamp,open,high,low,close,volume\n" + rows),
        tz="America/New_York",
    )

    expected = pd.date_range("2024-11-03 04:30", periods=6, freq="30min", tz="UTC")
    assert raw["ts"].tolist() == expected.tolist()


def test_time_inside_the_dst_gap_becomes_nat_and_is_kept(tmp_path: Path) -> None:
    text = (
        "timestamp,open,high,low,close,volume\n"
        "2024-03-10 01:30:00,1,2,0.5,1.5,1\n"
        "2024-03-10 02:30:00,1,2,0.5,1.5,1\n"
    )

    raw = _load(_write(tmp_path, "ny.csv", text), tz="America/New_York")

    assert raw["ts"].iloc[0] == _ts("2024-03-10 06:30")
    assert raw["ts"].isna().tolist() == [False, True]
    assert raw["source_row"].tolist() == [2, 3]


def test_aware_times_ignore_the_zone_argument(tmp_path: Path) -> None:
    raw = _load(_write(tmp_path, "a.csv", CLEAN), tz="Asia/Tokyo")

    assert raw["ts"].iloc[0] == _ts("2024-01-01 00:00")


# --- values as received --------------------------------------------------------------------------


def test_non_numeric_cell_is_kept_as_received_with_its_line_number(tmp_path: Path) -> None:
    lines = [f"2024-01-01T0{h}:00:00Z,1,2,0.5,1.5,1" for h in range(6)]
    lines[5] = "2024-01-01T05:00:00Z,1,2,0.5,n/a?,1"  # line 7 of the file
    path = _write(tmp_path, "a.csv", "timestamp,open,high,low,close,volume\n" + "\n".join(lines))

    raw = _load(path)

    bad = raw.loc[raw["source_row"] == 7, "close"]
    assert bad.tolist() == ["n/a?"]
    assert raw["close"].iloc[0] == "1.5"  # the column is kept as text, not coerced
    assert raw["open"].dtype == np.float64  # clean columns are parsed


def test_non_numeric_cell_deep_in_a_large_file_is_kept_with_its_line_number(
    tmp_path: Path,
) -> None:
    # pyarrow infers types from the first 1 MB block; the bad cell sits far past it
    n = 40_000
    stamps = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": 1.25, "high": 2.5}
        | {"low": 0.5, "close": np.arange(n) + 0.5, "volume": 3.0}
    )
    frame["close"] = frame["close"].astype(object)
    frame.loc[n - 10, "close"] = "oops"  # file line n - 10 + 2
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)

    raw = _load(path)

    assert len(raw) == n
    assert raw.loc[raw["source_row"] == n - 8, "close"].tolist() == ["oops"]
    assert raw["close"].iloc[0] == "0.5"
    assert raw["open"].dtype == np.float64
    assert raw["ts"].iloc[-1] == stamps[-1]


def test_unparseable_timestamp_is_kept_as_nat_with_its_values(tmp_path: Path) -> None:
    text = CLEAN.replace("2024-01-01T01:00:00Z", "not-a-time")

    raw = _load(_write(tmp_path, "a.csv", text))

    assert raw["ts"].isna().tolist() == [False, True, False]
    assert raw.loc[1, "close"] == 101.5
    assert raw.loc[1, "source_row"] == 3


def test_blank_lines_keep_line_numbers_exact(tmp_path: Path) -> None:
    text = CLEAN.replace("\n2024-01-01T01", "\n\n\n2024-01-01T01")

    raw = _load(_write(tmp_path, "a.csv", text))

    assert raw["source_row"].tolist() == [2, 5, 6]
    assert raw["close"].tolist() == [100.5, 101.5, 102.5]


def test_short_row_is_kept_with_missing_fields(tmp_path: Path) -> None:
    text = CLEAN.replace("100.5,102.0,100.0,101.5,11.0", "100.5,102.0")

    raw = _load(_write(tmp_path, "a.csv", text))

    assert raw["source_row"].tolist() == [2, 3, 4]
    assert raw.loc[1, "high"] == 102.0
    assert pd.isna(raw.loc[1, "close"])
    assert raw["low"].dtype == np.float64


def test_empty_cell_is_missing(tmp_path: Path) -> None:
    text = CLEAN.replace("100.5,102.0,100.0,101.5,11.0", "100.5,102.0,100.0,,11.0")

    raw = _load(_write(tmp_path, "a.csv", text))

    assert pd.isna(raw.loc[1, "close"])
    assert raw.loc[0, "close"] == 100.5


# --- windows, symbols, clock --------------------------------------------------------------------


def test_start_is_inclusive_and_end_exclusive(tmp_path: Path) -> None:
    source = FileSource(_write(tmp_path, "a.csv", CLEAN))

    raw = source.fetch("X", TF1H, _ts("2024-01-01 01:00"), _ts("2024-01-01 02:00"))

    assert raw["ts"].tolist() == [_ts("2024-01-01 01:00")]
    assert raw["source_row"].tolist() == [3]


def test_window_without_rows_is_an_empty_raw_frame(tmp_path: Path) -> None:
    raw = FileSource(_write(tmp_path, "a.csv", CLEAN)).fetch("X", TF1H, _ts("2030-01-01"), None)

    assert raw.empty
    assert list(raw.columns) == RAW_COLUMNS


def test_row_with_bad_time_belongs_to_the_window_of_the_row_above(tmp_path: Path) -> None:
    source = FileSource(_write(tmp_path, "a.csv", CLEAN.replace("2024-01-01T01:00:00Z", "??")))

    first = source.fetch("X", TF1H, _ts("2024-01-01 00:00"), _ts("2024-01-01 01:00"))
    second = source.fetch("X", TF1H, _ts("2024-01-01 01:00"), _ts("2024-01-01 03:00"))

    assert first["source_row"].tolist() == [2, 3]
    assert second["source_row"].tolist() == [4]


def test_symbols_returns_the_file_symbol_and_other_symbols_are_refused(tmp_path: Path) -> None:
    source = FileSource(_write(tmp_path, "a.csv", CLEAN), symbol="BTC/USDT")

    assert source.symbols() == ["BTC/USDT"]
    with pytest.raises(CandleDataError, match=r"a\.csv holds 'BTC/USDT', not 'ETH/USDT'"):
        source.fetch("ETH/USDT", TF1H)


def test_without_a_symbol_the_source_lists_none_and_serves_any(tmp_path: Path) -> None:
    source = FileSource(_write(tmp_path, "a.csv", CLEAN))

    assert source.symbols() == []
    assert len(source.fetch("ANY", TF1H)) == 3


def test_other_timeframe_than_declared_is_refused(tmp_path: Path) -> None:
    source = FileSource(_write(tmp_path, "a.csv", CLEAN), timeframe="1h")

    with pytest.raises(CandleDataError, match="holds 1h candles, not 5m"):
        source.fetch("X", Timeframe.parse("5m"))


def test_clock_leaves_out_the_candle_still_in_progress(tmp_path: Path) -> None:
    source = FileSource(_write(tmp_path, "a.csv", CLEAN), now=lambda: _ts("2024-01-01 02:59"))

    raw = source.fetch("X", TF1H)

    assert raw["ts"].tolist() == [_ts("2024-01-01 00:00"), _ts("2024-01-01 01:00")]


def test_make_source_builds_a_file_source(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", CLEAN)

    source = make_source("file", path=path, symbol="BTC/USDT", name="file-btc")

    assert isinstance(source, FileSource)
    assert source.name == "file-btc"
    assert source.fetch("BTC/USDT", TF1H)["close"].tolist() == [100.5, 101.5, 102.5]


# --- errors -----------------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CandleDataError, match=r"candle file not found: .*nope\.csv"):
        FileSource(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("zero.csv", "", r"zero\.csv: empty file \(no header, no rows\)"),
        ("blank.csv.gz", "\n\n", r"blank\.csv\.gz: empty file \(no header, no rows\)"),
        (
            "header.csv",
            "timestamp,open,high,low,close,volume\n",
            r"header\.csv: empty file \(no rows\)",
        ),
    ],
)
def test_empty_file_is_reported(tmp_path: Path, name: str, text: str, message: str) -> None:
    source = FileSource(_write(tmp_path, name, text))

    with pytest.raises(CandleDataError, match=message):
        source.load()


def test_missing_required_column_names_it_and_lists_found_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "timestamp,open,high,low,volume\n2024-01-01,1,2,0.5,1\n")

    with pytest.raises(
        CandleDataError,
        match=r"a\.csv: missing required column 'close' .*found columns: "
        r"\['timestamp', 'open', 'high', 'low', 'volume'\]",
    ):
        FileSource(path).load()


def test_unknown_extension_is_unreadable_format(tmp_path: Path) -> None:
    path = _write(tmp_path, "candles.xlsx", "whatever")

    with pytest.raises(CandleDataError, match=r"candles\.xlsx: unreadable format .*\.parquet"):
        FileSource(path)


def test_corrupt_parquet_is_unreadable(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.parquet", "this is not parquet")

    with pytest.raises(CandleDataError, match=r"broken\.parquet: unreadable Parquet file"):
        FileSource(path).load()


def test_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CandleDataError, match="unknown time zone 'Mars/Olympus'"):
        FileSource(_write(tmp_path, "a.csv", CLEAN), tz="Mars/Olympus")


def test_column_without_any_parseable_time_is_refused(tmp_path: Path) -> None:
    text = "timestamp,open,high,low,close,volume\nfoo,1,2,0.5,1.5,1\nbar,1,2,0.5,1.5,1\n"

    with pytest.raises(CandleDataError, match=r"no parseable timestamp .*'foo'"):
        FileSource(_write(tmp_path, "a.csv", text)).load()
