"""Feature assets through Dagster: definitions, a full run, incremental exactness, blocking."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from expectations.features import FeatureSuiteReport
from features.candles.schema import Timeframe
from features.layout import EVENT_TIMESTAMP, VECTOR
from features.mtf import MTFConfig, compute_mtf
from features.point_in_time import known_after
from features.schema import to_float64
from features.smc import SMCConfig, compute_smc
from features.tables import features_frame
from orchestration.assets.features import (
    FEATURE_SUITE,
    MTF_FEATURES,
    ONLINE_FEATURES,
    TRAINING_DATASET,
    smc_features_key,
)
from orchestration.definitions import CANDLES_JOB, FEATURES_JOB, TRAINING_JOB, build_definitions
from orchestration.partitions import partition_range_tags
from orchestration.resources import build_resources
from orchestration.resources.feast import build_feature_resources
from orchestration.settings import Settings

SYMBOL = "BTC/USDT"
TIMEFRAMES = ["5m", "1h", "4h"]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _settings(tmp_path: Path, days: int = 2) -> Settings:
    """One symbol, three timeframes: small enough for a test, every layer exercised."""
    return Settings(
        _env_file=None,
        home=tmp_path / "home",
        symbols=[SYMBOL],
        timeframes=TIMEFRAMES,
        start_date=dt.date(2024, 3, 1),
        history_days=days,
        training_days=0,
    )


def _key(date: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": date, "symbol": SYMBOL})


def _run(
    defs: dg.Definitions, job: str, instance: dg.DagsterInstance, **kwargs: object
) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        run_config=QUIET,
        raise_on_error=False,
        **kwargs,  # type: ignore[arg-type]
    )


def _candles(settings: Settings, tf: str) -> pd.DataFrame:
    return build_resources(settings)["candle_store"].store().read(SYMBOL, Timeframe.parse(tf))


def test_feature_assets_and_jobs_are_in_the_definitions(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "smc_features_5m",
        "smc_features_1h",
        "smc_features_4h",
        "mtf_features",
        "feast_registry",
        "online_features",
        "training_dataset",
    } <= keys
    features_job = defs.resolve_job_def(FEATURES_JOB)
    assert TRAINING_DATASET not in features_job.asset_layer.executable_asset_keys
    assert defs.resolve_job_def(TRAINING_JOB) is not None
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {FEATURE_SUITE, "point_in_time"} <= checks


def test_features_job_fills_offline_and_online_stores_and_a_training_set(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = _settings(tmp_path)
    defs = build_definitions(settings)
    tags = partition_range_tags("2024-03-01", "2024-03-02", [SYMBOL])
    assert _run(defs, CANDLES_JOB, instance, tags=tags).success

    features = _run(defs, FEATURES_JOB, instance, tags=tags)
    training = _run(defs, TRAINING_JOB, instance)

    assert features.success
    assert training.success
    evaluations = features.get_asset_check_evaluations() + training.get_asset_check_evaluations()
    assert len(evaluations) == 5  # 3 SMC suites, the MTF suite, point in time
    assert all(e.passed for e in evaluations)
    resource = build_feature_resources(settings)["feature_store"]
    tables = resource.tables()
    for tf in TIMEFRAMES:
        stored = features_frame(tables.read(f"smc_{tf}", SYMBOL))
        candles = _candles(settings, tf)
        assert stored.index.equals(candles.index), tf
        assert np.array_equal(
            stored.to_numpy(),
            to_float64(compute_smc(candles, SMCConfig.for_timeframe(tf))),
            equal_nan=True,
        ), tf
    from features.feature_store import online_vector

    served = online_vector(resource.store(), resource.feature_set(), SYMBOL)
    model = tables.read("model_5m", SYMBOL)
    assert served.known_at == pd.Timestamp("2024-03-03", tz="UTC")
    assert np.array_equal(served.values, np.asarray(model[VECTOR].iloc[-1]), equal_nan=True)
    dataset = pd.read_parquet(resource.training_dir / "model_inputs_v1.parquet")
    assert len(dataset) == 576 - settings.label_horizon_bars
    assert known_after(dataset).total == 0
    assert (dataset["label_time"] > dataset[EVENT_TIMESTAMP]).all()


def test_day_by_day_partitions_equal_a_full_recomputation(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = _settings(tmp_path, days=3)
    defs = build_definitions(settings)
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    tags = partition_range_tags(days[0], days[-1], [SYMBOL])
    assert _run(defs, CANDLES_JOB, instance, tags=tags).success

    resumed = []
    for day in days:  # one run per partition, as the hourly schedule would
        result = _run(defs, FEATURES_JOB, instance, partition_key=_key(day))
        assert result.success, day
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            if materialization.asset_key == smc_features_key(Timeframe.parse("5m")):
                resumed.append(materialization.metadata["resumed_from_snapshot"].value)

    assert resumed == [0, 1, 1]
    tables = build_feature_resources(settings)["feature_store"].tables()
    frames = {}
    for tf in TIMEFRAMES:
        candles = _candles(settings, tf)
        full = compute_smc(candles, SMCConfig.for_timeframe(tf))
        stored = features_frame(tables.read(f"smc_{tf}", SYMBOL))
        assert stored.index.equals(full.index), tf
        assert np.array_equal(stored.to_numpy(), to_float64(full), equal_nan=True), tf
        frames[tf] = candles.join(full)
    mtf = compute_mtf(frames, "5m", MTFConfig())
    stored_mtf = features_frame(tables.read("mtf_5m", SYMBOL))
    assert stored_mtf.index.equals(mtf.index)
    assert np.array_equal(stored_mtf.to_numpy(), mtf.to_numpy(), equal_nan=True)


def test_smc_asset_runs_directly_with_a_partition_context(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = _settings(tmp_path, days=1)
    defs = build_definitions(settings)
    assert _run(defs, CANDLES_JOB, instance, partition_key=_key("2024-03-01")).success
    asset = defs.resolve_assets_def(smc_features_key(Timeframe.parse("1h")))
    resources = {**build_resources(settings), **build_feature_resources(settings)}
    context = dg.build_asset_context(partition_key=_key("2024-03-01"))

    outputs = list(
        asset(
            context,
            candle_store=resources["candle_store"],
            feature_store=resources["feature_store"],
        )
    )

    materialization, check = outputs
    assert isinstance(materialization, dg.MaterializeResult)
    assert materialization.metadata is not None
    assert materialization.metadata["rows_written"] == 24
    assert isinstance(check, dg.AssetCheckResult)
    assert check.passed


def test_a_failing_feature_suite_blocks_the_downstream_assets(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, days=1)
    defs = build_definitions(settings)
    assert _run(defs, CANDLES_JOB, instance, partition_key=_key("2024-03-01")).success

    def failing(features: pd.DataFrame, **kwargs: object) -> FeatureSuiteReport:
        return FeatureSuiteReport(
            str(kwargs.get("table")), len(features), 0, False, {"in_range": False}, {}, {}, {}
        )

    monkeypatch.setattr("expectations.features.run_feature_suite", failing)

    result = _run(defs, FEATURES_JOB, instance, partition_key=_key("2024-03-01"))

    assert not result.success
    suites = [e for e in result.get_asset_check_evaluations() if e.check_name == FEATURE_SUITE]
    assert suites
    assert not any(e.passed for e in suites)
    assert not instance.get_materialized_partitions(MTF_FEATURES)
    assert instance.get_latest_materialization_event(ONLINE_FEATURES) is None
