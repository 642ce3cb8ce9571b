"""The candle store interface: Parquet (embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from features.candles.schema import Timeframe


@runtime_checkable
class CandleStore(Protocol):
    """Idempotent candle storage keyed by ``(symbol, timeframe, ts)``.

    ``write`` takes a *validated* canonical candle frame (see ``features.candles.schema``);
    writing an overlapping range again replaces those rows (last write wins), never duplicates.
    ``read`` returns a canonical frame sorted by ``ts`` for ``start <= ts < end`` (bounds
    optional), empty when nothing is stored.
    """

    def write(self, symbol: str, timeframe: Timeframe, candles: pd.DataFrame) -> int:
        """Store candles; return the number of rows written."""
        ...

    def read(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Read candles of one symbol and timeframe in ``[start, end)``."""
        ...

    def last_timestamp(self, symbol: str, timeframe: Timeframe) -> pd.Timestamp | None:
        """Open time of the newest stored candle, or ``None`` (for resuming ingestion)."""
        ...

    def symbols(self) -> list[tuple[str, str]]:
        """The stored ``(symbol, timeframe label)`` pairs."""
        ...
