"""Feature views: one per timeframe and kind, all keyed by ``symbol``.

- ``smc_<tf>``: every ``compute_smc`` column of timeframe ``tf``;
- ``mtf_<trading tf>``: every ``compute_mtf`` column;
- ``model_<trading tf>``: the model's inputs packed in one ``vector`` (Array(Float64)) for
  one-read serving; the column order is in the view's ``columns`` tag.

Every view also serves ``known_at`` (the candle close, epoch seconds). The TTL is two candles
of the view's timeframe: a point-in-time lookup falls back at most one missing candle, then
returns NaN rather than a stale value.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Array, Float64

from features.candles.schema import Timeframe
from features.feature_repo import FeatureSet
from features.layout import KNOWN_AT, VECTOR

TTL_CANDLES = 2


def view_ttl(timeframe: str) -> timedelta:
    """Return a view's TTL: ``TTL_CANDLES`` candles of its timeframe."""
    return timedelta(seconds=TTL_CANDLES * Timeframe.parse(timeframe).seconds)


def table_view(
    name: str, timeframe: str, entity: Entity, source: FileSource, columns: tuple[str, ...]
) -> FeatureView:
    """Return a view with one Float64 feature per column (plus ``known_at``)."""
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=view_ttl(timeframe),
        schema=[Field(name=c, dtype=Float64) for c in (KNOWN_AT, *columns)],
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
        schema=[Field(name=KNOWN_AT, dtype=Float64), Field(name=VECTOR, dtype=Array(Float64))],
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
