"""The ledger interface and its two stores: SQLite (embedded default) and PostgreSQL.

Both keep one append-only table (``migrations.py``). :meth:`Ledger.append` writes a batch in
one transaction and returns, per event, its sequence number or None where its ``dedup`` key
was already stored. Reads return events in sequence order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from serving.ledger.config import LedgerConfig
from serving.ledger.events import EVENT_KINDS, EventKind, LedgerEvent, load_body
from serving.ledger.migrations import LATEST, MIGRATIONS, VERSION_TABLE, Dialect


class LedgerError(RuntimeError):
    """The ledger could not be read or written (the message never carries credentials)."""


class Ledger(Protocol):
    """Append-only storage of :class:`LedgerEvent`."""

    def append(self, events: Sequence[LedgerEvent]) -> list[int | None]:
        """Store events in one transaction; None for an event whose dedup key is stored."""
        ...

    def events(self, since: int = 0, kinds: Iterable[EventKind] | None = None) -> list[LedgerEvent]:
        """Return the events after sequence number ``since``, in order."""
        ...

    def schema_version(self) -> int:
        """Return the highest applied schema version."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _row_event(row: Sequence[Any]) -> LedgerEvent:
    seq, recorded_at, kind, ref, dedup, body = row
    return LedgerEvent(
        kind=kind,
        ref=ref,
        body=load_body(body),
        at=pd.Timestamp(int(recorded_at), tz="UTC"),
        dedup=dedup,
        seq=int(seq),
    )


def _kinds(kinds: Iterable[EventKind] | None) -> list[str] | None:
    if kinds is None:
        return None
    out: list[str] = list(kinds)
    bad = [k for k in out if k not in EVENT_KINDS]
    if bad:
        raise LedgerError(f"unknown event kind(s) {bad}; known: {', '.join(EVENT_KINDS)}")
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SqliteLedger:
    """The ledger in one SQLite file (WAL journal, full sync: a commit survives a crash)."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path | None) -> None:
        """Open (creating) the file at ``path`` and apply missing migrations."""
        if path is None:
            raise LedgerError("the SQLite ledger needs a file path")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(VERSION_TABLE["sqlite"])
                have = c.execute("SELECT COALESCE(MAX(version), 0) FROM ledger_schema").fetchone()
                for version in range(int(have[0]) + 1, LATEST + 1):
                    for sql in MIGRATIONS[version]["sqlite"]:
                        c.execute(sql)
                    c.execute("INSERT INTO ledger_schema VALUES (?, ?)", (version, _now()))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def append(self, events: Sequence[LedgerEvent]) -> list[int | None]:
        """Store events in one transaction; None for an event whose dedup key is stored."""
        out: list[int | None] = []
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                for e in events:
                    cur = c.execute(
                        "INSERT INTO ledger_events (recorded_at, kind, ref, dedup, body) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (dedup) DO NOTHING",
                        (int(e.at.value), e.kind, e.ref, e.dedup, e.body_json()),
                    )
                    out.append(cur.lastrowid if cur.rowcount == 1 else None)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return out

    def events(self, since: int = 0, kinds: Iterable[EventKind] | None = None) -> list[LedgerEvent]:
        """Return the events after sequence number ``since``, in order."""
        wanted = _kinds(kinds)
        sql = "SELECT seq, recorded_at, kind, ref, dedup, body FROM ledger_events WHERE seq > ?"
        args: list[Any] = [since]
        if wanted is not None:
            sql += f" AND kind IN ({','.join('?' * len(wanted))})"
            args += wanted
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [_row_event(r) for r in rows]

    def schema_version(self) -> int:
        """Return the highest applied schema version."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(version) FROM ledger_schema").fetchone()
        return int(row[0])

    def execute_raw(self, sql: str) -> None:
        """Run one statement as is (tests use it to prove UPDATE/DELETE are refused)."""
        with self._lock:
            self._conn.execute(sql)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


class PostgresLedger:
    """The ledger in PostgreSQL through a psycopg 3 connection pool."""

    dialect: Dialect = "postgres"

    def __init__(self, config: LedgerConfig) -> None:
        """Open the pool (connections are checked before use) and apply missing migrations."""
        import psycopg_pool

        self._pool = psycopg_pool.ConnectionPool(
            config.dsn or "",
            min_size=config.pool_min,
            max_size=config.pool_max,
            timeout=config.timeout_s,
            check=psycopg_pool.ConnectionPool.check_connection,
            open=True,
        )
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(74150001)")  # one migrator at a time
            conn.execute(VERSION_TABLE["postgres"])
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM ledger_schema").fetchone()
            for version in range(int(row[0]) + 1 if row else 1, LATEST + 1):
                for sql in MIGRATIONS[version]["postgres"]:
                    conn.execute(sql)
                conn.execute("INSERT INTO ledger_schema VALUES (%s, now())", (version,))

    def append(self, events: Sequence[LedgerEvent]) -> list[int | None]:
        """Store events in one transaction; None for an event whose dedup key is stored."""
        if not events:
            return []
        rows = [(int(e.at.value), e.kind, e.ref, e.dedup, e.body_json()) for e in events]
        out: list[int | None] = []
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # one pipelined round trip for the batch; a refused duplicate returns no row
            cur.executemany(
                "INSERT INTO ledger_events (recorded_at, kind, ref, dedup, body) "
                "VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT (dedup) DO NOTHING "
                "RETURNING seq",
                rows,
                returning=True,
            )
            while True:
                row = cur.fetchone()
                out.append(int(row[0]) if row else None)
                if not cur.nextset():
                    break
        return out

    def events(self, since: int = 0, kinds: Iterable[EventKind] | None = None) -> list[LedgerEvent]:
        """Return the events after sequence number ``since``, in order."""
        wanted = _kinds(kinds)
        sql = "SELECT seq, recorded_at, kind, ref, dedup, body FROM ledger_events WHERE seq > %s"
        args: list[Any] = [since]
        if wanted is not None:
            sql += " AND kind = ANY(%s)"
            args.append(wanted)
        with self._pool.connection() as conn:
            rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [_row_event(r) for r in rows]

    def schema_version(self) -> int:
        """Return the highest applied schema version."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT MAX(version) FROM ledger_schema").fetchone()
        return int(row[0]) if row else 0

    def execute_raw(self, sql: str) -> None:
        """Run one statement as is (tests use it to prove UPDATE/DELETE are refused)."""
        with self._pool.connection() as conn:
            conn.execute(sql)

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()


def open_ledger(config: LedgerConfig) -> SqliteLedger | PostgresLedger:
    """Open the ledger that ``config`` names, migrated to the latest schema."""
    if config.backend == "sqlite":
        return SqliteLedger(config.path)
    try:
        return PostgresLedger(config)
    except Exception as exc:  # the DSN may hold a password: name the class only
        raise LedgerError(
            f"could not open the PostgreSQL ledger ({type(exc).__name__}); "
            "check SMARTMARKET_LEDGER_DSN"
        ) from None
