"""The one Dagster entry point (``workspace.yaml`` loads it).

Resources are chosen per environment (``SMARTMARKET_ENV=local|prod``) in
``orchestration.resources.build_resources``; settings are read when Dagster loads the
definitions, never at import time.
"""

from __future__ import annotations

import warnings

import dagster as dg

from orchestration.assets.backtests import build_backtest_asset
from orchestration.assets.candles import build_raw_candles_asset, build_timeframe_assets
from orchestration.assets.features import FEAST_REGISTRY, TRAINING_DATASET, build_feature_assets
from orchestration.assets.monitoring import build_drift_asset, day_partitions
from orchestration.assets.training import (
    TRAINED_MODEL,
    build_training_model_asset,
    model_partition_key,
)
from orchestration.partitions import candle_partitions
from orchestration.resources import build_resources
from orchestration.resources.feast import build_feature_resources
from orchestration.schedules import build_hourly_schedule, build_retrain_schedule
from orchestration.sensors import build_drift_sensor
from orchestration.settings import Settings, apply_offline_env

CANDLES_JOB = "candles_job"
FEATURES_JOB = "features_job"
TRAINING_JOB = "training_job"
MAIN_JOB = "main_job"
RETRAIN_JOB = "retrain_job"
AUTOMATION_SENSOR = "feature_automation"
DRIFT_JOB = "drift_job"


def build_definitions(settings: Settings) -> dg.Definitions:
    """Build every asset, check, job, schedule and resource for ``settings``."""
    apply_offline_env()
    # Single-run backfills are "beta" in Dagster 1.13; we rely on them deliberately.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    partitions = candle_partitions(settings)
    base = settings.base
    targets = settings.candle_timeframes
    raw = build_raw_candles_asset(partitions, base)
    candles = build_timeframe_assets(partitions, base, targets)
    candles_job = dg.define_asset_job(
        CANDLES_JOB,
        selection=dg.AssetSelection.assets(raw, candles),
        description="Ingest, validate and resample candles.",
    )
    features = build_feature_assets(partitions, settings)
    training = dg.AssetSelection.assets(TRAINING_DATASET)
    features_job = dg.define_asset_job(
        FEATURES_JOB,
        selection=dg.AssetSelection.assets(*features) - training,
        description="SMC and MTF features, the Feast registry and the online store.",
    )
    training_job = dg.define_asset_job(
        TRAINING_JOB,
        selection=training | dg.AssetSelection.assets(FEAST_REGISTRY),
        description="Point-in-time training dataset from the Feast offline store.",
    )
    backtest = build_backtest_asset(settings)
    drift = build_drift_asset(day_partitions(partitions), settings)
    drift_job = dg.define_asset_job(
        DRIFT_JOB,
        selection=dg.AssetSelection.assets(drift),
        description="Daily drift snapshot of the model inputs (Evidently) and its checks.",
    )
    model = build_training_model_asset(settings)
    retrain_job = dg.define_asset_job(
        RETRAIN_JOB,
        selection=dg.AssetSelection.assets(TRAINED_MODEL),
        description="Train, evaluate and register the meta-label model; the gate decides the "
        "champion (the weekly `retrain` schedule and the drift sensor request it).",
    )
    main_job = dg.define_asset_job(
        MAIN_JOB,
        # A job's partitioned assets share one partitions definition: the model (symbol set x
        # timeframe) runs in retrain_job right after this job in `make run`; the drift snapshot
        # (days) has its own daily job.
        selection=dg.AssetSelection.all() - dg.AssetSelection.assets(TRAINED_MODEL, drift),
        description="Everything `smartmarket run` shows, in one run: candles, features, the "
        "Feast stores, the training dataset and the headline backtest on the stored candles.",
    )
    # Feature assets declare AutomationCondition.eager(); this sensor evaluates them while the
    # daemon runs (`make up`), so a candle update (the hourly schedule, a manual run) flows on.
    automation = dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Materializes feature assets whose candles were updated (eager conditions).",
    )
    jobs = [main_job, candles_job, features_job, training_job, retrain_job, drift_job]
    model_key = model_partition_key(settings.symbols, settings.trading_timeframe)
    drift_sensor = build_drift_sensor(
        settings.home_dir,
        job_name=RETRAIN_JOB,
        defined_jobs=[j.name for j in jobs],
        partition_key=model_key,
    )
    return dg.Definitions(
        assets=[raw, candles, *features, backtest, model, drift],
        jobs=jobs,
        schedules=[
            build_hourly_schedule(candles_job, list(settings.symbols)),
            build_retrain_schedule(retrain_job, model_key),
            dg.build_schedule_from_partitioned_job(drift_job, hour_of_day=1),
        ],
        sensors=[automation, drift_sensor],
        resources={**build_resources(settings), **build_feature_resources(settings)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions for the current environment's settings."""
    return build_definitions(Settings())
