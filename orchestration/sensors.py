"""The drift sensor: retrain when the model inputs drift, and flag the model's health.

On each new ``drift_snapshot`` materialization it writes the model-health flag
(``<app home>/monitoring/model_health.json``, see ``serving.health.ModelHealth`` and
docs/dashboard.md) and, when the share of drifted inputs reaches the threshold, requests the
retraining job by name; when the snapshot holds the champion's prediction drift, a normed
Wasserstein distance of its P(take) at or above ``prediction_threshold`` does the same, and the
flag's reason names both measures. The job belongs to the training pipeline: when no job of that
name is defined the sensor still writes the flag and skips with the reason.
"""

from collections.abc import Collection
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from orchestration.assets.monitoring import DRIFT_SNAPSHOT, DRIFT_THRESHOLD, PREDICTION_THRESHOLD

DRIFT_SENSOR = "drift_sensor"
RETRAIN_JOB = "retrain_job"
REASON_TAG = "smartmarket/retrain_reason"


def build_drift_sensor(
    home: Path,
    job_name: str = RETRAIN_JOB,
    defined_jobs: Collection[str] = (),
    threshold: float = DRIFT_THRESHOLD,
    action: str = "derisk",
    interval_s: int = 60,
    partition_key: str | None = None,
    prediction_threshold: float = PREDICTION_THRESHOLD,
) -> dg.SensorDefinition:
    """Return the drift sensor.

    Args:
        home: The app home (the flag is written under ``monitoring/``).
        job_name: The retraining job to request.
        defined_jobs: Names of the jobs of the ``Definitions``; the sensor targets ``job_name``
            only when it is one of them.
        threshold: Share of drifted inputs at which the model is degraded and retrained.
        action: What the flag asks of the engine's protections when degraded (``derisk`` or
            ``pause``).
        interval_s: Seconds between evaluations.
        partition_key: The partition of the retraining job to request (the model's symbol set
            and timeframe).
        prediction_threshold: Normed Wasserstein distance of the champion's P(take) at which the
            model is degraded and retrained.
    """
    from dashboards.drift import DriftSummary, PredictionDrift, model_health
    from serving.health import HEALTH_FILE, write_model_health

    has_job = job_name in defined_jobs
    flag = home / "monitoring" / HEALTH_FILE

    @dg.sensor(
        name=DRIFT_SENSOR,
        job_name=job_name if has_job else None,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Writes the model-health flag from each drift snapshot and requests "
        f"{job_name} when {threshold:.0%} of the model inputs drift or the champion's "
        f"predictions drift by {prediction_threshold:.2f}.",
    )
    def drift_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        records = context.instance.fetch_materializations(DRIFT_SNAPSHOT, limit=1).records
        if not records:
            return dg.SkipReason("no drift snapshot yet: materialize drift_snapshot")
        record = records[0]
        if context.cursor and int(context.cursor) >= record.storage_id:
            return dg.SkipReason("no new drift snapshot since the last evaluation")
        materialization = record.asset_materialization
        assert materialization is not None
        meta: dict[str, Any] = {k: v.value for k, v in materialization.metadata.items()}
        partition = materialization.partition or ""
        summary = DriftSummary(
            share=float(meta["share_drifted"]),
            drifted=tuple(str(meta["top_drifted"]).split(", ")) if int(meta["drifted"]) else (),
            compared=int(meta["compared"]),
            scores={},
            predictions=None
            if "prediction_distance" not in meta
            else PredictionDrift(
                version=str(meta.get("champion_version", "")),
                distance=float(meta["prediction_distance"]),
                threshold=prediction_threshold,
                model_threshold=float("nan"),
                reference_mean=float(meta.get("mean_p_reference", "nan")),
                current_mean=float(meta.get("mean_p_current", "nan")),
                reference_above=float(meta.get("above_threshold_reference", "nan")),
                current_above=float(meta.get("above_threshold_current", "nan")),
                reference_rows=0,
                current_rows=0,
            ),
        )
        health = model_health(
            summary,
            threshold,
            partition,
            pd.Timestamp.now(tz="UTC"),
            action=action,
            prediction_threshold=prediction_threshold,
        )
        write_model_health(health, flag)
        cursor = str(record.storage_id)
        if health.status == "ok":
            return dg.SensorResult(
                skip_reason=dg.SkipReason(f"healthy: {health.reason}"), cursor=cursor
            )
        if not has_job:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(
                    f"degraded ({health.reason}) but no job named {job_name!r} is defined: "
                    "the training pipeline provides it; flag written to " + str(flag)
                ),
                cursor=cursor,
            )
        request = dg.RunRequest(
            run_key=f"drift-{partition}-{record.storage_id}",
            tags={REASON_TAG: health.reason},
            partition_key=partition_key,
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return drift_sensor
