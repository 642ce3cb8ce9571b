"""The market-data source interface."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from features.candles.schema import Timeframe


@runtime_checkable
class MarketDataSource(Protocol):
    """Where candles come from: synthetic market, files or an exchange.

    ``fetch`` returns the rows *as received*, a raw frame with a default RangeIndex and columns
    ``ts`` (tz-aware UTC open time; ``NaT`` where unparseable), ``open, high, low, close, volume``
    (values as received: may be object dtype holding strings or NaN) and ``source_row`` (1-based
    position in the source: the line number for files, header = line 1), for
    ``start <= ts < end`` (either bound may be ``None``: open), closed candles only.
    Validation and quarantine happen downstream (``features.candles.validate``), so raw input
    is kept as received and nothing is silently dropped.
    """

    name: str

    def symbols(self) -> list[str]:
        """Symbols this source can provide (may be empty when unknown until asked)."""
        ...

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Return raw rows for ``symbol`` with open time in ``[start, end)``."""
        ...
