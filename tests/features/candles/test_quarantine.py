"""Quarantine store and raw archive: Parquet per source/symbol/timeframe/partition/ingest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.candles.quarantine import QuarantineStore, RawArchive
from features.candles.schema import OHLCV, CandleDataError
from features.candles.validate import QUARANTINE_COLUMNS, ValidationResult, validate_candles

START = pd.Timestamp("2024-01-01", tz="UTC")


def make_raw(n: int = 6, *, bad: dict[int, dict[str, object]] | None = None) -> pd.DataFrame:
    """Clean 5m raw rows as text (as a CSV source would give), with optional bad values."""
    open_ = 100.0 + np.arange(n)
    raw = pd.DataFrame(
        {
            "ts": pd.date_range(START, periods=n, freq="5min"),
            "open": open_,
            "high": open_ + 2,
            "low": open_ - 1,
            "close": open_ + 1,
            "volume": 10.0 + np.arange(n),
        }
    )
    raw[list(OHLCV)] = raw[list(OHLCV)].astype(str).astype(object)
    raw["source_row"] = np.arange(2, n + 2)
    for row, values in (bad or {}).items():
        for column, value in values.items():
            raw.loc[row, column] = value
    return raw


def result_for(
    raw: pd.DataFrame, symbol: str = "BTC/USDT", source: str = "csv"
) -> ValidationResult:
    return validate_candles(raw, "5m", source=source, symbol=symbol)


BAD = {1: {"volume": "-3"}, 3: {"open": "abc", "close": None}}


# --- QuarantineStore ---------------------------------------------------------------------


def test_quarantine_round_trips_through_parquet(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    result = result_for(make_raw(bad=BAD))

    written = store.write_result(result, "2024-01-01", ingest="i1")
    back = store.read()

    assert written == 2
    assert list(back.columns) == [*QUARANTINE_COLUMNS, "partition", "ingest"]
    pd.testing.assert_frame_equal(back.drop(columns=["partition", "ingest"]), result.quarantine)
    assert back["partition"].tolist() == ["2024-01-01", "2024-01-01"]
    assert back["close"].tolist() == ["102.0", None]


def test_files_are_laid_out_per_source_symbol_timeframe_and_partition(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)

    store.write_result(
        result_for(make_raw(bad=BAD), symbol="BTC/USDT:USDT"), "2024-01-01-00:00", ingest="i1"
    )

    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [
        "source=csv/symbol=BTC%2FUSDT%3AUSDT/timeframe=5m/partition=2024-01-01-00%3A00/"
        "ingest=i1.parquet"
    ]
    assert store.partitions("csv", "BTC/USDT:USDT", "5m") == ["2024-01-01-00:00"]


def test_rewriting_an_ingest_replaces_it(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    store.write_result(result_for(make_raw(bad=BAD)), "p1", ingest="i1")

    store.write_result(result_for(make_raw(bad={0: {"high": "1"}})), "p1", ingest="i1")

    back = store.read()
    assert back["source_row"].tolist() == [2]
    assert back["reason"].tolist() == ["high < low; high below max(open, close)"]


def test_writing_no_rows_removes_the_ingest(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    store.write_result(result_for(make_raw(bad=BAD)), "p1", ingest="i1")

    written = store.write_result(result_for(make_raw()), "p1", ingest="i1")

    assert written == 0
    assert len(store.read()) == 0
    assert list(store.read().columns) == [*QUARANTINE_COLUMNS, "partition", "ingest"]


def test_read_filters_by_source_symbol_timeframe_and_partition(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    store.write_result(result_for(make_raw(bad=BAD), symbol="BTC/USDT"), "p1", ingest="i1")
    store.write_result(result_for(make_raw(bad=BAD), symbol="BTC-USDT"), "p1", ingest="i1")
    store.write_result(
        result_for(make_raw(bad=BAD), symbol="ETH/USDT", source="ccxt"), "p2", ingest="i1"
    )

    assert set(store.read(symbol="BTC/USDT")["symbol"]) == {"BTC/USDT"}
    assert len(store.read(source="csv")) == 4
    assert len(store.read(partition="p2")) == 2
    assert len(store.read(timeframe="5m")) == 6
    assert len(store.read(timeframe="1h")) == 0


def test_summary_counts_rows_by_source_symbol_and_reason(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    store.write_result(result_for(make_raw(bad=BAD)), "p1", ingest="i1")
    store.write_result(result_for(make_raw(bad={2: {"open": "x"}})), "p2", ingest="i1")

    summary = store.summary()

    assert summary.to_dict("records") == [
        {"source": "csv", "symbol": "BTC/USDT", "reason": "non-numeric open", "rows": 2},
        {"source": "csv", "symbol": "BTC/USDT", "reason": "missing/null value in close", "rows": 1},
        {"source": "csv", "symbol": "BTC/USDT", "reason": "negative volume", "rows": 1},
    ]


def test_summary_of_an_empty_store_is_empty(tmp_path: Path) -> None:
    summary = QuarantineStore(tmp_path / "nothing").summary()

    assert list(summary.columns) == ["source", "symbol", "reason", "rows"]
    assert len(summary) == 0


def test_rows_of_another_symbol_are_refused(tmp_path: Path) -> None:
    rows = result_for(make_raw(bad=BAD), symbol="ETH/USDT").quarantine

    with pytest.raises(CandleDataError, match=r"other symbol values \['ETH/USDT'\]"):
        QuarantineStore(tmp_path).write("csv", "BTC/USDT", "5m", "p1", rows, ingest="i1")


def test_rows_without_quarantine_columns_are_refused(tmp_path: Path) -> None:
    rows = result_for(make_raw(bad=BAD)).quarantine.drop(columns="reason")

    with pytest.raises(CandleDataError, match=r"lack column\(s\) \['reason'\]"):
        QuarantineStore(tmp_path).write("csv", "BTC/USDT", "5m", "p1", rows, ingest="i1")


@pytest.mark.parametrize(("symbol", "partition"), [("..", "p1"), ("BTC", ""), ("BTC", ".")])
def test_names_that_cannot_be_a_path_segment_are_refused(
    tmp_path: Path, symbol: str, partition: str
) -> None:
    with pytest.raises(CandleDataError, match="cannot name a folder or file"):
        QuarantineStore(tmp_path).path("csv", symbol, "5m", partition, "i1")


# --- RawArchive --------------------------------------------------------------------------


def test_raw_archive_keeps_values_as_received_text(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    raw = make_raw(3, bad={1: {"open": " 1O1 ", "volume": None}})
    raw["high"] = [102.0, np.nan, "103.5"]

    ingest = archive.write("csv", "BTC/USDT", "5m", "2024-01-01", raw)
    back = archive.read("csv", "BTC/USDT", "5m", "2024-01-01", ingest)

    assert back["open"].tolist() == ["100.0", " 1O1 ", "102.0"]
    assert back["high"].tolist() == ["102.0", None, "103.5"]
    assert back["volume"].tolist() == ["10.0", None, "12.0"]
    pd.testing.assert_series_equal(back["ts"], raw["ts"])
    assert back["source_row"].tolist() == [2, 3, 4]


def test_revalidating_the_archive_gives_the_same_result(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    raw = make_raw(bad=BAD)
    raw["volume"] = raw["volume"].map(lambda v: float(v) if v is not None else v)

    ingest = archive.write("csv", "BTC/USDT", "5m", "p1", raw)
    again = result_for(archive.read("csv", "BTC/USDT", "5m", "p1", ingest))

    first = result_for(raw)
    pd.testing.assert_frame_equal(again.valid, first.valid)
    pd.testing.assert_frame_equal(again.quarantine, first.quarantine)


def test_another_input_for_a_partition_is_kept_beside_the_first(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    first = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw(4))
    archive.write("csv", "BTC/USDT", "5m", "p2", make_raw(2))

    second = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw(3))
    everything = archive.read("csv", "BTC/USDT", "5m")

    assert first != second
    assert sorted(archive.ingests("csv", "BTC/USDT", "5m", "p1")) == sorted([first, second])
    assert everything["partition"].tolist().count("p1") == 4 + 3
    assert everything["partition"].tolist().count("p2") == 2
    assert len(archive.read("csv", "BTC/USDT", "5m", "p1", first)) == 4
    assert archive.partitions("csv", "BTC/USDT", "5m") == ["p1", "p2"]
    assert not list(tmp_path.rglob(".*.tmp"))


def test_archiving_the_same_input_again_duplicates_nothing(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)
    first = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw(4))

    again = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw(4))

    assert again == first
    assert archive.ingests("csv", "BTC/USDT", "5m", "p1") == [first]
    assert len(archive.read("csv", "BTC/USDT", "5m")) == 4


def test_the_ingest_id_depends_on_values_not_only_on_shape(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)

    one = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw(4))
    other = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw(4, bad={2: {"open": "x"}}))

    assert one != other
    assert len(one) == 16


def test_quarantines_of_two_ingests_of_one_partition_are_both_kept(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    store.write_result(result_for(make_raw(bad=BAD)), "open-open", ingest="a")

    store.write_result(result_for(make_raw(bad={0: {"high": "1"}})), "open-open", ingest="b")
    back = store.read()

    assert back["ingest"].tolist() == ["b", "a", "a"]
    assert back["source_row"].tolist() == [2, 3, 5]


def test_a_row_received_again_by_a_later_ingest_is_listed_once(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path)
    store.write_result(result_for(make_raw(4, bad={1: {"volume": "-3"}})), "2024-01-01", ingest="a")

    grown = make_raw(6, bad={1: {"volume": "-3"}, 5: {"open": "x"}})
    store.write_result(result_for(grown), "2024-01-01", ingest="b")
    back = store.read()

    assert back["source_row"].tolist() == [3, 7]
    assert back["ingest"].tolist() == ["a", "b"]


def test_empty_raw_input_is_archived_too(tmp_path: Path) -> None:
    archive = RawArchive(tmp_path)

    ingest = archive.write("csv", "BTC/USDT", "5m", "p1", make_raw().iloc[0:0])

    assert archive.ingests("csv", "BTC/USDT", "5m", "p1") == [ingest]
    assert len(archive.read("csv", "BTC/USDT", "5m", "p1", ingest)) == 0


def test_reading_a_partition_never_archived_raises(tmp_path: Path) -> None:
    with pytest.raises(CandleDataError, match="no raw archive for partition 'p9'"):
        RawArchive(tmp_path).read("csv", "BTC/USDT", "5m", "p9")
