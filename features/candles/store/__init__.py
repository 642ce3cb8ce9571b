"""Candle stores: Parquet files (embedded default) and PostgreSQL, behind ``CandleStore``.

``PostgresCandleStore`` is imported on first use so that importing this package does not
import psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from features.candles.schema import CandleDataError
from features.candles.store.base import CandleStore
from features.candles.store.parquet import ParquetCandleStore

if TYPE_CHECKING:
    from features.candles.store.postgres import PostgresCandleStore

__all__ = ["CandleStore", "ParquetCandleStore", "PostgresCandleStore", "make_store"]

StoreKind = Literal["parquet", "postgres"]


def make_store(kind: StoreKind, **options: Any) -> CandleStore:
    """Build a candle store by kind.

    Args:
        kind: ``"parquet"`` (options: ``root``) or ``"postgres"`` (options: ``dsn``, ``table``,
            ``schema``, ``pool``, ``connect_timeout``).
        **options: Passed to the store's constructor.

    Raises:
        CandleDataError: For an unknown kind.
        TypeError: For an option the store does not take (the message names it).
    """
    if kind == "parquet":
        factory: type[Any] = ParquetCandleStore
    elif kind == "postgres":
        from features.candles.store.postgres import PostgresCandleStore

        factory = PostgresCandleStore
    else:
        raise CandleDataError(
            f"unknown candle store kind {kind!r}: expected 'parquet' or 'postgres'"
        )
    store: CandleStore = factory(**options)
    return store


def __getattr__(name: str) -> Any:
    if name == "PostgresCandleStore":
        from features.candles.store.postgres import PostgresCandleStore

        return PostgresCandleStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
