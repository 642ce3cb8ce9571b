"""The Feast feature store per environment, in one place, and the calls the pipeline makes.

``FeatureStoreConfig`` says where the repo lives (``<app home>/feast``) and which stores to use:
offline, the Parquet tables the pipeline writes (``asof``: Feast's file store with a linear
point-in-time join, the default; ``file``: Feast's own dask file store); online, SQLite
(default), Redis or PostgreSQL. ``repo_config`` turns it into Feast's ``RepoConfig`` with paths
relative to the repo folder; ``open_store`` also writes ``feature_store.yaml`` there (secrets as
``${VAR}`` placeholders) so that the Feast CLI works on it: ``feast -c .smartmarket/feast
feature-views list``.

Feast takes ~5 s to import: it is imported inside the functions that need it, never at module
import.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from features.feature_repo import OFFLINE_DIR, FeatureSet
from features.layout import ENTITY, EVENT_TIMESTAMP, KNOWN_AT, VECTOR, view_name
from features.tables import FeatureTables

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore, RepoConfig

OnlineKind = Literal["sqlite", "redis", "postgres"]
OfflineKind = Literal["asof", "file"]
REGISTRY_FILE = "registry.db"
ONLINE_FILE = "online_store.db"
YAML_FILE = "feature_store.yaml"
PG_PASSWORD_ENV = "SMARTMARKET_FEAST_PG_PASSWORD"
REDIS_PASSWORD_ENV = "SMARTMARKET_FEAST_REDIS_PASSWORD"
_PROJECT = re.compile(r"^[A-Za-z0-9_]+$")
_ROW = "__row"


@dataclass(frozen=True)
class FeatureStoreConfig:
    """Where the Feast repo lives and which offline and online stores it uses.

    Attributes:
        repo_dir: Repo folder (``<app home>/feast``): config, registry, SQLite online store
            and the offline tables under ``offline/``.
        project: Feast project name (letters, digits, underscores).
        online_store: ``sqlite`` (default), ``redis`` or ``postgres``.
        offline_store: ``asof`` (default) or ``file`` (Feast's dask store).
        redis_url: ``redis://[:password@]host:port/db`` for the Redis online store.
        pg_dsn: libpq DSN or URL for the PostgreSQL online store (``sslmode`` defaults to
            ``disable``, unlike Feast's ``require``).
    """

    repo_dir: Path
    project: str = "smartmarket"
    online_store: OnlineKind = "sqlite"
    offline_store: OfflineKind = "asof"
    redis_url: str | None = None
    pg_dsn: str | None = None

    def __post_init__(self) -> None:
        if not _PROJECT.match(self.project):
            raise ValueError(
                f"Feast project {self.project!r} must use letters, digits and underscores only"
            )
        if self.online_store not in ("sqlite", "redis", "postgres"):
            raise ValueError(f"online store {self.online_store!r} is not sqlite, redis or postgres")
        if self.offline_store not in ("asof", "file"):
            raise ValueError(f"offline store {self.offline_store!r} is not asof or file")
        if self.online_store == "redis" and not self.redis_url:
            raise ValueError("the redis online store needs a redis URL (SMARTMARKET_REDIS_URL)")
        if self.online_store == "postgres" and not self.pg_dsn:
            raise ValueError("the postgres online store needs a DSN (SMARTMARKET_FEAST_PG_DSN)")

    @property
    def tables(self) -> FeatureTables:
        """The offline tables (Parquet) the feature views read."""
        return FeatureTables(self.repo_dir / OFFLINE_DIR)


def redis_connection(url: str) -> tuple[str, str | None]:
    """Return Feast's Redis connection string for ``url`` and the password (if any)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise ValueError("redis URL must look like redis://[:password@]host:port/db")
    db = (parsed.path or "/0").lstrip("/") or "0"
    if not db.isdigit():
        raise ValueError(f"redis URL database must be a number, got {db!r}")
    parts = [f"{parsed.hostname}:{parsed.port or 6379}", f"db={db}"]
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    password = unquote(parsed.password) if parsed.password else None
    return ",".join(parts), password


def postgres_params(dsn: str) -> dict[str, Any]:
    """Return Feast's PostgreSQL online-store fields for a libpq DSN or URL."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg raises ProgrammingError for a malformed DSN
        raise ValueError(f"cannot parse the PostgreSQL DSN for the online store: {exc}") from None
    return {
        "host": str(info.get("host") or "127.0.0.1"),
        "port": int(info.get("port") or 5432),
        "database": str(info.get("dbname") or "postgres"),
        "db_schema": "public",
        "user": str(info.get("user") or "postgres"),
        "password": str(info.get("password") or ""),
        "sslmode": str(info.get("sslmode") or "disable"),
    }


def online_store_settings(
    config: FeatureStoreConfig, *, placeholders: bool = False
) -> dict[str, Any]:
    """Return the ``online_store`` section; ``placeholders`` puts ``${VAR}`` for secrets."""
    if config.online_store == "redis":
        assert config.redis_url is not None
        connection, password = redis_connection(config.redis_url)
        if password:
            connection += (
                f",password=${{{REDIS_PASSWORD_ENV}}}"
                if placeholders
                else (f",password={password}")
            )
        return {"type": "redis", "connection_string": connection}
    if config.online_store == "postgres":
        assert config.pg_dsn is not None
        params = postgres_params(config.pg_dsn)
        if placeholders and params["password"]:
            params["password"] = f"${{{PG_PASSWORD_ENV}}}"
        return {"type": "postgres", **params}
    return {"type": "sqlite", "path": ONLINE_FILE}


def _offline_settings(config: FeatureStoreConfig) -> dict[str, Any]:
    if config.offline_store == "file":
        return {"type": "file"}
    from features.feature_repo.offline_store import STORE_TYPE

    return {"type": STORE_TYPE}


def repo_settings(config: FeatureStoreConfig, *, placeholders: bool = False) -> dict[str, Any]:
    """Return the ``feature_store.yaml`` content as a dict (paths relative to the repo)."""
    return {
        "project": config.project,
        "registry": REGISTRY_FILE,
        "provider": "local",
        "offline_store": _offline_settings(config),
        "online_store": online_store_settings(config, placeholders=placeholders),
        "entity_key_serialization_version": 3,
        # Materialization pulls only each key's latest row (not every row of the window).
        "materialization": {"pull_latest_features": True},
    }


def repo_config(config: FeatureStoreConfig) -> RepoConfig:
    """Return Feast's ``RepoConfig`` for ``config``."""
    from feast import RepoConfig

    return RepoConfig(repo_path=config.repo_dir, **repo_settings(config))


def write_repo_yaml(config: FeatureStoreConfig) -> Path:
    """Write ``feature_store.yaml`` into the repo folder (secrets as ``${VAR}``); return it."""
    import yaml

    config.repo_dir.mkdir(parents=True, exist_ok=True)
    path = config.repo_dir / YAML_FILE
    header = (
        "# Generated by features/feature_store.py for this app home; do not edit or commit.\n"
        f"# Secrets come from ${PG_PASSWORD_ENV} / ${REDIS_PASSWORD_ENV} when needed.\n"
    )
    body = yaml.safe_dump(repo_settings(config, placeholders=True), sort_keys=False)
    path.write_text(header + body)
    return path


def open_store(config: FeatureStoreConfig) -> FeatureStore:
    """Return a ``FeatureStore`` for ``config`` (writing the repo's YAML for the CLI)."""
    from feast import FeatureStore

    write_repo_yaml(config)
    (config.repo_dir / OFFLINE_DIR).mkdir(parents=True, exist_ok=True)
    # Feast resolves the registry against the store's repo_path (the CWD unless given).
    return FeatureStore(repo_path=str(config.repo_dir), config=repo_config(config))


def apply_repo(store: FeatureStore, features: FeatureSet) -> list[str]:
    """Register the repo's objects (``feast apply``); return their names."""
    from features.feature_repo import build_repo

    objects = build_repo(features)
    store.apply(objects)
    return [str(getattr(o, "name", o)) for o in objects]


def _quiet() -> contextlib.AbstractContextManager[Any]:
    """Silence Feast's progress prints (stdout) during materialization."""
    return contextlib.redirect_stdout(io.StringIO())


def materialize_latest(
    store: FeatureStore,
    features: FeatureSet,
    tables: FeatureTables,
    views: Sequence[str] | None = None,
) -> dict[str, pd.Timestamp | None]:
    """Load each view's newest row per symbol into the online store.

    For each view the window runs from the oldest of the symbols' newest event times (minus
    a candle) to the newest one, so every symbol's latest row is in it whatever partition was
    updated last. Returns ``{view: newest event time}`` (``None``: nothing stored yet).
    """
    from features.candles.schema import Timeframe

    done: dict[str, pd.Timestamp | None] = {}
    for name, tf in features.views().items():
        if views is not None and name not in views:
            continue
        latest = tables.latest_event_times(name)
        if not latest:
            done[name] = None
            continue
        start = min(latest.values()) - Timeframe.parse(tf).delta
        end = max(latest.values())
        with _quiet():
            store.materialize(
                start_date=start.to_pydatetime(),
                end_date=end.to_pydatetime(),
                feature_views=[name],
            )
        done[name] = end
    return done


@dataclass(frozen=True)
class OnlineVector:
    """The model's inputs for one symbol as served online.

    Attributes:
        symbol: The entity.
        names: Input names, in order.
        values: The inputs (NaN where a value is missing); empty when nothing is served.
        known_at: Close of the candle the vector belongs to, or ``None`` when unknown.
    """

    symbol: str
    names: tuple[str, ...]
    values: np.ndarray
    known_at: pd.Timestamp | None


def vector_refs(features: FeatureSet) -> list[str]:
    """Return the feature references of the packed model vector (``view:feature``)."""
    view = view_name("model", features.trading_timeframe)
    return [f"{view}:{VECTOR}", f"{view}:{KNOWN_AT}"]


def online_vector(
    store: FeatureStore, features: FeatureSet, symbol: str, refs: Sequence[str] | None = None
) -> OnlineVector:
    """Return the model's input vector for ``symbol`` from the online store (one read)."""
    response = store.get_online_features(
        features=list(refs or vector_refs(features)), entity_rows=[{ENTITY: symbol}]
    ).to_dict()
    vector = response.get(VECTOR, [None])[0]
    known = response.get(KNOWN_AT, [None])[0]
    values = np.asarray(vector if vector is not None else [], dtype=np.float64)
    return OnlineVector(
        symbol=symbol,
        names=features.model_columns,
        values=values,
        known_at=None if known is None else pd.Timestamp(known, unit="s", tz="UTC"),
    )


def historical_features(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    features: FeatureService | Sequence[str],
    *,
    full_feature_names: bool = True,
) -> pd.DataFrame:
    """Return ``entity_df`` with the features as of each row's ``event_timestamp``.

    Every entity row comes back, in order: Feast's dask file store drops rows that have no
    feature row inside the TTL (STACK.md §2), so the result is left-merged onto
    ``entity_df``.

    Raises:
        ValueError: ``entity_df`` lacks ``symbol`` or ``event_timestamp``.
    """
    missing = [c for c in (ENTITY, EVENT_TIMESTAMP) if c not in entity_df.columns]
    if missing:
        raise ValueError(f"entity_df is missing column(s) {missing}")
    frame = entity_df.reset_index(drop=True).copy()
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
    frame[_ROW] = np.arange(len(frame))
    refs: Any = features if not isinstance(features, Sequence) else list(features)
    result = store.get_historical_features(
        entity_df=frame, features=refs, full_feature_names=full_feature_names
    ).to_df()
    rows = result[_ROW].to_numpy()
    if len(rows) == len(frame) and np.array_equal(rows, frame[_ROW].to_numpy()):
        del result[_ROW]  # every row back, in order (the asof store): no copy needed
        return _exact_floats(result, list(entity_df.columns))
    added = [c for c in result.columns if c not in frame.columns]
    merged = frame.merge(result[[_ROW, *added]], on=_ROW, how="left", validate="one_to_one")
    merged = merged.sort_values(_ROW, kind="stable").drop(columns=[_ROW]).reset_index(drop=True)
    return _exact_floats(merged, list(entity_df.columns))


def _exact_floats(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Return ``frame`` with each feature as its spec's exact float dtype, NaN when missing.

    Feast returns an ``Int32`` field as int where every row has a value and as float64
    where one is missing (and so may differ from month to month); each feature is given
    :func:`features.schema.exact_float` of its spec's dtype instead (float32 for int8, int16
    and float32 columns): the same values, one dtype whatever the rows.
    """
    from features.schema import column_float64, exact_float, has_spec, spec_of

    columns: dict[str, Any] = {}
    changed = False
    for column in frame.columns:
        name = str(column).split("__", 1)[-1]
        columns[column] = frame[column]
        if column in keys or not has_spec(name):
            continue
        dtype = exact_float(spec_of(name).dtype)
        if frame[column].dtype != dtype:
            columns[column] = column_float64(frame, column).astype(dtype, copy=False)
            changed = True
    return pd.DataFrame(columns, index=frame.index, copy=False) if changed else frame


@dataclass(frozen=True)
class TrainingSummary:
    """What :func:`write_training_dataset` wrote.

    Attributes:
        path: The Parquet file.
        rows: Rows (one per decision).
        inputs: Feature columns (``known_at`` columns excluded).
        features_after_decision: Values known after their decision time (must be 0).
        labels_not_after_decision: Labels not after their decision time (must be 0).
        missing_share: Share of NaN among the inputs.
        label_up_share: Share of positive forward returns.
        first: Earliest decision time, or ``None`` when empty.
        last: Latest decision time, or ``None`` when empty.
    """

    path: Path
    rows: int
    inputs: int
    features_after_decision: int
    labels_not_after_decision: int
    missing_share: float
    label_up_share: float
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def write_training_dataset(
    store: FeatureStore,
    entities: pd.DataFrame,
    features: FeatureService | Sequence[str],
    path: Path,
) -> TrainingSummary:
    """Join ``features`` as of each entity row and write the dataset to ``path`` (Parquet).

    The entity rows are processed one calendar month of decision times at a time and appended
    to the file, so memory stays bounded whatever the span; each chunk is audited with
    :func:`features.point_in_time.known_after`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.point_in_time import known_after

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    stamps = pd.DatetimeIndex(pd.to_datetime(entities[EVENT_TIMESTAMP], utc=True))
    months = (
        stamps.tz_convert(None).to_period("M") if len(entities) else pd.PeriodIndex([], freq="M")
    )
    rows = late = labels = inputs = 0
    missing = up = 0.0
    writer: pq.ParquetWriter | None = None
    try:
        for month in sorted(set(months)):
            chunk = historical_features(store, entities[np.asarray(months == month)], features)
            report = known_after(chunk)
            late += report.features_after_decision
            labels += report.labels_not_after_decision
            columns = [c for c in chunk.columns if "__" in c and not c.endswith(f"__{KNOWN_AT}")]
            inputs = len(columns)
            missing += float(chunk[columns].isna().to_numpy().sum())
            up += float(chunk["label_up"].sum()) if "label_up" in chunk.columns else 0.0
            rows += len(chunk)
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table.cast(writer.schema))
        if writer is None:  # no rows: an empty file with the entity columns
            entities.iloc[:0].to_parquet(tmp, index=False)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return TrainingSummary(
        path=path,
        rows=rows,
        inputs=inputs,
        features_after_decision=late,
        labels_not_after_decision=labels,
        missing_share=missing / (rows * inputs) if rows and inputs else 0.0,
        label_up_share=up / rows if rows else 0.0,
        first=stamps.min() if len(stamps) else None,
        last=stamps.max() if len(stamps) else None,
    )


def training_entities(labels_by_symbol: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Return the entity frame of a training dataset: label rows tagged with their symbol."""
    parts = [labels.assign(**{ENTITY: symbol}) for symbol, labels in labels_by_symbol.items()]
    if not parts:
        return pd.DataFrame(columns=[ENTITY, EVENT_TIMESTAMP])
    frame = pd.concat(parts, ignore_index=True)
    return frame[[ENTITY, *[c for c in frame.columns if c != ENTITY]]]
