"""The drift snapshot asset, its checks and the drift sensor, on drifted and undrifted inputs."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from orchestration.assets.monitoring import (
    BELOW_THRESHOLD,
    DRIFT_SNAPSHOT,
    ENOUGH_ROWS,
    NO_CHAMPION,
    PREDICTIONS_BELOW,
    build_drift_asset,
    drift_folder,
)
from orchestration.resources.feast import FeatureStoreResource
from orchestration.sensors import REASON_TAG, RETRAIN_JOB, build_drift_sensor
from orchestration.settings import Settings

DAY = "2024-01-10"
SYMBOL = "BTC/USDT"


def feature_home(home: Path, shift: float) -> FeatureStoreResource:
    """A training dataset and one day of packed model inputs; ``shift`` moves half of them."""
    from features.model_inputs import pack_vector
    from features.tables import FeatureTables, to_offline_table

    resource = FeatureStoreResource(
        repo_dir=str(home / "feast"), state_dir=str(home / "features"),
        timeframes=["5m"], trading_timeframe="5m",
    )  # fmt: skip
    features = resource.feature_set()
    names = list(features.model_columns)
    rng = np.random.default_rng(1)
    training = pd.DataFrame(rng.normal(size=(3000, len(names))),
                            columns=[f"view_5m__{n}" for n in names])  # fmt: skip
    training.insert(0, "symbol", SYMBOL)
    resource.training_dir.mkdir(parents=True)
    training.to_parquet(resource.training_dir / f"{features.inputs_service}.parquet")
    index = pd.date_range(DAY, periods=288, freq="5min", tz="UTC")
    day = pd.DataFrame(rng.normal(size=(288, len(names))), columns=names, index=index)
    day[names[: len(names) // 2]] += shift
    table = to_offline_table(pack_vector(day, names), symbol=SYMBOL, timeframe="5m",
                             created=pd.Timestamp("2024-01-11", tz="UTC"))  # fmt: skip
    start = pd.Timestamp(DAY, tz="UTC")
    FeatureTables(home / "feast" / "offline").write(
        "model_5m", "5m", SYMBOL, table,
        start, start + pd.Timedelta(days=1),
    )  # fmt: skip
    return resource


def materialize(home: Path, shift: float, instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-20")
    asset = build_drift_asset(days, Settings(home=home))
    return dg.materialize(
        [asset],
        partition_key=DAY,
        resources={"feature_store": feature_home(home, shift)},
        instance=instance,
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, dg.DagsterInstance, dg.ExecuteInJobResult]]:
    out = {}
    for name, shift in (("drifted", 3.0), ("undrifted", 0.0)):
        home = tmp_path_factory.mktemp(name)
        instance = dg.DagsterInstance.ephemeral()
        out[name] = (home, instance, materialize(home, shift, instance))
    return out


def test_drift_snapshot_writes_evidently_html_json_and_summary(runs) -> None:
    home, _, result = runs["drifted"]

    folder = drift_folder(home, DAY)
    summary = json.loads((folder / "summary.json").read_text())
    assert result.success
    assert (folder / "report.html").stat().st_size > 100_000
    assert json.loads((folder / "report.json").read_text())["metrics"]
    assert summary["current_rows"] == 288
    assert summary["share"] == pytest.approx(0.5, abs=0.05)
    meta = result.asset_materializations_for_node("drift_snapshot")[0].metadata
    assert meta["share_drifted"].value == summary["share"]
    assert meta["compared"].value == summary["compared"]


@pytest.mark.parametrize(("name", "passed"), [("drifted", False), ("undrifted", True)])
def test_the_threshold_check_fails_only_on_drift(runs, name: str, passed: bool) -> None:
    _, _, result = runs[name]

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}

    assert checks == {BELOW_THRESHOLD: passed, ENOUGH_ROWS: True, PREDICTIONS_BELOW: True}


def test_without_a_champion_the_snapshot_says_so_and_measures_the_inputs(runs) -> None:
    home, _, result = runs["undrifted"]

    summary = json.loads((drift_folder(home, DAY) / "summary.json").read_text())
    meta = result.asset_materializations_for_node("drift_snapshot")[0].metadata

    assert summary["predictions"] is None
    assert summary["prediction_note"] == NO_CHAMPION
    assert meta["prediction_note"].value == NO_CHAMPION
    assert summary["compared"] > 0


def evaluate(home: Path, instance: dg.DagsterInstance, jobs: list[str], cursor: str | None = None):
    sensor = build_drift_sensor(home, defined_jobs=jobs)
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor(context)


def flag(home: Path) -> dict:
    return json.loads((home / "monitoring" / "model_health.json").read_text())


def test_drift_requests_retraining_and_degrades_the_model_health(runs) -> None:
    home, instance, _ = runs["drifted"]

    result = evaluate(home, instance, [RETRAIN_JOB])

    [request] = result.run_requests
    assert request.run_key.startswith(f"drift-{DAY}-")
    assert "model inputs drifted on 2024-01-10" in request.tags[REASON_TAG]
    health = flag(home)
    assert (health["status"], health["action"], health["partition"]) == ("degraded", "derisk", DAY)
    again = evaluate(home, instance, [RETRAIN_JOB], cursor=result.cursor)
    assert "no new drift snapshot" in again.skip_message


def test_no_drift_requests_nothing_and_flags_the_model_healthy(runs) -> None:
    home, instance, _ = runs["undrifted"]

    result = evaluate(home, instance, [RETRAIN_JOB])

    assert not result.run_requests
    assert result.skip_reason.skip_message.startswith("healthy: ")
    assert flag(home)["share"] < 0.3
    assert (flag(home)["status"], flag(home)["action"]) == ("ok", "none")


def test_without_the_retrain_job_the_sensor_skips_with_the_reason_and_still_flags(
    runs, tmp_path: Path
) -> None:
    _, instance, _ = runs["drifted"]

    result = evaluate(tmp_path, instance, ["training_job"])

    assert not result.run_requests
    assert f"no job named {RETRAIN_JOB!r} is defined" in result.skip_reason.skip_message
    assert flag(tmp_path)["status"] == "degraded"


def test_the_sensor_waits_for_a_first_snapshot(tmp_path: Path) -> None:
    result = evaluate(tmp_path, dg.DagsterInstance.ephemeral(), [RETRAIN_JOB])

    assert "no drift snapshot yet" in result.skip_message


def test_a_missing_training_dataset_fails_with_what_to_run(tmp_path: Path) -> None:
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-20")
    resource = FeatureStoreResource(
        repo_dir=str(tmp_path / "feast"), state_dir=str(tmp_path / "features"), timeframes=["5m"]
    )

    with pytest.raises(dg.Failure, match=r"no training dataset at .*materialize training_dataset"):
        dg.materialize([build_drift_asset(days, Settings(home=tmp_path))], partition_key=DAY,
                       resources={"feature_store": resource})  # fmt: skip


def test_definitions_hold_the_drift_asset_job_schedule_and_sensor(tmp_path: Path) -> None:
    from orchestration.definitions import DRIFT_JOB, MAIN_JOB, build_definitions

    defs = build_definitions(Settings(home=tmp_path))
    repo = defs.get_repository_def()

    assert DRIFT_JOB in repo.job_names
    assert DRIFT_SNAPSHOT in repo.asset_graph.get_all_asset_keys()
    assert DRIFT_SNAPSHOT not in repo.get_job(MAIN_JOB).asset_layer.executable_asset_keys
    assert {s.name for s in repo.sensor_defs} >= {"drift_sensor"}
    assert any(s.job_name == DRIFT_JOB for s in repo.schedule_defs)
