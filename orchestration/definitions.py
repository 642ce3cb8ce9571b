"""The one Dagster entry point (``workspace.yaml`` loads it).

Resources are chosen per environment (``SMARTMARKET_ENV=local|prod``) in
``orchestration.resources.build_resources``; settings are read when Dagster loads the
definitions, never at import time.
"""

from __future__ import annotations

import dagster as dg

from features.candles.schema import Timeframe
from orchestration.assets.candles import build_raw_candles_asset, build_timeframe_assets
from orchestration.partitions import candle_partitions
from orchestration.resources import build_resources
from orchestration.schedules import build_hourly_schedule
from orchestration.settings import Settings, apply_offline_env

CANDLES_JOB = "candles_job"


def build_definitions(settings: Settings) -> dg.Definitions:
    """Build every asset, check, job, schedule and resource for ``settings``."""
    apply_offline_env()
    partitions = candle_partitions(settings)
    base = Timeframe.parse(settings.base_timeframe)
    targets = sorted({Timeframe.parse(tf) for tf in settings.timeframes} | {base})
    raw = build_raw_candles_asset(partitions, base)
    candles = build_timeframe_assets(partitions, base, targets)
    candles_job = dg.define_asset_job(
        CANDLES_JOB,
        selection=dg.AssetSelection.assets(raw, candles),
        description="Ingest, validate and resample candles.",
    )
    return dg.Definitions(
        assets=[raw, candles],
        jobs=[candles_job],
        schedules=[build_hourly_schedule(candles_job, list(settings.symbols))],
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions for the current environment's settings."""
    return build_definitions(Settings())
