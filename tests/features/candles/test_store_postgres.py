"""PostgreSQL candle store: the shared contract on a real server, plus its own guarantees."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import psycopg
import pytest

from features.candles.schema import OHLCV, CandleDataError
from features.candles.store import make_store
from features.candles.store.postgres import PostgresCandleStore, copy_payload, parse_payload
from tests.features.candles.test_store_parquet import M1, M15, CandleStoreContract, candles, utc

pytestmark = pytest.mark.services


@pytest.fixture
def store(pg_dsn: str) -> PostgresCandleStore:
    return PostgresCandleStore(pg_dsn)


class TestPostgresCandleStore(CandleStoreContract):
    """The ``CandleStore`` contract against PostgreSQL (fixture ``store`` above)."""


def table_columns(dsn: str, schema: str, table: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def primary_key(dsn: str, qualified: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey, a.attnum)",
            [qualified],
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_table_is_created_on_first_use_with_the_documented_layout(pg_dsn: str) -> None:
    # Arrange
    store = PostgresCandleStore(pg_dsn, table="bars", schema="market")

    # Act
    store.write("BTC/USDT", M1, candles("2024-01-01", 3))

    # Assert
    assert table_columns(pg_dsn, "market", "bars") == [
        ("symbol", "text", "NO"),
        ("timeframe", "text", "NO"),
        ("ts", "timestamp with time zone", "NO"),
        *((c, "double precision", "NO") for c in OHLCV),
    ]
    assert primary_key(pg_dsn, "market.bars") == ["symbol", "timeframe", "ts"]


def test_constructing_a_store_does_not_connect() -> None:
    # Act: a DSN nobody answers; nothing may happen until the store is used
    store = PostgresCandleStore("host=127.0.0.1 port=1 user=nobody dbname=none")

    # Assert
    assert store.table == "candles"
    with pytest.raises(psycopg.OperationalError):
        store.last_timestamp("BTC/USDT", M1)


def test_stores_on_different_tables_do_not_see_each_other(pg_dsn: str) -> None:
    # Arrange
    a = PostgresCandleStore(pg_dsn, table="a")
    b = PostgresCandleStore(pg_dsn, table="b")

    # Act
    a.write("BTC/USDT", M1, candles("2024-01-01", 5))

    # Assert
    assert a.symbols() == [("BTC/USDT", "1m")]
    assert b.symbols() == []


def test_rewriting_identical_rows_does_not_update_them(
    store: PostgresCandleStore, pg_dsn: str
) -> None:
    # Arrange
    data = candles("2024-01-01", 50)
    store.write("BTC/USDT", M1, data)
    changed = data.copy()
    changed.iloc[10, 3] += 1.0

    # Act
    store.write("BTC/USDT", M1, changed)

    # Assert: only the changed row got a new row version (xmin); values are the new ones
    with psycopg.connect(pg_dsn) as conn:
        versions = conn.execute(
            "SELECT count(DISTINCT xmin::text) FROM candles WHERE symbol = 'BTC/USDT'"
        ).fetchone()
    assert versions == (2,)
    pd.testing.assert_frame_equal(store.read("BTC/USDT", M1), changed, check_freq=False)


def test_concurrent_overlapping_writers_leave_one_copy(store: PostgresCandleStore) -> None:
    # Arrange
    data = [candles("2024-01-01", 3000, M15, seed=s) for s in range(4)]
    errors: list[BaseException] = []

    def write(frame: pd.DataFrame) -> None:
        try:
            store.write("BTC/USDT", M15, frame)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(d.iloc[i * 500 : i * 500 + 2000],))
        for i, d in enumerate(data)
    ]

    # Act
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Assert
    assert errors == []
    out = store.read("BTC/USDT", M15)
    assert len(out) == 3000
    assert out.index.is_unique
    assert out.index.is_monotonic_increasing


def test_sub_microsecond_open_times_are_rejected(store: PostgresCandleStore) -> None:
    # Arrange
    data = candles("2024-01-01", 3)
    data.index = data.index + pd.Timedelta(nanoseconds=1)

    # Act / Assert
    with pytest.raises(CandleDataError, match="microseconds"):
        store.write("BTC/USDT", M1, data)


def test_read_bounds_with_nanoseconds_round_like_the_nanosecond_comparison(
    store: PostgresCandleStore,
) -> None:
    # Arrange
    data = candles("2024-01-01", 5)
    store.write("BTC/USDT", M1, data)

    # Act: start 1 ns after 00:01 excludes 00:01; end 1 ns after 00:03 includes 00:03
    out = store.read(
        "BTC/USDT",
        M1,
        utc("2024-01-01 00:01") + pd.Timedelta(1, "ns"),
        utc("2024-01-01 00:03") + pd.Timedelta(1, "ns"),
    )

    # Assert
    assert list(out.index.strftime("%H:%M")) == ["00:02", "00:03"]


def test_store_borrows_connections_from_a_given_pool(pg_dsn: str) -> None:
    # Arrange
    from psycopg_pool import ConnectionPool

    data = candles("2024-01-01", 100)
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        store = PostgresCandleStore(pg_dsn, pool=pool)

        # Act
        store.write("BTC/USDT", M1, data)
        out = store.read("BTC/USDT", M1)
        stats = pool.get_stats()

    # Assert
    pd.testing.assert_frame_equal(out, data, check_freq=False)
    assert stats["requests_num"] >= 2


def test_make_store_builds_a_postgres_store(pg_dsn: str) -> None:
    # Act
    store = make_store("postgres", dsn=pg_dsn, table="t")

    # Assert
    assert isinstance(store, PostgresCandleStore)
    assert store.table == "t"


@pytest.mark.parametrize(("table", "schema"), [("", "public"), ("candles", "")])
def test_blank_table_or_schema_is_rejected(table: str, schema: str) -> None:
    with pytest.raises(CandleDataError, match="non-empty"):
        PostgresCandleStore("dbname=x", table=table, schema=schema)


def test_copy_payload_parses_back_to_the_same_arrays() -> None:
    # Arrange
    data = candles("1999-12-31 23:58", 5)
    ts_ns = data.index.as_unit("ns").to_numpy(dtype="datetime64[ns]").view(np.int64)

    # Act
    block = parse_payload(bytes(copy_payload(ts_ns // 1000, data.to_numpy())), "test")

    # Assert: before and after the PostgreSQL epoch (2000-01-01)
    np.testing.assert_array_equal(block.ts, ts_ns)
    np.testing.assert_array_equal(block.values, data.to_numpy())


def test_truncated_copy_stream_is_rejected() -> None:
    # Arrange
    payload = bytes(copy_payload(np.array([0, 60_000_000]), np.ones((2, 5))))

    # Act / Assert
    with pytest.raises(CandleDataError, match="unexpected binary COPY"):
        parse_payload(payload[:-5] + payload[-2:], "read X 1m")
