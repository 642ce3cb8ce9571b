"""Ingestion workflow over the candle interfaces: fetch, keep raw, validate, store, quarantine.

Pure orchestration of domain objects (no framework): the CLI and the Dagster assets both call
these functions with the source and stores they were configured with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.candles.gaps import empty_gaps
from features.candles.quarantine import QuarantineStore, RawArchive
from features.candles.resample import resample_candles
from features.candles.schema import Timeframe
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

    The raw rows are archived as received under ``partition`` before anything else, so a
    validation bug can never lose input; re-running a window replaces that partition's
    archive, quarantine and candles (idempotent).
    """
    raw = source.fetch(symbol, timeframe, start, end)
    archive.write(source.name, symbol, timeframe.label, partition, raw)
    if raw.empty:  # nothing in this window (yet): an empty day is not an error
        quarantine.write(source.name, symbol, timeframe.label, partition, empty_quarantine())
        return IngestReport(
            source.name,
            symbol,
            timeframe.label,
            partition,
            0,
            0,
            0,
            0,
            None,
            None,
            empty_gaps(),
            empty_quarantine(),
            raw,
        )
    result: ValidationResult = validate_candles(raw, timeframe, source=source.name, symbol=symbol)
    quarantine.write(source.name, symbol, timeframe.label, partition, result.quarantine)
    valid = result.valid
    stored = store.write(symbol, timeframe, valid) if len(valid) else 0
    return IngestReport(
        source=source.name,
        symbol=symbol,
        timeframe=timeframe.label,
        partition=partition,
        n_received=result.n_received,
        n_stored=stored,
        n_quarantined=len(result.quarantine),
        n_out_of_order=result.n_out_of_order,
        first_ts=valid.index[0] if len(valid) else None,
        last_ts=valid.index[-1] if len(valid) else None,
        gaps=result.gaps,
        quarantine=result.quarantine,
        raw=raw,
    )


def build_timeframes(
    store: CandleStore,
    *,
    symbol: str,
    base: Timeframe,
    targets: Sequence[Timeframe],
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> dict[str, pd.DataFrame]:
    """Resample the stored base candles in ``[start, end)`` to ``targets`` and store them.

    ``start``/``end`` must lie on the grid of the largest target, so that every target period
    is either wholly inside the window or wholly outside; incomplete last periods are not
    emitted (and appear once their last base candle is stored).
    """
    candles = store.read(symbol, base, start, end)
    out: dict[str, pd.DataFrame] = {}
    for target in targets:
        frame = candles if target == base else resample_candles(candles, target, base)
        if target != base and len(frame):
            store.write(symbol, target, frame)
        out[target.label] = frame
    return out
