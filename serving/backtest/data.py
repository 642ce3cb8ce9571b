"""Candles for a backtest: read a CSV/Parquet file, validate it, keep the canonical frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from features.candles.sources import FileSource
from features.candles.validate import ValidationResult, validate_candles

MAX_QUARANTINED_SHARE = 0.5
"""More rejected rows than this means the file or the timeframe is wrong, not a few bad rows."""


@dataclass(frozen=True)
class LoadedCandles:
    """The valid candles of a file and what validation made of it."""

    candles: pd.DataFrame
    validation: ValidationResult


def load_candles(path: str | Path, symbol: str, timeframe: str | Timeframe) -> LoadedCandles:
    """Read, validate and return the candles of ``path`` (rows that fail are quarantined).

    Raises:
        CandleDataError: The file is missing or unreadable, holds no valid candle, or most of
            its rows fail validation (the message gives the main reasons).
    """
    tf = Timeframe.parse(timeframe)
    source = FileSource(path, symbol=symbol)
    raw = source.fetch(symbol, tf)
    result = validate_candles(raw, tf, source="file", symbol=symbol)
    if result.n_valid == 0:
        raise CandleDataError(f"{path}: no valid {tf} candles ({_reasons(result)})")
    if result.n_quarantined > MAX_QUARANTINED_SHARE * result.n_received:
        raise CandleDataError(
            f"{path}: {result.n_quarantined:,} of {result.n_received:,} rows failed validation "
            f"as {tf} candles ({_reasons(result)}); is --timeframe right?"
        )
    return LoadedCandles(result.valid, result)


def _reasons(result: ValidationResult) -> str:
    counts = result.reason_counts()
    if not counts:
        return "the file is empty"
    return ", ".join(f"{n:,} x {why}" for why, n in list(counts.items())[:3])
