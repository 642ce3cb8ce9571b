"""Feature store benchmarks: online retrieval latency, point-in-time joins, the pipeline.

- ``online``: the model's full input vector for one symbol from the SQLite, Redis and
  PostgreSQL online stores, p50 / p99 / max over ``SMARTMARKET_BENCH_FEATURES_CALLS`` (2000)
  sequential ``get_online_features`` calls after a warm-up: packed (``model_vector_v1``: one
  value holding the ~230 inputs) and, for comparison, named (``model_inputs_v1``: one value per
  input). Redis and PostgreSQL are the servers on this machine (``SMARTMARKET_BENCH_REDIS_URL``,
  default ``redis://127.0.0.1:6379/0`` with a throwaway Feast project torn down afterwards;
  ``SMARTMARKET_BENCH_PG_ADMIN`` DSN, default the local ``postgres`` superuser, in a throwaway
  database); a store that does not answer is reported as skipped.
- ``offline``: ``get_historical_features`` of the model inputs for every 5m close of the last
  day (2 symbols) over 2 days of tables: the ``asof`` store against Feast's dask file store.
- ``pipeline``: 2 symbols x 5 timeframes x ``SMARTMARKET_BENCH_FEATURES_DAYS`` (365) days of
  synthetic 5m candles through Dagster in one process: the candle job, the feature job (SMC x5,
  MTF + model vector, registry, online store) and the training job (a point-in-time dataset
  over the whole span); wall time per job and peak RSS of the process.

Each case runs in its own interpreter (``bench.common.run_case``) for its memory figure.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import max_rss_mb, run_case

SYMBOLS = ("BTC/USDT", "ETH/USDT")
TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")


def _answers(url_host: str, port: int) -> bool:
    try:
        with socket.create_connection((url_host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _populate(root: Path, days: int) -> Any:
    """Write every offline table of a small repo (synthetic candles); return the feature set."""
    import pandas as pd

    from features.candles.resample import resample_candles
    from features.candles.schema import Timeframe
    from features.candles.sources import make_source
    from features.candles.validate import validate_candles
    from features.feature_repo import feature_set
    from features.layout import view_name
    from features.model_inputs import pack_vector
    from features.mtf import MTFConfig, compute_mtf
    from features.smc import SMCConfig, compute_smc
    from features.snapshots import DAY
    from features.tables import FeatureTables, to_offline_table

    features = feature_set(list(TIMEFRAMES), "5m")
    tables = FeatureTables(root / "offline")
    start = pd.Timestamp("2024-03-01", tz="UTC")
    end = start + DAY * days
    base = Timeframe.parse("5m")
    source = make_source("synthetic", seed=7, symbols=SYMBOLS, base_timeframe="5m")
    created = pd.Timestamp.now(tz="UTC")
    for symbol in SYMBOLS:
        raw = source.fetch(symbol, base, start, end)
        candles = validate_candles(raw, base, source="synthetic", symbol=symbol).valid
        frames = {}
        for tf in TIMEFRAMES:
            c = candles if tf == "5m" else resample_candles(candles, Timeframe.parse(tf), base)
            out = compute_smc(c, SMCConfig.for_timeframe(tf))
            frames[tf] = c.join(out)
            table = to_offline_table(out, symbol=symbol, timeframe=tf, created=created)
            tables.write(view_name("smc", tf), tf, symbol, table, start, end)
        mtf = compute_mtf(frames, "5m", MTFConfig())
        tables.write(
            "mtf_5m",
            "5m",
            symbol,
            to_offline_table(mtf, symbol=symbol, timeframe="5m", created=created),
            start,
            end,
        )
        smc = frames["5m"].drop(columns=["open", "high", "low", "close", "volume"])
        vector = pack_vector(smc.join(mtf), features.model_columns)
        tables.write(
            "model_5m",
            "5m",
            symbol,
            to_offline_table(vector, symbol=symbol, timeframe="5m", created=created),
            start,
            end,
        )
    return features


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def online_case(store: str, calls: int) -> dict[str, Any]:
    """Time online retrieval of the model's inputs for one symbol from ``store``."""
    from features.feature_store import (
        FeatureStoreConfig,
        apply_repo,
        materialize_latest,
        open_store,
    )

    row: dict[str, Any] = {"case": f"online {store}"}
    root = Path(tempfile.mkdtemp(prefix="bench_features_"))
    project = f"bench_{uuid.uuid4().hex[:8]}"
    database = None
    admin = os.environ.get(
        "SMARTMARKET_BENCH_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )
    try:
        options: dict[str, Any] = {}
        if store == "redis":
            url = os.environ.get("SMARTMARKET_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
            if not _answers("127.0.0.1", 6379):
                return {**row, "skipped": "Redis is not answering on 127.0.0.1:6379"}
            options = {"online_store": "redis", "redis_url": url}
        elif store == "postgres":
            if not _answers("127.0.0.1", 5432):
                return {**row, "skipped": "PostgreSQL is not answering on 127.0.0.1:5432"}
            import psycopg

            database = f"bench_features_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            dsn = admin.replace("dbname=postgres", f"dbname={database}")
            options = {"online_store": "postgres", "pg_dsn": dsn}
        features = _populate(root, days=2)
        config = FeatureStoreConfig(repo_dir=root, project=project, **options)
        fs = open_store(config)
        apply_repo(fs, features)
        materialize_latest(fs, features, config.tables)
        row["inputs"] = len(features.model_columns)
        for kind, service in (
            ("packed", fs.get_feature_service(features.vector_service)),
            ("named", fs.get_feature_service(features.inputs_service)),
        ):
            n = calls if kind == "packed" else max(calls // 4, 200)
            entity = [{"symbol": SYMBOLS[0]}]
            full = kind == "named"  # both views serve known_at: full names keep them apart

            def read(
                service: Any = service, entity: list[dict[str, str]] = entity, full: bool = full
            ) -> dict[str, Any]:
                return fs.get_online_features(
                    features=service, entity_rows=entity, full_feature_names=full
                ).to_dict()

            for _ in range(100):
                read()
            samples = []
            gc.collect()
            gc.disable()
            try:
                for _ in range(n):
                    t0 = time.perf_counter()
                    read()
                    samples.append(time.perf_counter() - t0)
            finally:
                gc.enable()
            for key, value in _percentiles(samples).items():
                row[f"{kind}_{key}"] = value
        row["calls"] = calls
        if store == "redis":
            fs.teardown()
        return row
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if database is not None:
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def offline_case(days: int) -> dict[str, Any]:
    """Time the model-input point-in-time join: the asof store against Feast's dask store."""
    import pandas as pd

    from features.feature_store import (
        FeatureStoreConfig,
        apply_repo,
        historical_features,
        open_store,
    )

    root = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        features = _populate(root, days=days)
        last = pd.date_range(
            pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(days=days - 1, minutes=5),
            periods=288,
            freq="5min",
        )
        entities = pd.DataFrame(
            {"symbol": np.repeat(SYMBOLS, len(last)), "event_timestamp": np.tile(last, 2)}
        )
        row: dict[str, Any] = {"case": f"offline PIT join ({days} days of tables)"}
        row["entity_rows"] = len(entities)
        for kind in ("asof", "file"):
            store = open_store(FeatureStoreConfig(repo_dir=root, offline_store=kind))
            if kind == "asof":
                apply_repo(store, features)
            service = store.get_feature_service(features.inputs_service)
            t0 = time.perf_counter()
            out = historical_features(store, entities, service)
            row[f"{kind}_s"] = round(time.perf_counter() - t0, 3)
        row["columns"] = out.shape[1]
        return row
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pipeline_case(days: int) -> dict[str, Any]:
    """Run candles, features and training through Dagster for ``days`` days; time each job."""
    import datetime as dt

    import dagster as dg

    from orchestration.assets.features import TRAINING_DATASET
    from orchestration.definitions import (
        CANDLES_JOB,
        FEATURES_JOB,
        TRAINING_JOB,
        build_definitions,
    )
    from orchestration.partitions import partition_range_tags
    from orchestration.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        settings = Settings(
            _env_file=None,
            home=home,
            symbols=list(SYMBOLS),
            timeframes=list(TIMEFRAMES),
            start_date=dt.date(2024, 1, 1),
            history_days=days,
            training_days=0,
        )
        defs = build_definitions(settings)
        end = (settings.start_date + dt.timedelta(days=days - 1)).isoformat()
        tags = partition_range_tags(settings.start_date.isoformat(), end, list(SYMBOLS))
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        row: dict[str, Any] = {"case": f"pipeline {len(SYMBOLS)} symbols x {days} days"}
        with dg.instance_for_test() as instance:
            for job, run_tags in ((CANDLES_JOB, tags), (FEATURES_JOB, tags), (TRAINING_JOB, {})):
                t0 = time.perf_counter()
                result = defs.resolve_job_def(job).execute_in_process(
                    instance=instance, tags=run_tags, run_config=quiet, raise_on_error=False
                )
                row[f"{job}_s"] = round(time.perf_counter() - t0, 1)
                row[f"{job}_rss_mb"] = round(max_rss_mb(), 1)
                if not result.success:
                    row["failed"] = job
                    break
                for event in result.get_asset_materialization_events():
                    materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
                    meta = materialization.metadata
                    if materialization.asset_key == TRAINING_DATASET:
                        row["training_rows"] = int(meta["rows"].value)
                        row["training_inputs"] = int(meta["inputs"].value)
        row["features_plus_training_s"] = round(
            row.get(f"{FEATURES_JOB}_s", 0.0) + row.get(f"{TRAINING_JOB}_s", 0.0), 1
        )
        return row
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run() -> list[dict[str, Any]]:
    """Run every case, each in its own interpreter."""
    calls = int(os.environ.get("SMARTMARKET_BENCH_FEATURES_CALLS", "2000"))
    days = int(os.environ.get("SMARTMARKET_BENCH_FEATURES_DAYS", "365"))
    rows = [
        run_case("bench.bench_features:online_case", store=s, calls=calls)
        for s in ("sqlite", "redis", "postgres")
    ]
    rows.append(run_case("bench.bench_features:offline_case", days=2))
    rows.append(run_case("bench.bench_features:pipeline_case", days=days))
    return rows
