"""Monitoring assets: a daily snapshot of the model inputs' data drift, with its checks.

Thin: read the reference (the training dataset's window, until a champion model records its
own) and the day's model inputs from the offline model view, call
``dashboards.drift.drift_report``, write the Evidently HTML and JSON and a summary under
``<app home>/monitoring/drift/<day>/`` and attach the share of drifted inputs as metadata. The
drift sensor (``orchestration/sensors.py``) reads that metadata.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.assets.features import MTF_FEATURES, TRAINING_DATASET
from orchestration.partitions import DATE
from orchestration.resources.feast import FeatureStoreResource
from orchestration.settings import Settings

DRIFT_SNAPSHOT = dg.AssetKey("drift_snapshot")
GROUP = "monitoring"
BELOW_THRESHOLD = "drift_below_threshold"
ENOUGH_ROWS = "enough_current_rows"
DRIFT_THRESHOLD = 0.3  # share of drifted inputs that degrades the model's health
MIN_CURRENT_ROWS = 50


def drift_folder(home: Path, day: str) -> Path:
    """Where the snapshot of ``day`` (``YYYY-MM-DD``) is written."""
    return home / "monitoring" / "drift" / day


def build_drift_asset(
    days: dg.PartitionsDefinition,
    settings: Settings,
    threshold: float = DRIFT_THRESHOLD,
) -> dg.AssetsDefinition:
    """Return ``drift_snapshot``: one Evidently drift report of the model inputs per UTC day."""
    home = settings.home_dir

    @dg.asset(
        key=DRIFT_SNAPSHOT,
        partitions_def=days,
        deps=[TRAINING_DATASET, MTF_FEATURES],
        group_name=GROUP,
        kinds={"evidently"},
        check_specs=[
            dg.AssetCheckSpec(
                BELOW_THRESHOLD,
                asset=DRIFT_SNAPSHOT,
                description=f"Share of drifted model inputs below {threshold:.0%}",
            ),
            dg.AssetCheckSpec(
                ENOUGH_ROWS,
                asset=DRIFT_SNAPSHOT,
                description=f"At least {MIN_CURRENT_ROWS} bars of model inputs on the day",
            ),
        ],
        description="Data drift of the model inputs on one UTC day against the training "
        "window (Evidently, normed Wasserstein per input): HTML, JSON and a summary under "
        "<app home>/monitoring/drift/<day>/.",
    )
    def drift_snapshot(
        context: dg.AssetExecutionContext, feature_store: FeatureStoreResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from dashboards.drift import (
            DriftConfig,
            drift_report,
            inputs_by_name,
            model_inputs,
            write_snapshot,
        )
        from features.layout import view_name

        day = context.partition_key
        features = feature_store.feature_set()
        names = features.model_columns
        training = feature_store.training_dir / f"{features.inputs_service}.parquet"
        if not training.is_file():
            raise dg.Failure(f"no training dataset at {training}: materialize training_dataset")
        reference = inputs_by_name(pd.read_parquet(training))
        reference = reference[[n for n in names if n in reference.columns]]
        start = pd.Timestamp(day, tz="UTC")
        view = view_name("model", features.trading_timeframe)
        current = model_inputs(
            feature_store.tables(), view, names, start, start + pd.Timedelta(days=1)
        )
        if current.empty:
            raise dg.Failure(f"no model inputs in {view} on {day}: materialize the features first")
        context.log.info(
            f"drift of {len(names)} inputs: {len(reference):,} reference rows, "
            f"{len(current):,} rows on {day}"
        )
        snapshot, summary = drift_report(reference, current, DriftConfig(drift_share=threshold))
        paths = write_snapshot(snapshot, summary, drift_folder(home, day))
        yield dg.MaterializeResult(
            asset_key=DRIFT_SNAPSHOT,
            metadata={
                "share_drifted": dg.MetadataValue.float(summary.share),
                "drifted": len(summary.drifted),
                "compared": summary.compared,
                "skipped": len(summary.skipped),
                "top_drifted": ", ".join(summary.drifted[:10]) or "none",
                "reference_rows": summary.reference_rows,
                "current_rows": summary.current_rows,
                "report": dg.MetadataValue.path(str(paths["html"])),
                "summary": dg.MetadataValue.path(str(paths["summary"])),
            },
        )
        yield dg.AssetCheckResult(
            check_name=BELOW_THRESHOLD,
            asset_key=DRIFT_SNAPSHOT,
            passed=summary.share < threshold,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"share_drifted": summary.share, "threshold": threshold},
        )
        yield dg.AssetCheckResult(
            check_name=ENOUGH_ROWS,
            asset_key=DRIFT_SNAPSHOT,
            passed=summary.current_rows >= MIN_CURRENT_ROWS,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"current_rows": summary.current_rows, "minimum": MIN_CURRENT_ROWS},
        )

    return drift_snapshot


def day_partitions(partitions: dg.MultiPartitionsDefinition) -> dg.PartitionsDefinition:
    """The day dimension of the candle partitions (the drift snapshot's partitions)."""
    return partitions.get_partitions_def_for_dimension(DATE)
