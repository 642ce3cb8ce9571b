"""The main job (`make run`): materialize the pipeline on the configured settings."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from features.candles.schema import Timeframe
from features.candles.store.base import CandleStore
from orchestration.definitions import CANDLES_JOB, build_definitions
from orchestration.partitions import partition_range_tags
from orchestration.resources import build_resources
from orchestration.settings import Settings, apply_offline_env

REPO_ROOT = Path(__file__).resolve().parent.parent
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``$DAGSTER_HOME`` (``<app home>/dagster``) for ``settings.env``; return it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    source = (
        REPO_ROOT / "orchestration" / "deploy" / "dagster.postgres.yaml"
        if settings.env == "prod"
        else REPO_ROOT / "dagster.yaml"
    )
    shutil.copyfile(source, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass(frozen=True)
class SymbolSummary:
    """Stored candles of one symbol and timeframe after the job."""

    symbol: str
    timeframe: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


@dataclass(frozen=True)
class JobSummary:
    """Outcome of the main job."""

    success: bool
    run_id: str
    start_date: str
    end_date: str
    checks: dict[str, bool]
    quarantined: int
    candles: list[SymbolSummary]


def run_main_job(settings: Settings, days: int | None = None) -> JobSummary:
    """Ingest ``days`` days (default ``settings.history_days``) from ``settings.start_date``."""
    apply_offline_env()
    prepare_dagster_home(settings)
    n_days = days or settings.history_days
    start = settings.start_date
    end = start + timedelta(days=n_days - 1)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(CANDLES_JOB)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=partition_range_tags(start.isoformat(), end.isoformat(), list(settings.symbols)),
            run_config=QUIET_LOGS,
            raise_on_error=False,
        )
    checks = {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }
    store: CandleStore = build_resources(settings)["candle_store"].store()
    quarantine = build_resources(settings)["app_home"].quarantine().read()
    summaries = []
    window = (pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1))
    for symbol in settings.symbols:
        for label in settings.timeframes:
            frame = store.read(symbol, Timeframe.parse(label), *window)
            summaries.append(
                SymbolSummary(
                    symbol,
                    label,
                    len(frame),
                    frame.index[0] if len(frame) else None,
                    frame.index[-1] if len(frame) else None,
                )
            )
    return JobSummary(
        success=result.success,
        run_id=result.run_id,
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        checks=checks,
        quarantined=len(quarantine),
        candles=summaries,
    )
