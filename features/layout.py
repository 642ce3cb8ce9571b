"""The layout of the offline feature tables: key columns, view names, path-safe symbols.

One row per candle and symbol, in the layout the Feast feature views read:

- ``symbol`` (string): the entity key;
- ``event_timestamp`` (UTC): the candle's CLOSE time, when its values became known;
- ``created`` (UTC): when the row was computed (Feast breaks ties on it);
- ``ts`` (UTC): the candle's open time (for partitioning and reading back; not a feature);
- ``known_at`` (float64): ``event_timestamp`` in epoch seconds, also served as a feature so that
  every retrieved vector carries its availability time (point-in-time audits, staleness);
- the feature columns. The packed model view has one ``vector`` column instead: the model's
  inputs (:func:`features.model_inputs.model_input_columns`) as a list of float64, in a fixed
  order.

Names only (numpy/pandas): the Feast declarations import this module, never the storage code.
"""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe

ENTITY = "symbol"
EVENT_TIMESTAMP = "event_timestamp"
CREATED = "created"
OPEN_TIME = "ts"
KNOWN_AT = "known_at"
VECTOR = "vector"
KEY_COLUMNS: tuple[str, ...] = (ENTITY, EVENT_TIMESTAMP, CREATED, OPEN_TIME)
VIEW_KINDS: tuple[str, ...] = ("smc", "mtf", "model")


def view_name(kind: str, timeframe: str | Timeframe) -> str:
    """Return a feature view's name: ``smc_5m``, ``mtf_5m``, ``model_5m``."""
    if kind not in VIEW_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}: expected smc, mtf or model")
    return f"{kind}_{Timeframe.parse(timeframe).label}"


def encode_symbol(symbol: str) -> str:
    """Return the path-safe, reversible form of ``symbol`` (percent-encoding)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise CandleDataError(f"symbol must be a non-empty string, got {symbol!r}")
    return quote(symbol, safe="")


def utc_ns(index: pd.Index) -> np.ndarray:
    """Return a DatetimeIndex's instants as int64 nanoseconds since the epoch (UTC)."""
    stamps = pd.DatetimeIndex(index).as_unit("ns")
    return np.asarray(stamps.asi8, dtype=np.int64)  # type: ignore[attr-defined]


def utc(value: pd.Timestamp | str | None, what: str) -> pd.Timestamp | None:
    """Return ``value`` in UTC (``None`` kept); raise ``CandleDataError`` when tz-naive."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tz is None:
        raise CandleDataError(f"{what} must be a tz-aware timestamp, got {value!r}")
    return stamp.tz_convert("UTC")
