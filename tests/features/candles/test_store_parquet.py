"""Parquet candle store, plus the ``CandleStore`` contract every store must pass.

``CandleStoreContract`` holds the behaviour shared by all stores; each store's test module
subclasses it and provides a ``store`` fixture (PostgreSQL: ``test_store_postgres.py``).
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.candles.store import CandleStore, ParquetCandleStore, make_store
from features.candles.store.parquet import PART_FILE, decode_symbol, encode_symbol

M1 = Timeframe.parse("1m")
M15 = Timeframe.parse("15m")
H1 = Timeframe.parse("1h")


def candles(
    start: str, n: int, timeframe: Timeframe = M1, seed: int = 0, scale: float = 1.0
) -> pd.DataFrame:
    """Build ``n`` random candles of ``timeframe`` from ``start`` (UTC); values need all bits."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=timeframe.delta, tz="UTC", name="ts")
    close = scale * (100 + np.cumsum(rng.normal(0, 1, n)))
    open_ = np.concatenate(([close[0]], close[:-1])) if n else close
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
            "low": np.minimum(open_, close) - rng.uniform(0, 1, n),
            "close": close,
            "volume": rng.exponential(1e6, n),
        },
        index=index,
    )


def utc(value: str) -> pd.Timestamp:
    return pd.Timestamp(value, tz="UTC")


_unique = itertools.count()


class CandleStoreContract:
    """Behaviour every ``CandleStore`` shares; subclasses provide the ``store`` fixture."""

    def test_store_satisfies_the_protocol(self, store: CandleStore) -> None:
        assert isinstance(store, CandleStore)

    def test_roundtrip_returns_exact_values_and_canonical_frame(self, store: CandleStore) -> None:
        # Arrange
        data = candles("2024-01-31 20:00", 600, M1)

        # Act
        written = store.write("BTC/USDT", M1, data)
        out = store.read("BTC/USDT", M1)

        # Assert
        assert written == 600
        pd.testing.assert_frame_equal(out, data, check_freq=False)
        assert out.index.name == "ts"
        assert str(out.index.tz) == "UTC"
        assert out.index.dtype == "datetime64[ns, UTC]"
        assert list(out.columns) == list(OHLCV)

    @pytest.mark.parametrize(
        "value", [0.0, 1e-300, 1e300, 123456.78901234567, np.nextafter(1.0, 2.0)]
    )
    def test_float_values_survive_bit_for_bit(self, store: CandleStore, value: float) -> None:
        # Arrange
        data = candles("2024-01-01", 3, M1)
        data.iloc[1] = value

        # Act
        store.write("ETH/USDT", M1, data)
        out = store.read("ETH/USDT", M1)

        # Assert
        assert out.iloc[1].tolist() == [value] * 5

    def test_writing_the_same_candles_twice_keeps_one_copy(self, store: CandleStore) -> None:
        # Arrange
        data = candles("2024-01-01", 100, M15)

        # Act
        store.write("BTC/USDT", M15, data)
        store.write("BTC/USDT", M15, data)

        # Assert
        pd.testing.assert_frame_equal(store.read("BTC/USDT", M15), data, check_freq=False)

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ((0, 100), (50, 150)),  # overlaps the tail and extends it
            ((50, 150), (0, 100)),  # overlaps the head and extends it
            ((0, 150), (40, 60)),  # rewrites a slice inside
            ((40, 60), (0, 150)),  # covers everything
            ((0, 50), (100, 150)),  # disjoint: leaves a gap
        ],
    )
    def test_overlapping_writes_keep_one_copy_and_new_values_win(
        self, store: CandleStore, first: tuple[int, int], second: tuple[int, int]
    ) -> None:
        # Arrange
        old = candles("2024-01-31 23:00", 150, M1, seed=1)
        new = candles("2024-01-31 23:00", 150, M1, seed=2, scale=2.0)

        # Act
        store.write("BTC/USDT", M1, old.iloc[first[0] : first[1]])
        store.write("BTC/USDT", M1, new.iloc[second[0] : second[1]])
        out = store.read("BTC/USDT", M1)

        # Assert
        expected = pd.concat([old.iloc[first[0] : first[1]], new.iloc[second[0] : second[1]]])
        expected = expected[~expected.index.duplicated(keep="last")].sort_index()
        pd.testing.assert_frame_equal(out, expected, check_freq=False)

    @pytest.mark.parametrize(
        ("start", "end", "expected_rows"),
        [
            (None, None, (0, 96)),
            ("2024-01-01 06:00", None, (24, 96)),
            (None, "2024-01-01 06:00", (0, 24)),
            ("2024-01-01 06:00", "2024-01-01 12:00", (24, 48)),
            ("2024-01-01 06:05", "2024-01-01 06:30:01", (25, 27)),  # between candles
            ("2024-01-01 12:00", "2024-01-01 12:00", (0, 0)),  # empty interval
            ("2024-01-01 12:00", "2024-01-01 06:00", (0, 0)),  # reversed
            ("2023-01-01", "2023-06-01", (0, 0)),  # before the data
            ("2025-01-01", None, (0, 0)),  # after the data
        ],
    )
    def test_range_read_returns_start_inclusive_end_exclusive(
        self,
        store: CandleStore,
        start: str | None,
        end: str | None,
        expected_rows: tuple[int, int],
    ) -> None:
        # Arrange
        data = candles("2024-01-01", 96, M15)
        store.write("BTC/USDT", M15, data)

        # Act
        out = store.read("BTC/USDT", M15, utc(start) if start else None, utc(end) if end else None)

        # Assert
        lo, hi = expected_rows
        pd.testing.assert_frame_equal(out, data.iloc[lo:hi], check_freq=False)

    def test_range_read_across_periods_returns_every_period(self, store: CandleStore) -> None:
        # Arrange: one candle every 15m from mid-January to mid-April
        data = candles("2024-01-15", 8736, M15)
        store.write("BTC/USDT", M15, data)

        # Act
        out = store.read("BTC/USDT", M15, utc("2024-01-31 23:30"), utc("2024-03-01 00:30"))

        # Assert
        expected = data.loc[utc("2024-01-31 23:30") : utc("2024-03-01 00:15")]
        pd.testing.assert_frame_equal(out, expected, check_freq=False)

    def test_naive_bounds_are_read_as_utc(self, store: CandleStore) -> None:
        # Arrange
        data = candles("2024-01-01", 8, H1)
        store.write("BTC/USDT", H1, data)

        # Act
        out = store.read("BTC/USDT", H1, pd.Timestamp("2024-01-01 02:00"))

        # Assert
        assert out.index[0] == utc("2024-01-01 02:00")

    def test_symbols_and_timeframes_are_isolated(self, store: CandleStore) -> None:
        # Arrange
        series = {
            ("BTC/USDT", M1): candles("2024-01-01", 50, M1, seed=1),
            ("BTC/USDT", H1): candles("2024-01-01", 50, H1, seed=2),
            ("ETH/USDT", M1): candles("2024-01-01", 50, M1, seed=3),
            ("BTC/USDT:USDT", M1): candles("2024-01-01", 50, M1, seed=4),
        }

        # Act
        for (symbol, tf), data in series.items():
            store.write(symbol, tf, data)

        # Assert
        for (symbol, tf), data in series.items():
            pd.testing.assert_frame_equal(store.read(symbol, tf), data, check_freq=False)

    def test_symbols_lists_the_stored_pairs_sorted(self, store: CandleStore) -> None:
        # Arrange
        for symbol, tf in [("ETH/USDT", M1), ("BTC/USDT", H1), ("BTC/USDT", M1)]:
            store.write(symbol, tf, candles("2024-01-01", 5, tf))

        # Act
        pairs = store.symbols()

        # Assert
        assert pairs == [("BTC/USDT", "1h"), ("BTC/USDT", "1m"), ("ETH/USDT", "1m")]

    def test_empty_store_reads_empty_and_lists_nothing(self, store: CandleStore) -> None:
        # Act
        out = store.read("NOPE/USDT", M1)

        # Assert
        assert out.empty
        assert list(out.columns) == list(OHLCV)
        assert str(out.index.tz) == "UTC"
        assert out.index.name == "ts"
        assert store.symbols() == []
        assert store.last_timestamp("NOPE/USDT", M1) is None

    def test_last_timestamp_is_the_newest_open_time_whatever_the_write_order(
        self, store: CandleStore
    ) -> None:
        # Arrange
        data = candles("2024-01-15", 4000, M15)

        # Act
        store.write("BTC/USDT", M15, data.iloc[2000:])
        store.write("BTC/USDT", M15, data.iloc[:2000])
        last = store.last_timestamp("BTC/USDT", M15)

        # Assert
        assert last == data.index[-1]
        assert last is not None
        assert str(last.tz) == "UTC"

    def test_write_of_an_empty_frame_writes_nothing(self, store: CandleStore) -> None:
        # Act
        written = store.write("BTC/USDT", M1, candles("2024-01-01", 0))

        # Assert
        assert written == 0
        assert store.symbols() == []

    def test_index_in_another_timezone_is_stored_as_utc(self, store: CandleStore) -> None:
        # Arrange
        data = candles("2024-01-01", 10, M1)

        # Act
        store.write("BTC/USDT", M1, data.tz_convert("America/New_York"))

        # Assert
        pd.testing.assert_frame_equal(store.read("BTC/USDT", M1), data, check_freq=False)

    @pytest.mark.parametrize(
        ("mangle", "message"),
        [
            (lambda d: d.iloc[[0, 2, 1]], "strictly increasing"),
            (lambda d: d.iloc[[0, 1, 1]], "strictly increasing"),
            (lambda d: d.tz_localize(None), "tz-aware"),
            (lambda d: d.drop(columns=["volume"]), "missing columns"),
            (lambda d: d.reset_index(), "tz-aware"),
        ],
    )
    def test_bad_frames_raise_naming_the_series(
        self, store: CandleStore, mangle, message: str
    ) -> None:
        # Arrange
        data = mangle(candles("2024-01-01", 3, M1))

        # Act / Assert
        with pytest.raises(CandleDataError, match=f"BTC/USDT 1m.*{message}"):
            store.write("BTC/USDT", M1, data)

    @pytest.mark.parametrize("symbol", ["", "   "])
    def test_blank_symbol_raises(self, store: CandleStore, symbol: str) -> None:
        with pytest.raises(CandleDataError, match="symbol"):
            store.write(symbol, M1, candles("2024-01-01", 3))

    @settings(
        max_examples=25,
        deadline=None,
        # one store per test function (fresh series per example); the same law runs once per
        # store class, hence several executors
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        writes=st.lists(
            st.tuples(st.integers(0, 3000), st.integers(1, 1500)), min_size=1, max_size=4
        )
    )
    def test_any_sequence_of_writes_reads_back_as_last_write_wins(
        self, store: CandleStore, writes: list[tuple[int, int]]
    ) -> None:
        # Arrange: a fresh series per example; the model is a dict keyed by open time
        symbol = f"HYP{next(_unique)}/USDT"
        model: dict[pd.Timestamp, list[float]] = {}

        # Act
        for seed, (offset, length) in enumerate(writes):
            data = candles("2024-01-31", 4500, M1, seed=seed).iloc[offset : offset + length]
            store.write(symbol, M1, data)
            model.update(zip(data.index, data.to_numpy().tolist(), strict=True))

        # Assert
        out = store.read(symbol, M1)
        keys = sorted(model)
        assert list(out.index) == keys
        assert out.to_numpy().tolist() == [model[k] for k in keys]
        assert store.last_timestamp(symbol, M1) == keys[-1]


class TestParquetCandleStore(CandleStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ParquetCandleStore:
        return ParquetCandleStore(tmp_path / "candles")


def period_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(PART_FILE))


@pytest.mark.parametrize(
    ("timeframe", "start", "n", "expected"),
    [
        (
            M1,
            "2024-01-31 23:58",
            4,
            [
                "symbol=BTC%2FUSDT/timeframe=1m/period=2024-01/part.parquet",
                "symbol=BTC%2FUSDT/timeframe=1m/period=2024-02/part.parquet",
            ],
        ),
        (
            H1,
            "2023-12-31 22:00",
            4,
            [
                "symbol=BTC%2FUSDT/timeframe=1h/period=2023/part.parquet",
                "symbol=BTC%2FUSDT/timeframe=1h/period=2024/part.parquet",
            ],
        ),
    ],
)
def test_files_are_partitioned_by_symbol_timeframe_and_period(
    tmp_path: Path, timeframe: Timeframe, start: str, n: int, expected: list[str]
) -> None:
    # Arrange
    store = ParquetCandleStore(tmp_path)

    # Act
    store.write("BTC/USDT", timeframe, candles(start, n, timeframe))

    # Assert
    assert period_files(tmp_path) == expected


def test_read_opens_only_the_period_files_it_needs(tmp_path: Path) -> None:
    # Arrange: January, February, March; then make February unreadable
    store = ParquetCandleStore(tmp_path)
    data = candles("2024-01-31 23:00", 60 * 24 * 31, M1)
    store.write("BTC/USDT", M1, data)
    february = tmp_path / "symbol=BTC%2FUSDT/timeframe=1m/period=2024-02" / PART_FILE
    february.write_bytes(b"not parquet")

    # Act
    out = store.read("BTC/USDT", M1, utc("2024-03-01"), utc("2024-03-01 01:00"))
    last = store.last_timestamp("BTC/USDT", M1)

    # Assert
    pd.testing.assert_frame_equal(
        out, data.loc[utc("2024-03-01") : utc("2024-03-01 00:59")], check_freq=False
    )
    assert last == data.index[-1]


def test_write_leaves_no_temp_files_and_ignores_stale_ones(tmp_path: Path) -> None:
    # Arrange: a temp file left by a crashed writer
    store = ParquetCandleStore(tmp_path)
    store.write("BTC/USDT", M1, candles("2024-01-01", 10))
    folder = tmp_path / "symbol=BTC%2FUSDT/timeframe=1m/period=2024-01"
    (folder / ".part.parquet.dead.tmp").write_bytes(b"half written")

    # Act
    store.write("BTC/USDT", M1, candles("2024-01-01 00:10", 10))

    # Assert
    assert sorted(p.name for p in folder.iterdir()) == [".part.parquet.dead.tmp", PART_FILE]
    assert len(store.read("BTC/USDT", M1)) == 20


def test_concurrent_writers_of_one_month_lose_no_rows(tmp_path: Path) -> None:
    # Arrange: eight days of January written at once, all merging into period=2024-01
    store = ParquetCandleStore(tmp_path)
    data = candles("2024-01-01", 8 * 1440, M1)
    days = [data.iloc[d * 1440 : (d + 1) * 1440] for d in range(8)]
    errors: list[BaseException] = []

    def write(day: pd.DataFrame) -> None:
        try:
            store.write("BTC/USDT", M1, day)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(day,)) for day in days]

    # Act
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Assert
    assert errors == []
    pd.testing.assert_frame_equal(store.read("BTC/USDT", M1), data, check_freq=False)


@given(symbol=st.text(min_size=1).filter(str.strip))
def test_symbol_encoding_is_reversible_and_path_safe(symbol: str) -> None:
    # Act
    encoded = encode_symbol(symbol)

    # Assert
    assert decode_symbol(encoded) == symbol
    assert not set(encoded) & {"/", "\\", "\x00"}


def test_dataset_is_readable_as_a_hive_partitioned_parquet_dataset(tmp_path: Path) -> None:
    # Arrange
    import pyarrow.dataset as ds

    store = ParquetCandleStore(tmp_path)
    store.write("BTC/USDT", M1, candles("2024-01-31 23:00", 120))

    # Act
    table = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()

    # Assert
    assert table.num_rows == 120
    assert set(table.column("symbol").to_pylist()) == {"BTC/USDT"}


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [("parquet", {"root": "x"}, ParquetCandleStore)],
)
def test_make_store_builds_the_store_of_that_kind(
    kind: str, options: dict[str, str], expected: type
) -> None:
    # Act
    store = make_store(kind, **options)  # type: ignore[arg-type]

    # Assert
    assert isinstance(store, expected)


def test_make_store_rejects_an_unknown_kind() -> None:
    with pytest.raises(CandleDataError, match="unknown candle store kind 'sqlite'"):
        make_store("sqlite")  # type: ignore[arg-type]
