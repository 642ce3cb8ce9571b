"""Where the ledger lives: SQLite under the app home by default, PostgreSQL by configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from serving.orders import OrderError


@dataclass(frozen=True)
class LedgerConfig:
    """Frozen ledger settings (the edges build it from ``SMARTMARKET_LEDGER_DSN``/the home).

    Attributes:
        backend: ``sqlite`` (one file, the embedded default) or ``postgres``.
        path: The SQLite file (``sqlite``).
        dsn: The PostgreSQL connection string (``postgres``); never logged.
        pool_min: Connections the PostgreSQL pool keeps open.
        pool_max: Most connections the pool opens.
        timeout_s: How long a write waits for a connection before it fails.
    """

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = None
    dsn: str | None = None
    pool_min: int = 1
    pool_max: int = 4
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.backend not in ("sqlite", "postgres"):
            raise OrderError(f"LedgerConfig.backend: {self.backend!r} is not sqlite or postgres")
        if self.backend == "sqlite" and self.path is None:
            raise OrderError("LedgerConfig.path: the sqlite ledger needs a file path")
        if self.backend == "postgres" and not self.dsn:
            raise OrderError("LedgerConfig.dsn: the postgres ledger needs a connection string")
        if not 1 <= self.pool_min <= self.pool_max:
            raise OrderError(
                f"LedgerConfig.pool_min/pool_max: need 1 <= min <= max, got "
                f"{self.pool_min}/{self.pool_max}"
            )

    @classmethod
    def build(cls, home: Path, dsn: str | None = None) -> LedgerConfig:
        """Return PostgreSQL at ``dsn`` when given, else ``<home>/ledger/ledger.sqlite``."""
        if dsn:
            return cls(backend="postgres", dsn=dsn)
        return cls(backend="sqlite", path=Path(home) / "ledger" / "ledger.sqlite")

    def __repr__(self) -> str:
        where = str(self.path) if self.backend == "sqlite" else "dsn=***"
        return f"LedgerConfig(backend={self.backend!r}, {where})"
