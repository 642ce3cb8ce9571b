"""API keys with scopes, stored hashed in SQLite, and the audit log of mutating calls.

A key reads ``smk_<id>_<secret>``; only ``sha256(key)`` is stored (keys are 256-bit random,
so a fast hash is enough and a lookup stays a dictionary probe). The clear key is shown once,
when it is created. Scopes: ``read`` (signals, analyses, trading reads), ``trade`` (manual
orders, bot start/stop), ``admin`` (model reload, kill switch; implies the others).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCOPES: tuple[str, ...] = ("read", "trade", "admin")
DEFAULT_RATE = 600.0
"""Requests per minute a key may make unless created with another rate."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL, rate_per_minute REAL NOT NULL, created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS audit_log (
    ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
    status INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True)
class ApiKey:
    """A stored key without its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    rate_per_minute: float
    created_at: float
    revoked_at: float | None = None

    def allows(self, scope: str) -> bool:
        """Return whether the key holds ``scope`` (``admin`` holds every scope)."""
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    """Return the stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Return the scopes, checked and in canonical order.

    Raises:
        ValueError: An unknown or no scope.
    """
    wanted = {s.strip() for s in scopes if s.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown}: expected some of {list(SCOPES)}")
    if not wanted:
        raise ValueError(f"a key needs at least one scope of {list(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


class KeyStore:
    """API keys and the audit log in one SQLite file; verified keys cached for ``ttl`` s."""

    def __init__(self, path: Path | str, ttl: float = 2.0) -> None:
        """Open (create) the database at ``path``."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._ttl = ttl
        self._lock = threading.Lock()
        self._by_hash: dict[str, ApiKey] = {}
        self._loaded = -float("inf")
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def create(
        self, name: str, scopes: Iterable[str], rate_per_minute: float = DEFAULT_RATE
    ) -> tuple[ApiKey, str]:
        """Create a key; return it and its clear value (shown once, never stored)."""
        if not name.strip():
            raise ValueError("a key needs a non-empty name")
        if not 0 < rate_per_minute <= 1e9:
            raise ValueError(f"rate must be in (0, 1e9] requests a minute, got {rate_per_minute}")
        chosen = parse_scopes(scopes)
        key_id = secrets.token_hex(4)
        clear = f"smk_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, name.strip(), chosen, float(rate_per_minute), time.time())
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key_id, record.name, hash_key(clear), ",".join(chosen), record.rate_per_minute,
                 record.created_at),
            )  # fmt: skip
        self._loaded = -float("inf")
        return record, clear

    def list_keys(self, include_revoked: bool = False) -> list[ApiKey]:
        """Return the keys, oldest first."""
        sql = "SELECT id, name, scopes, rate_per_minute, created_at, revoked_at FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY created_at").fetchall()
        return [ApiKey(r[0], r[1], tuple(r[2].split(",")), r[3], r[4], r[5]) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id.

        Raises:
            ValueError: No live key has that id.
        """
        with self._connect() as db:
            done = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            ).rowcount
        if not done:
            raise ValueError(f"no live API key with id {key_id!r} (see `smartmarket keys list`)")
        self._loaded = -float("inf")
        return next(k for k in self.list_keys(include_revoked=True) if k.id == key_id)

    def verify(self, presented: str | None) -> ApiKey | None:
        """Return the live key matching ``presented``, or ``None``."""
        if not presented:
            return None
        now = time.monotonic()
        if now - self._loaded > self._ttl:
            with self._lock:
                if now - self._loaded > self._ttl:
                    with self._connect() as db:
                        rows = db.execute(
                            "SELECT id, name, scopes, rate_per_minute, created_at, key_hash "
                            "FROM api_keys WHERE revoked_at IS NULL"
                        ).fetchall()
                    self._by_hash = {
                        r[5]: ApiKey(r[0], r[1], tuple(r[2].split(",")), r[3], r[4]) for r in rows
                    }
                    self._loaded = now
        # a probe on the hash: its timing says nothing about any stored key's clear value
        return self._by_hash.get(hash_key(presented))

    def audit(self, actor: str, action: str, target: str, status: int, detail: str = "") -> None:
        """Append one line to the audit log (who, what, on what, with what outcome, when)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), actor, action, target, status, detail),
            )

    def audit_log(self, limit: int = 100) -> list[dict[str, object]]:
        """Return the newest audit lines first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT ts, actor, action, target, status, detail FROM audit_log "
                "ORDER BY ts DESC LIMIT ?",
                (limit,),
            ).fetchall()
        names = ("ts", "actor", "action", "target", "status", "detail")
        return [dict(zip(names, r, strict=True)) for r in rows]
