"""Ingestion workflow over the candle interfaces: fetch, keep raw, validate, store, quarantine.

Pure orchestration of domain objects (no framework): the CLI and the Dagster assets both call
these functions with the source and stores they were configured with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.gaps import empty_gaps
from features.candles.quarantine import QuarantineStore, RawArchive
from features.candles.resample import resample_candles
from features.candles.schema import OHLCV, Timeframe, empty_candles
from features.candles.sources.base import MarketDataSource
from features.candles.store.base import CandleStore
from features.candles.validate import ValidationResult, empty_quarantine, validate_candles


@dataclass(frozen=True)
class IngestReport:
    """What one ingestion window did: counts, span, gaps and the quarantined rows."""

    source: str
    symbol: str
    timeframe: str
    partition: str
    ingest: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    n_received: int
    n_stored: int
    n_quarantined: int
    n_out_of_order: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None
    gaps: pd.DataFrame
    quarantine: pd.DataFrame
    raw: pd.DataFrame

    @property
    def missing_bars(self) -> int:
        """Number of missing bars inside the stored span."""
        return int(self.gaps["missing_bars"].sum()) if len(self.gaps) else 0


def ingest_window(
    source: MarketDataSource,
    store: CandleStore,
    archive: RawArchive,
    quarantine: QuarantineStore,
    *,
    symbol: str,
    timeframe: Timeframe,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    partition: str,
) -> IngestReport:
    """Fetch ``[start, end)`` from ``source``; store the valid rows, quarantine the rest.

    The raw rows are archived as received before anything else, so a validation bug can never
    lose input. Raw archive and quarantine are keyed by ``partition`` and the ingest id (a
    digest of the raw rows): another input for the same window never replaces them, and
    re-running a window on the same input rewrites the same files and candles (idempotent).
    """
    raw = source.fetch(symbol, timeframe, start, end)
    ingest = archive.write(source.name, symbol, timeframe.label, partition, raw)
    result: ValidationResult | None = (
        None
        if raw.empty  # nothing in this window (yet): an empty day is not an error
        else validate_candles(raw, timeframe, source=source.name, symbol=symbol)
    )
    rejected = empty_quarantine() if result is None else result.quarantine
    quarantine.write(source.name, symbol, timeframe.label, partition, rejected, ingest=ingest)
    valid = empty_candles() if result is None else result.valid
    stored = store.write(symbol, timeframe, valid) if len(valid) else 0
    return IngestReport(
        source=source.name,
        symbol=symbol,
        timeframe=timeframe.label,
        partition=partition,
        ingest=ingest,
        start=start,
        end=end,
        n_received=0 if result is None else result.n_received,
        n_stored=stored,
        n_quarantined=len(rejected),
        n_out_of_order=0 if result is None else result.n_out_of_order,
        first_ts=valid.index[0] if len(valid) else None,
        last_ts=valid.index[-1] if len(valid) else None,
        gaps=empty_gaps() if result is None else result.gaps,
        quarantine=rejected,
        raw=raw,
    )


def sync_timeframes(
    store: CandleStore, *, symbol: str, base: Timeframe, targets: Sequence[Timeframe]
) -> dict[str, int]:
    """Derive every higher timeframe from the stored base candles and store what lags.

    Each target is resampled from all stored base candles (closed periods only) and compared
    with what the store holds for it; periods that are missing or whose values differ are
    written. So higher timeframes catch up whatever left them behind: an ingest with
    resampling off, a process killed between the base commit and resampling, a base window
    ingested again with corrected rows. Running it again writes nothing.

    Returns:
        Rows written per target label (the base itself is skipped).
    """
    candles = store.read(symbol, base)
    written: dict[str, int] = {}
    for target in targets:
        if target == base:
            continue
        derived = resample_candles(candles, target, base)
        lagging = _differs(derived, store.read(symbol, target))
        written[target.label] = (
            store.write(symbol, target, derived[lagging]) if lagging.any() else 0
        )
    return written


def _differs(derived: pd.DataFrame, stored: pd.DataFrame) -> np.ndarray:
    """Mask of ``derived`` rows missing from ``stored`` or stored with other values."""
    held = stored.reindex(derived.index)[list(OHLCV)].to_numpy()
    want = derived[list(OHLCV)].to_numpy()
    return np.asarray(np.isnan(held).any(axis=1) | (held != want).any(axis=1))
