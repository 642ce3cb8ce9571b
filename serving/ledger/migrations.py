"""Schema versions of the ledger tables, per SQL dialect.

``ledger_schema`` holds one row per applied version; opening a ledger applies the missing
versions in order inside one transaction. A new version is appended here, never edited.
Version 1 creates the events table and the triggers that refuse UPDATE and DELETE.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgres"]

VERSION_TABLE = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS ledger_schema ("
        "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    ),
    "postgres": (
        "CREATE TABLE IF NOT EXISTS ledger_schema ("
        "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
    ),
}

MIGRATIONS: dict[int, dict[Dialect, list[str]]] = {
    1: {
        "sqlite": [
            """CREATE TABLE ledger_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                recorded_at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                ref TEXT NOT NULL,
                dedup TEXT UNIQUE,
                body TEXT NOT NULL)""",
            "CREATE INDEX ledger_events_ref ON ledger_events (ref)",
            "CREATE INDEX ledger_events_kind ON ledger_events (kind, seq)",
            """CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
               BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: no UPDATE'); END""",
            """CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
               BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: no DELETE'); END""",
        ],
        "postgres": [
            """CREATE TABLE ledger_events (
                seq BIGSERIAL PRIMARY KEY,
                recorded_at BIGINT NOT NULL,
                kind TEXT NOT NULL,
                ref TEXT NOT NULL,
                dedup TEXT UNIQUE,
                body JSONB NOT NULL)""",
            "CREATE INDEX ledger_events_ref ON ledger_events (ref)",
            "CREATE INDEX ledger_events_kind ON ledger_events (kind, seq)",
            """CREATE FUNCTION ledger_append_only() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION 'the ledger is append-only: no %', TG_OP; END
               $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER ledger_events_append_only
               BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_events
               FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()""",
        ],
    },
}

LATEST = max(MIGRATIONS)
