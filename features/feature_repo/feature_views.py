"""Feature views: one per timeframe and kind, all keyed by ``symbol``.

- ``smc_<tf>``: every ``compute_smc`` column of timeframe ``tf``;
- ``mtf_<trading tf>``: every ``compute_mtf`` column;
- ``model_<trading tf>``: the model's inputs packed in one ``vector`` (Array(Float64)) for
  one-read serving; the column order is in the view's ``columns`` tag.

Each field is typed from its column spec's dtype (:func:`feast_type`: float64 -> ``Float64``,
float32 -> ``Float32``, int8/int16/int32 -> ``Int32``, Feast's narrowest integer).

Every view also serves ``known_at`` (the candle close, epoch seconds). The TTL is two candles
of the view's timeframe: a point-in-time lookup falls back at most one missing candle, then
returns NaN rather than a stale value.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Array, Bool, FeastType, Float32, Float64, Int32, Int64

from features.candles.schema import Timeframe
from features.feature_repo import FeatureSet
from features.layout import KNOWN_AT, VECTOR
from features.schema import spec_of

TTL_CANDLES = 2
# Feast has no 8- or 16-bit integers: Int32 holds them (its own Parquet inference does the same).
_FEAST_TYPES: dict[str, FeastType] = {
    "float64": Float64,
    "float32": Float32,
    "int8": Int32,
    "int16": Int32,
    "int32": Int32,
    "int64": Int64,
    "bool": Bool,
}


def feast_type(dtype: np.dtype) -> FeastType:
    """Return the Feast type of a column stored as ``dtype`` (its spec's dtype).

    Raises:
        ValueError: Feast has no type holding ``dtype``.
    """
    try:
        return _FEAST_TYPES[np.dtype(dtype).name]
    except KeyError:
        raise ValueError(f"no Feast type for dtype {np.dtype(dtype).name}") from None


def view_ttl(timeframe: str) -> timedelta:
    """Return a view's TTL: ``TTL_CANDLES`` candles of its timeframe."""
    return timedelta(seconds=TTL_CANDLES * Timeframe.parse(timeframe).seconds)


def table_view(
    name: str, timeframe: str, entity: Entity, source: FileSource, columns: tuple[str, ...]
) -> FeatureView:
    """Return a view with one feature per column (plus ``known_at``), typed from its spec."""
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=view_ttl(timeframe),
        schema=[Field(name=c, dtype=feast_type(spec_of(c).dtype)) for c in (KNOWN_AT, *columns)],
        source=source,
        online=True,
        description=f"{name}: features of {timeframe} candles, each known at the candle close.",
        tags={"timeframe": timeframe},
    )


def model_view(
    name: str, timeframe: str, entity: Entity, source: FileSource, features: FeatureSet
) -> FeatureView:
    """Return the packed model-input view (``vector`` + ``known_at``)."""
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=view_ttl(timeframe),
        schema=[
            Field(name=KNOWN_AT, dtype=feast_type(spec_of(KNOWN_AT).dtype)),
            Field(name=VECTOR, dtype=Array(Float64)),
        ],
        source=source,
        online=True,
        description=(
            f"The model's {len(features.model_columns)} inputs on {timeframe} candles as one "
            "vector; names in the 'columns' tag, in order."
        ),
        tags={
            "timeframe": timeframe,
            "version": str(features.version),
            "fingerprint": features.model_fingerprint,
            "columns": ",".join(features.model_columns),
        },
    )
