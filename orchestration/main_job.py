"""The main job (`make run`): materialize the pipeline on the configured settings."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.utils import make_new_run_id

from features.candles.schema import Timeframe
from features.candles.store.base import CandleStore
from orchestration.assets.backtests import HEADLINE_BACKTEST, SUMMARY_FILE
from orchestration.assets.features import TRAINING_DATASET
from orchestration.assets.training import TRAINED_MODEL, model_partition_key, read_summary
from orchestration.definitions import MAIN_JOB, RETRAIN_JOB, build_definitions
from orchestration.partitions import partition_range_tags
from orchestration.progress import RunWatcher, watch_run
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
class FeatureSummary:
    """Features after the main job: offline tables, the online store, the training set."""

    tables: dict[str, int]
    online: dict[str, str]
    model_inputs: int
    online_store: str
    training_rows: int
    training_path: str | None

    def lines(self) -> list[str]:
        """Describe what was materialized, for people."""
        views = ", ".join(f"{view} {rows:,}" for view, rows in self.tables.items())
        served = ", ".join(f"{symbol} @ {when}" for symbol, when in self.online.items())
        return [
            f"features: offline rows per view: {views}",
            f"online store ({self.online_store}): {self.model_inputs} model inputs per symbol, "
            f"newest {served or 'none'}",
            f"training dataset: {self.training_rows:,} rows -> {self.training_path or '-'}",
        ]


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
    features: FeatureSummary | None = None
    backtests: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] | None = None


def _partition_totals(defs: dg.Definitions, job: str, partitions: int) -> dict[str, int]:
    """Partitions the run covers per asset key (1 for unpartitioned assets)."""
    totals = {}
    for key in defs.resolve_job_def(job).asset_layer.asset_graph.get_all_asset_keys():
        spec = defs.resolve_assets_def(key)
        totals[key.to_user_string()] = partitions if spec.partitions_def is not None else 1
    return totals


def run_main_job(
    settings: Settings,
    days: int | None = None,
    echo: Callable[[str], Any] | None = print,
    status: Callable[[str], Any] | None = None,
) -> JobSummary:
    """Materialize ``days`` days (default ``settings.history_days``) from ``settings.start_date``.

    One Dagster run of the main job: candles (ingest, validate, resample), SMC and MTF
    features, the Feast registry and online store, the training dataset and the headline
    backtest on the stored candles; then, when it succeeded, one run of ``retrain_job`` (the
    model has its own partitions: symbol set x timeframe) on the same window, whose record
    (``<home>/models/summary.json``) becomes ``JobSummary.training``. ``echo`` gets a line
    per step as it runs and a few lines about the features at the end; ``status`` the current
    step's partition count (``None``: silent).
    """
    apply_offline_env()
    prepare_dagster_home(settings)
    n_days = days or settings.history_days
    start = settings.start_date
    end = start + timedelta(days=n_days - 1)
    defs = build_definitions(settings)
    tags = partition_range_tags(start.isoformat(), end.isoformat(), list(settings.symbols))
    window = {"start": start.isoformat(), "end": (end + timedelta(days=1)).isoformat()}
    run_config = {
        **QUIET_LOGS,
        "ops": {HEADLINE_BACKTEST.to_python_identifier(): {"config": window}},
    }
    totals = _partition_totals(defs, MAIN_JOB, n_days * len(settings.symbols))
    watcher = RunWatcher(MAIN_JOB, totals, echo or (lambda _: None), status)
    run_id = make_new_run_id()
    if echo is not None:
        echo(
            f"[00:00] {MAIN_JOB}: planning run {run_id[:8]} over {n_days * len(settings.symbols)} "
            f"partitions and {len(totals)} assets (Dagster plans the whole run before its first "
            "step starts)"
        )
    with dg.DagsterInstance.get() as instance, watch_run(watcher, instance, run_id):
        result = defs.resolve_job_def(MAIN_JOB).execute_in_process(
            instance=instance,
            tags=tags,
            run_config=run_config,
            raise_on_error=False,
            run_id=run_id,
        )
    evaluations = list(result.get_asset_check_evaluations())
    success = result.success
    training_failure: str | None = None
    if success:  # the model (another partitions definition) trains in its own run
        if echo is not None:
            echo(f"training the model ({RETRAIN_JOB}) ...")
        key = model_partition_key(settings.symbols, settings.trading_timeframe)
        with dg.DagsterInstance.get() as instance:
            trained = defs.resolve_job_def(RETRAIN_JOB).execute_in_process(
                instance=instance,
                partition_key=key,
                run_config={
                    **QUIET_LOGS,
                    "ops": {TRAINED_MODEL.to_python_identifier(): {"config": window}},
                },
                raise_on_error=False,
            )
        evaluations += trained.get_asset_check_evaluations()
        training_failure = None if trained.success else _failure(trained)
    checks = {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in evaluations}
    features = _feature_summary(settings, result) if result.success else None
    if features is not None and echo is not None:
        for line in features.lines():
            echo(line)
    store: CandleStore = build_resources(settings)["candle_store"].store()
    quarantine = build_resources(settings)["app_home"].quarantine().read()
    summaries = []
    span = (pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1))
    for symbol in settings.symbols:
        for label in settings.timeframes:
            frame = store.read(symbol, Timeframe.parse(label), *span)
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
        success=success,
        run_id=result.run_id,
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        checks=checks,
        quarantined=len(quarantine),
        candles=summaries,
        features=features,
        backtests=_backtests(settings) if result.success else [],
        training=_training(settings, success, training_failure),
    )


def _failure(result: Any) -> str:
    """The first line of the first step failure of a run."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            text = (error.message if error else "") or "the step failed"
            return text.strip().splitlines()[0]
    return "the run failed"


def _training(settings: Settings, success: bool, failure: str | None) -> dict[str, Any] | None:
    """The model's record of this run: what the asset wrote, or why it did not train."""
    if not success:
        return None
    if failure is not None:
        return {"failed": failure}
    return read_summary(settings)


def _backtests(settings: Settings) -> list[dict[str, Any]]:
    """The headline backtest records the run wrote."""
    path = settings.home_dir / "backtests" / SUMMARY_FILE
    return list(json.loads(path.read_text())) if path.exists() else []


def _feature_summary(settings: Settings, result: Any) -> FeatureSummary:
    """Summarize the feature tables, the served vectors and the training dataset."""
    from features.feature_store import online_vector
    from orchestration.resources.feast import build_feature_resources

    resource = build_feature_resources(settings)["feature_store"]
    tables, features = resource.tables(), resource.feature_set()
    rows = {
        view: sum(len(tables.read(view, symbol, columns=[])) for symbol in tables.symbols(view))
        for view in features.views()
    }
    store = resource.store()
    online = {}
    for symbol in settings.symbols:
        vector = online_vector(store, features, symbol)
        online[symbol] = "-" if vector.known_at is None else f"{vector.known_at:%Y-%m-%d %H:%M}"
    training_rows, training_path = 0, None
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key != TRAINING_DATASET:
            continue
        training_rows = int(materialization.metadata["rows"].value)
        training_path = str(materialization.metadata["path"].value)
    return FeatureSummary(
        tables=rows,
        online=online,
        model_inputs=len(features.model_columns),
        online_store=settings.online_store,
        training_rows=training_rows,
        training_path=training_path,
    )
