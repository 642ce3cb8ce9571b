"""PostgreSQL candle store: binary COPY in and out, built and parsed with numpy.

The table (created when missing) is keyed by ``(symbol, timeframe, ts)``::

    symbol text, timeframe text, ts timestamptz, open/high/low/close/volume float8,
    PRIMARY KEY (symbol, timeframe, ts)

Writes are idempotent (new values win). Each write runs in one transaction holding an
advisory lock on its ``(table, symbol, timeframe)``, so writers of one series take turns and
what a write reads cannot change under it. Incoming rows outside the stored
``[min(ts), max(ts)]`` of the series cannot conflict and are COPYed straight into the table
(the append fast path). For rows inside it, the stored rows of that span are read back (binary
COPY) and compared bit for bit: rows not stored yet are COPYed straight in too, rows whose
values changed go through a temp stage table and ``INSERT ... ON CONFLICT DO UPDATE``, and
identical rows are left alone (re-running an ingestion window writes nothing). A writer that
bypasses the store and inserts a conflicting row concurrently makes the write fail (unique
violation, rolled back), never duplicates.

The binary COPY stream is built with numpy instead of ``write_row`` per row: symbol and
timeframe are constant within a write, so every tuple has the same size and each chunk of the
stream is a broadcast template with the value columns written through strided views. Reads use
``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`` parsed with a numpy structured dtype.

Connections: a plain connection per call (about 6 ms on localhost) unless a
``psycopg_pool.ConnectionPool`` is passed in; nothing connects at import or construction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from features.candles.schema import OHLCV, CandleDataError, Timeframe, empty_candles
from features.candles.store._frame import CandleArrays, to_arrays, to_frame, to_utc_ns

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since the Unix epoch
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
_VALUE_FIELDS = [("ts", ">i8"), *((c, ">f8") for c in OHLCV)]


def _record_dtype(texts: tuple[bytes, ...]) -> np.dtype:
    """Return the packed dtype of one binary COPY tuple: constant texts, then ts and OHLCV."""
    fields: list[tuple[str, str]] = [("nfields", ">i2")]
    for i, text in enumerate(texts):
        fields += [(f"len_t{i}", ">i4"), (f"t{i}", f"S{len(text)}")]
    for name, kind in _VALUE_FIELDS:
        fields += [(f"len_{name}", ">i4"), (name, kind)]
    return np.dtype(fields)


def _template(texts: tuple[bytes, ...]) -> np.ndarray:
    """Return one binary COPY tuple with its constant parts filled in (values zero)."""
    template = np.zeros(1, dtype=_record_dtype(texts))
    template["nfields"] = len(texts) + len(_VALUE_FIELDS)
    for i, text in enumerate(texts):
        template[f"len_t{i}"] = len(text)
        template[f"t{i}"] = text
    for name, _ in _VALUE_FIELDS:
        template[f"len_{name}"] = 8
    return template


def _tuples(ts_us: np.ndarray, values: np.ndarray, template: np.ndarray) -> memoryview:
    """Return the binary COPY tuples of a block: the template broadcast, values written in."""
    n, size = int(ts_us.shape[0]), template.dtype.itemsize
    offsets = {name: spec[1] for name, spec in (template.dtype.fields or {}).items()}
    out = np.empty((n, size), dtype=np.uint8)
    out[:] = template.view(np.uint8)
    columns = [(ts_us - _PG_EPOCH_US).astype(">i8")]
    columns += [values[:, j].astype(">f8") for j in range(len(OHLCV))]
    for (name, _), column in zip(_VALUE_FIELDS, columns, strict=True):
        view = np.ndarray((n,), dtype=np.uint64, buffer=out, offset=offsets[name], strides=(size,))
        view[:] = column.view(np.uint64)
    return out.data


def copy_chunks(
    ts_us: np.ndarray,
    values: np.ndarray,
    texts: tuple[bytes, ...] = (),
    chunk_rows: int = 65_536,
) -> Iterator[bytes | memoryview]:
    """Yield a whole binary COPY stream (signature, tuples, trailer) built with numpy.

    Every tuple has the same size (the texts are constant), so each chunk of rows is a
    template tuple broadcast over an ``(n, size)`` byte matrix with the value columns written
    through strided views. Chunking lets the server work while the next chunk is built and
    keeps the client's memory small.

    Args:
        ts_us: Open times in microseconds since the Unix epoch (int64).
        values: The (n, 5) float64 OHLCV block.
        texts: Constant leading text columns (e.g. symbol and timeframe, UTF-8 encoded).
        chunk_rows: Rows per yielded chunk.
    """
    template = _template(texts)
    yield _SIGNATURE
    for lo in range(0, int(ts_us.shape[0]), chunk_rows):
        yield _tuples(ts_us[lo : lo + chunk_rows], values[lo : lo + chunk_rows], template)
    yield _TRAILER


def copy_payload(ts_us: np.ndarray, values: np.ndarray, texts: tuple[bytes, ...] = ()) -> bytes:
    """Return the whole binary COPY stream of ``copy_chunks`` as one bytes object."""
    return b"".join(copy_chunks(ts_us, values, texts))


def parse_payload(payload: bytes | bytearray, where: str) -> CandleArrays:
    """Parse a binary COPY stream of ``(ts, open, high, low, close, volume)`` rows."""
    dtype = _record_dtype(())
    ext = int.from_bytes(payload[15:19], "big") if len(payload) >= 19 else 0
    body = memoryview(payload)[19 + ext : len(payload) - len(_TRAILER)]
    if (
        len(payload) < 19
        or payload[:11] != _SIGNATURE[:11]
        or payload[-2:] != _TRAILER
        or len(body) % dtype.itemsize
    ):
        raise CandleDataError(f"{where}: unexpected binary COPY stream (NULL values stored?)")
    records = np.frombuffer(body, dtype=dtype)
    lengths = [records[f"len_{name}"] for name, _ in _VALUE_FIELDS]
    if np.any(records["nfields"] != len(_VALUE_FIELDS)) or any(np.any(n != 8) for n in lengths):
        raise CandleDataError(f"{where}: unexpected binary COPY tuple (NULL values stored?)")
    ts = records["ts"].astype(np.int64) * 1000 + _PG_EPOCH_US * 1000
    values = np.empty((records.shape[0], len(OHLCV)), dtype=np.float64)
    for j, column in enumerate(OHLCV):
        values[:, j] = records[column]
    return CandleArrays(ts=ts, values=values)


def _to_datetime(ts_us: int) -> datetime:
    """Return an exact tz-aware datetime from microseconds since the Unix epoch."""
    return PG_EPOCH + timedelta(microseconds=ts_us - _PG_EPOCH_US)


def _to_us(value: datetime) -> int:
    """Return microseconds since the Unix epoch of a tz-aware datetime, exactly."""
    delta = value - PG_EPOCH
    return _PG_EPOCH_US + (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class PostgresCandleStore:
    """Candles in one PostgreSQL table.

    Args:
        dsn: libpq connection string or URL.
        table: Table name; created when missing.
        schema: Schema of the table; created when missing.
        pool: Optional ``psycopg_pool.ConnectionPool`` to borrow connections from; its owner
            closes it. Without one, each call opens and closes a plain connection.
        connect_timeout: Seconds to wait for a plain connection.
    """

    def __init__(
        self,
        dsn: str,
        table: str = "candles",
        schema: str = "public",
        *,
        pool: ConnectionPool | None = None,
        connect_timeout: int = 10,
    ) -> None:
        for name, value in (("table", table), ("schema", schema)):
            if not isinstance(value, str) or not value:
                raise CandleDataError(f"PostgresCandleStore {name} must be a non-empty string")
        self.dsn = dsn
        self.table = table
        self.schema = schema
        self._pool = pool
        self._connect_timeout = connect_timeout
        self._ident = sql.Identifier(schema, table)
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresCandleStore(table={self.schema}.{self.table})"

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Yield a connection whose transaction commits on success; create the table once."""
        if self._pool is not None:
            with self._pool.connection() as conn:
                self._ensure_table(conn)
                yield conn
            return
        with psycopg.connect(self.dsn, connect_timeout=self._connect_timeout) as conn:
            self._ensure_table(conn)
            yield conn

    def _ensure_table(self, conn: psycopg.Connection[Any]) -> None:
        if self._ready:
            return
        with self._ready_lock, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [self._key()])
            row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema])
            if row.fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " symbol text NOT NULL, timeframe text NOT NULL, ts timestamptz NOT NULL,"
                    " open float8 NOT NULL, high float8 NOT NULL, low float8 NOT NULL,"
                    " close float8 NOT NULL, volume float8 NOT NULL,"
                    " PRIMARY KEY (symbol, timeframe, ts))"
                ).format(self._ident)
            )
        self._ready = True

    def _key(self, *parts: str) -> str:
        """Return the advisory-lock key text of this table (and series)."""
        return "\x1f".join(("smartmarket.candles", self.schema, self.table, *parts))

    def write(self, symbol: str, timeframe: Timeframe, candles: pd.DataFrame) -> int:
        """Store candles idempotently (new values win); return the number of rows written."""
        timeframe = Timeframe.parse(timeframe)
        _check_symbol(symbol)
        block = to_arrays(candles, f"write {symbol} {timeframe}")
        if len(block) == 0:
            return 0
        if np.any(block.ts % 1000):
            raise CandleDataError(
                f"write {symbol} {timeframe}: PostgreSQL stores microseconds; "
                "open times have sub-microsecond parts"
            )
        ts_us = block.ts // 1000
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [self._key(symbol, timeframe.label)],
            )
            lo, hi = conn.execute(
                sql.SQL(
                    "SELECT min(ts), max(ts) FROM {} WHERE symbol = %s AND timeframe = %s"
                ).format(self._ident),
                [symbol, timeframe.label],
            ).fetchone() or (None, None)
            fresh = np.ones(len(block), dtype=bool)
            changed = np.zeros(len(block), dtype=bool)
            if lo is not None and hi is not None:
                first = int(np.searchsorted(ts_us, _to_us(lo), side="left"))
                last = int(np.searchsorted(ts_us, _to_us(hi), side="right"))
                if last > first:
                    inside = slice(first, last)
                    stored = self._copy_out(
                        conn, symbol, timeframe, int(ts_us[first]), int(ts_us[last - 1]) + 1
                    )
                    fresh[inside], changed[inside] = _diff(
                        ts_us[inside], block.values[inside], stored
                    )
            texts = (symbol.encode(), timeframe.label.encode())
            if fresh.all():
                self._copy_into_table(conn, ts_us, block.values, texts)
            elif fresh.any():
                self._copy_into_table(conn, ts_us[fresh], block.values[fresh], texts)
            if changed.any():
                self._upsert(conn, ts_us[changed], block.values[changed], symbol, timeframe.label)
        return len(block)

    def _copy_out(
        self,
        conn: psycopg.Connection[Any],
        symbol: str,
        timeframe: Timeframe,
        lo_us: int | None,
        hi_us: int | None,
    ) -> CandleArrays:
        """Read ``lo_us <= ts < hi_us`` (microseconds; ``None``: open) with a binary COPY."""
        where = [sql.SQL("symbol = %s"), sql.SQL("timeframe = %s")]
        params: list[object] = [symbol, timeframe.label]
        if lo_us is not None:
            where.append(sql.SQL("ts >= %s"))
            params.append(_to_datetime(lo_us))
        if hi_us is not None:
            where.append(sql.SQL("ts < %s"))
            params.append(_to_datetime(hi_us))
        query = sql.SQL(
            "COPY (SELECT ts, open, high, low, close, volume FROM {} WHERE {} ORDER BY ts)"
            " TO STDOUT (FORMAT BINARY)"
        ).format(self._ident, sql.SQL(" AND ").join(where))
        payload = bytearray()
        with conn.cursor() as cur, cur.copy(query, params) as copy:
            for chunk in copy:
                payload += chunk
        return parse_payload(payload, f"read {symbol} {timeframe}")

    def _copy_into_table(
        self,
        conn: psycopg.Connection[Any],
        ts_us: np.ndarray,
        values: np.ndarray,
        texts: tuple[bytes, bytes],
    ) -> None:
        columns = sql.SQL(", ").join(map(sql.Identifier, ("symbol", "timeframe", "ts", *OHLCV)))
        query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(self._ident, columns)
        with conn.cursor() as cur, cur.copy(query) as copy:
            for chunk in copy_chunks(ts_us, values, texts):
                copy.write(chunk)

    def _upsert(
        self,
        conn: psycopg.Connection[Any],
        ts_us: np.ndarray,
        values: np.ndarray,
        symbol: str,
        timeframe: str,
    ) -> None:
        conn.execute(
            "CREATE TEMP TABLE candle_stage (ts timestamptz NOT NULL, open float8 NOT NULL,"
            " high float8 NOT NULL, low float8 NOT NULL, close float8 NOT NULL,"
            " volume float8 NOT NULL) ON COMMIT DROP"
        )
        with conn.cursor() as cur, cur.copy("COPY candle_stage FROM STDIN (FORMAT BINARY)") as cp:
            for chunk in copy_chunks(ts_us, values):
                cp.write(chunk)
        conn.execute(
            sql.SQL(
                "INSERT INTO {table} AS c (symbol, timeframe, ts, open, high, low, close, volume)"
                " SELECT %s, %s, ts, open, high, low, close, volume FROM candle_stage"
                " ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET"
                " open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,"
                " close = EXCLUDED.close, volume = EXCLUDED.volume"
                " WHERE (c.open, c.high, c.low, c.close, c.volume) IS DISTINCT FROM"
                " (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)"
            ).format(table=self._ident),
            [symbol, timeframe],
        )

    def read(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Read candles in ``[start, end)`` with a binary COPY parsed by numpy."""
        timeframe = Timeframe.parse(timeframe)
        _check_symbol(symbol)
        lo, hi = to_utc_ns(start, "start"), to_utc_ns(end, "end")
        if lo is not None and hi is not None and lo >= hi:
            return empty_candles()
        with self._connection() as conn:
            # ceil to microseconds: ts_us * 1000 >= lo  <=>  ts_us >= ceil(lo / 1000)
            block = self._copy_out(
                conn,
                symbol,
                timeframe,
                None if lo is None else -(-lo // 1000),
                None if hi is None else -(-hi // 1000),
            )
        if len(block) == 0:
            return empty_candles()
        return to_frame(block.ts, block.values)

    def last_timestamp(self, symbol: str, timeframe: Timeframe) -> pd.Timestamp | None:
        """Open time of the newest stored candle (an index lookup), or ``None``."""
        timeframe = Timeframe.parse(timeframe)
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT max(ts) FROM {} WHERE symbol = %s AND timeframe = %s").format(
                    self._ident
                ),
                [symbol, timeframe.label],
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return pd.Timestamp(row[0]).tz_convert("UTC").as_unit("ns")

    def symbols(self) -> list[tuple[str, str]]:
        """The stored ``(symbol, timeframe label)`` pairs, by a loose index scan."""
        query = sql.SQL(
            "WITH RECURSIVE k AS ("
            " (SELECT symbol, timeframe FROM {t} ORDER BY symbol, timeframe LIMIT 1)"
            " UNION ALL"
            " SELECT n.symbol, n.timeframe FROM k, LATERAL ("
            "  SELECT symbol, timeframe FROM {t}"
            "  WHERE (symbol, timeframe) > (k.symbol, k.timeframe)"
            "  ORDER BY symbol, timeframe LIMIT 1) n)"
            " SELECT symbol, timeframe FROM k"
        ).format(t=self._ident)
        with self._connection() as conn:
            rows = conn.execute(query).fetchall()
        return sorted((str(s), str(t)) for s, t in rows)


def _diff(
    ts_us: np.ndarray, values: np.ndarray, stored: CandleArrays
) -> tuple[np.ndarray, np.ndarray]:
    """Return masks of incoming rows that are not stored yet and rows whose values changed.

    Values are compared bit for bit, so a rewrite with identical candles touches nothing.
    """
    if len(stored) == 0:
        return np.ones(ts_us.shape[0], dtype=bool), np.zeros(ts_us.shape[0], dtype=bool)
    stored_us = stored.ts // 1000
    pos = np.minimum(np.searchsorted(stored_us, ts_us), len(stored) - 1)
    found = stored_us[pos] == ts_us
    same = np.all(values.view(np.uint64) == stored.values[pos].view(np.uint64), axis=1)
    return ~found, found & ~same


def _check_symbol(symbol: str) -> None:
    if not isinstance(symbol, str) or not symbol.strip():
        raise CandleDataError(f"symbol must be a non-empty string, got {symbol!r}")
