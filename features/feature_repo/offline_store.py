"""``AsofFileOfflineStore``: Feast's file offline store with a linear point-in-time join.

Feast's file (dask) store joins an entity frame to a feature view by merging every entity row
with every feature row of the same key, then filtering on time: the work grows with the
product of both sizes (a year of 5m bars per symbol: 10^10 pairs; 576 entity rows against two
days already take ~6 s here). This store keeps the same files, data sources and semantics and
replaces two steps:

- ``get_historical_features``: per feature view, read only the needed columns and the time
  span the entity rows can reach (``[min - ttl, max]``, pushed down to Parquet), keep the last
  row per (key, event time) by ``created``, then ``pandas.merge_asof`` backwards by key with
  ``tolerance = ttl``: each entity row gets the latest feature row with
  ``entity time - ttl <= event time <= entity time``. Every entity row is kept (NaN when no
  row qualifies; the dask store drops such rows, see STACK.md).
- ``pull_latest_from_table_or_query`` / ``pull_all_from_table_or_query`` (materialization):
  the same filtered read instead of a full dask sort of the whole source.

Anything else (entity frames given as SQL or dask frames, on-demand views) falls back to the
dask store. Select it with ``offline_store: {type: features.feature_repo.offline_store.
AsofFileOfflineStore}``; ``tests/features/test_feature_store.py`` checks that both stores
return the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
from feast.data_source import DataSource
from feast.feature_view import DUMMY_ENTITY_ID, DUMMY_ENTITY_VAL, FeatureView
from feast.infra.offline_stores.dask import (
    DaskOfflineStore,
    DaskOfflineStoreConfig,
    DaskRetrievalJob,
)
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import RepoConfig
from feast.utils import (
    _get_requested_feature_views_to_features_dict,
    _get_requested_on_demand_feature_views,
)

STORE_TYPE = "features.feature_repo.offline_store.AsofFileOfflineStore"
_FEATURE_TS = "__feature_ts"


class AsofFileOfflineStoreConfig(DaskOfflineStoreConfig):
    """Config of :class:`AsofFileOfflineStore` (no options beyond the type)."""

    type: Literal["features.feature_repo.offline_store.AsofFileOfflineStore"] = STORE_TYPE  # type: ignore[assignment]


def _utc(series: pd.Series) -> pd.Series:
    """Return timestamps as tz-aware UTC nanoseconds (naive ones are UTC, as in Feast)."""
    values = pd.to_datetime(series, utc=True)
    return values.dt.as_unit("ns")


def _read(
    config: RepoConfig,
    source: FileSource,
    columns: list[str],
    timestamp_field: str,
    start: datetime | pd.Timestamp | None,
    end: datetime | pd.Timestamp | None,
    keys: dict[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """Read ``columns`` of rows with ``start <= event time <= end`` (and key values)."""
    path = FileSource.get_uri_for_file_path(config.repo_path, source.file_options.uri)
    dataset = pads.dataset(path, format="parquet")
    field = pads.field(timestamp_field)
    condition = None
    ts_type = dataset.schema.field(timestamp_field).type
    for bound, op in ((start, "ge"), (end, "le")):
        if bound is None:
            continue
        stamp = pd.Timestamp(bound)
        stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
        scalar = pa.scalar(stamp.as_unit("ns"), type=pa.timestamp("ns", tz="UTC")).cast(ts_type)
        term = field >= scalar if op == "ge" else field <= scalar
        condition = term if condition is None else condition & term
    for name, values in (keys or {}).items():
        term = pads.field(name).isin(values)
        condition = term if condition is None else condition & term
    table = dataset.to_table(columns=list(dict.fromkeys(columns)), filter=condition)
    return table.to_pandas(self_destruct=True, split_blocks=False)


def _mapped(source: DataSource) -> tuple[dict[str, str], dict[str, str]]:
    """Return the source's field mapping (source -> feature) and its inverse."""
    mapping = dict(source.field_mapping or {})
    return mapping, {v: k for k, v in mapping.items()}


def _asof_join(
    left: pd.DataFrame,
    view: FeatureView,
    features: list[str],
    config: RepoConfig,
    entity_ts: str,
    full_feature_names: bool,
) -> pd.DataFrame:
    """Return one view's features as of each row of ``left`` (sorted by time), in its order."""
    source = view.batch_source
    assert isinstance(source, FileSource)
    forward, inverse = _mapped(source)
    ts_field = source.timestamp_field
    created = source.created_timestamp_column or None
    source_keys = [inverse.get(c.name, c.name) for c in view.entity_columns]
    join_keys = [view.projection.join_key_map.get(c.name, c.name) for c in view.entity_columns]
    wanted = [
        *source_keys,
        inverse.get(ts_field, ts_field),
        *([inverse.get(created, created)] if created else []),
        *(inverse.get(f, f) for f in features),
    ]
    ttl = view.ttl if view.ttl and view.ttl.total_seconds() > 0 else None
    times = left[entity_ts]
    lo = times.min() - ttl if ttl is not None else None
    keys = {
        src: left[key].dropna().unique().tolist()
        for src, key in zip(source_keys, join_keys, strict=True)
    }
    rows = _read(config, source, wanted, inverse.get(ts_field, ts_field), lo, times.max(), keys)
    # Rename in place: the rows can be a year of ~200 columns, every copy counts.
    names = {
        f: f"{view.projection.name_to_use()}__{f}" if full_feature_names else f for f in features
    }
    renames = {
        **forward,
        **{c.name: k for c, k in zip(view.entity_columns, join_keys, strict=True)},
    }
    rows.columns = [renames.get(c, c) for c in rows.columns]
    rows[ts_field] = _utc(rows[ts_field])
    stamps = [rows[ts_field].to_numpy()]
    if created:
        stamps.insert(0, _utc(rows[created]).to_numpy())
    order = np.lexsort(stamps)  # by event time, then created
    if not np.array_equal(order, np.arange(len(order))):
        rows = rows.take(order)
    duplicated = rows.duplicated([*join_keys, ts_field], keep="last").to_numpy()
    if duplicated.any():
        rows = rows[~duplicated]
    if created and created in rows.columns and created not in features:
        del rows[created]
    rows.columns = [_FEATURE_TS if c == ts_field else names.get(c, c) for c in rows.columns]
    for key in join_keys:
        if rows[key].dtype != left[key].dtype:
            rows[key] = rows[key].astype(left[key].dtype)
    joined = pd.merge_asof(
        left[[entity_ts, *join_keys]],
        rows,
        left_on=entity_ts,
        right_on=_FEATURE_TS,
        by=join_keys or None,
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(ttl) if ttl is not None else None,
    )
    for column in [entity_ts, *join_keys, _FEATURE_TS]:
        del joined[column]
    return joined


class _Computed:
    """A finished result behind the ``.compute()`` that ``DaskRetrievalJob`` calls."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def compute(self) -> pd.DataFrame:
        return self.frame


class AsofFileOfflineStore(DaskOfflineStore):
    """Feast's file offline store with a linear point-in-time join (see the module doc)."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | dd.DataFrame | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        """Return a job joining each entity row to the latest feature rows as of its time."""
        odfvs = _get_requested_on_demand_feature_views(feature_refs, project, registry)
        if not isinstance(entity_df, pd.DataFrame) or odfvs or filter_by_created_timestamp:
            return DaskOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names,
                filter_by_created_timestamp,
                **kwargs,
            )
        entity_ts = DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL
        if entity_ts not in entity_df.columns:
            stamps = entity_df.select_dtypes(include=["datetime", "datetimetz"]).columns
            if len(stamps) != 1:
                raise ValueError(
                    f"entity_df needs a column named {entity_ts!r} with the time of each row"
                )
            entity_ts = str(stamps[0])
        by_view, _ = _get_requested_feature_views_to_features_dict(feature_refs, feature_views, [])
        frame = entity_df.copy()
        frame[entity_ts] = _utc(frame[entity_ts])
        span = (frame[entity_ts].min().to_pydatetime(), frame[entity_ts].max().to_pydatetime())

        def evaluate() -> _Computed:
            # Join each view on the rows sorted by time, put its columns back in the entity
            # frame's order, then concatenate once: one copy of the result, no dask graph.
            order = np.argsort(frame[entity_ts].to_numpy(), kind="stable")
            restore = np.empty_like(order)
            restore[order] = np.arange(len(order))
            left = frame.iloc[order].reset_index(drop=True)
            pieces = [frame.reset_index(drop=True)]
            for view, features in by_view.items():
                joined = _asof_join(left, view, features, config, entity_ts, full_feature_names)
                pieces.append(joined.iloc[restore].reset_index(drop=True))
            return _Computed(pd.concat(pieces, axis=1, copy=False))

        return DaskRetrievalJob(
            evaluation_function=evaluate,
            full_feature_names=full_feature_names,
            repo_path=str(config.repo_path),
            on_demand_feature_views=OnDemandFeatureView.get_requested_odfvs(
                feature_refs, project, registry
            ),
            metadata=RetrievalMetadata(
                features=feature_refs,
                keys=[c for c in entity_df.columns if c != entity_ts],
                min_event_timestamp=span[0],
                max_event_timestamp=span[1],
            ),
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        """Return a job with the latest row per key among ``start <= event time <= end``."""
        return _pull(
            config,
            data_source,
            join_key_columns,
            feature_name_columns,
            timestamp_field,
            created_timestamp_column,
            start_date,
            end_date,
            latest=True,
        )

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        """Return a job with every row among ``start <= event time <= end``."""
        return _pull(
            config,
            data_source,
            join_key_columns,
            feature_name_columns,
            timestamp_field,
            created_timestamp_column,
            start_date,
            end_date,
            latest=False,
        )


def _pull(
    config: RepoConfig,
    source: DataSource,
    join_keys: list[str],
    features: list[str],
    timestamp_field: str,
    created: str | None,
    start: datetime | None,
    end: datetime | None,
    *,
    latest: bool,
) -> RetrievalJob:
    assert isinstance(source, FileSource)
    stamps = [timestamp_field, *([created] if created else [])]

    def evaluate() -> _Computed:
        rows = _read(config, source, [*join_keys, *stamps, *features], timestamp_field, start, end)
        for column in stamps:
            rows[column] = _utc(rows[column])
        rows = rows.sort_values(stamps, kind="stable")
        if latest and join_keys:
            rows = rows.drop_duplicates(join_keys, keep="last")
        if not join_keys:
            rows[DUMMY_ENTITY_ID] = DUMMY_ENTITY_VAL
        return _Computed(rows.reset_index(drop=True))

    return DaskRetrievalJob(
        evaluation_function=evaluate, full_feature_names=False, repo_path=str(config.repo_path)
    )


__all__ = ["STORE_TYPE", "AsofFileOfflineStore", "AsofFileOfflineStoreConfig"]
