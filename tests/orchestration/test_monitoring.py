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
from orchestration.resources import CandleStoreResource
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


def candles_of(home: Path) -> CandleStoreResource:
    return CandleStoreResource(root=str(home / "candles"))


def materialize(home: Path, shift: float, instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-20")
    asset = build_drift_asset(days, Settings(home=home))
    return dg.materialize(
        [asset],
        partition_key=DAY,
        resources={"feature_store": feature_home(home, shift), "candle_store": candles_of(home)},
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
                       resources={"feature_store": resource,
                                  "candle_store": candles_of(tmp_path)})  # fmt: skip


def test_definitions_hold_the_drift_asset_job_schedule_and_sensor(tmp_path: Path) -> None:
    from orchestration.definitions import DRIFT_JOB, MAIN_JOB, build_definitions

    defs = build_definitions(Settings(home=tmp_path))
    repo = defs.get_repository_def()

    assert DRIFT_JOB in repo.job_names
    assert DRIFT_SNAPSHOT in repo.asset_graph.get_all_asset_keys()
    assert DRIFT_SNAPSHOT not in repo.get_job(MAIN_JOB).asset_layer.executable_asset_keys
    assert {s.name for s in repo.sensor_defs} >= {"drift_sensor"}
    assert any(s.job_name == DRIFT_JOB for s in repo.schedule_defs)


CHAMPION_DAY = "2024-01-16"


def champion_home(home: Path) -> FeatureStoreResource:
    """A tiny registered champion, its training window as the training dataset, and one later day
    of packed model inputs computed by the same feature path."""
    from features.model_inputs import model_input_frame, pack_vector
    from features.tables import FeatureTables, to_offline_table
    from serving.backtest.main import synthetic_candles
    from tests.training.tiny_model import (
        TF,
        TIMEFRAMES,
        TRAIN_DAYS,
        TRAIN_START,
        after_training,
        register_tiny,
        train_tiny,
    )  # fmt: skip

    register_tiny(home, train_tiny(home / "tiny"))
    train = synthetic_candles(SYMBOL, TF.label, TRAIN_START, TRAIN_DAYS, seed=7)
    candles = pd.concat([train, after_training(3)])
    candles_of(home).store().write(SYMBOL, TF, candles)
    resource = FeatureStoreResource(
        repo_dir=str(home / "feast"), state_dir=str(home / "features"),
        timeframes=list(TIMEFRAMES), trading_timeframe="5m",
    )  # fmt: skip
    names = list(resource.feature_set().model_columns)
    inputs = model_input_frame(candles, TF, TIMEFRAMES)
    inputs.index = candles.index
    training = inputs.iloc[: len(train)].reset_index(drop=True)
    training.insert(0, "symbol", SYMBOL)
    resource.training_dir.mkdir(parents=True)
    training.to_parquet(resource.training_dir / f"{resource.feature_set().inputs_service}.parquet")
    short = inputs.drop(columns="event_timestamp").rename(columns=lambda c: c.split("__", 1)[1])
    later = short.iloc[len(train) :]
    table = to_offline_table(pack_vector(later, names), symbol=SYMBOL, timeframe="5m",
                             created=pd.Timestamp("2024-01-19", tz="UTC"))  # fmt: skip
    FeatureTables(home / "feast" / "offline").write(
        "model_5m", "5m", SYMBOL, table, later.index[0], later.index[-1] + pd.Timedelta("5min")
    )
    return resource


@pytest.fixture(scope="module")
def champion_run(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("champion")
    instance = dg.DagsterInstance.ephemeral()
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-20")
    resource = champion_home(home)
    # a threshold no distance reaches: the check passes; the sensor tests pick their own
    asset = build_drift_asset(days, Settings(home=home), prediction_threshold=1e9)
    result = dg.materialize([asset], partition_key=CHAMPION_DAY, instance=instance,
                            resources={"feature_store": resource,
                                       "candle_store": candles_of(home)})  # fmt: skip
    return home, instance, result


def test_with_a_champion_the_snapshot_measures_prediction_drift(champion_run) -> None:
    home, _, result = champion_run

    summary = json.loads((drift_folder(home, CHAMPION_DAY) / "summary.json").read_text())
    pred = summary["predictions"]
    meta = result.asset_materializations_for_node("drift_snapshot")[0].metadata
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}

    assert result.success
    assert summary["prediction_note"] == ""
    assert pred["version"] == "1"
    assert pred["current_rows"] == 288  # every bar of the day has its window (history before)
    assert pred["reference_rows"] > 1000
    assert 0.0 <= pred["reference_mean"] <= 1.0
    assert 0.0 <= pred["current_mean"] <= 1.0
    # the tiny model answers one calibrated P everywhere: no scale, no distance (NaN -> null)
    assert pred["distance"] is None or pred["distance"] >= 0.0
    assert sum(pred["current_hist"]) == pytest.approx(1.0)
    assert meta["champion_version"].value == "1"
    assert checks[PREDICTIONS_BELOW] is True


def test_with_a_champion_the_snapshot_scores_the_days_labelled_intents(champion_run) -> None:
    home, _, _ = champion_run

    quality = json.loads((drift_folder(home, CHAMPION_DAY) / "summary.json").read_text())["quality"]

    assert quality["note"] in ("", "one class only among the labels: no AUC"), quality["note"]
    assert quality["labelled"] > 0
    assert 0.0 <= quality["brier"] <= 1.0
    assert quality["reference"]["auc"] == 0.5  # what register_tiny logged as the run's auc


def report_snapshot(instance: dg.DagsterInstance, current: np.ndarray) -> None:
    """Record a drift snapshot whose champion's P moved from beta(2, 5) to ``current``."""
    from dashboards.drift import DriftSummary, prediction_drift
    from orchestration.assets.monitoring import prediction_metadata

    reference = np.random.default_rng(0).beta(2, 5, 3000)
    moved = prediction_drift(reference, current, 0.5, version="4")
    summary = DriftSummary(share=0.0, drifted=(), compared=10, scores={}, predictions=moved)
    meta = {"share_drifted": 0.0, "drifted": 0, "compared": 10, "top_drifted": "none",
            **prediction_metadata(summary)}  # fmt: skip
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=DRIFT_SNAPSHOT, partition=DAY, metadata=meta)
    )


@pytest.mark.parametrize(("a", "b", "degraded"), [(5, 2, True), (2, 5, False)])
def test_the_sensor_retrains_on_prediction_drift_past_its_threshold(
    tmp_path: Path, a: float, b: float, degraded: bool
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    report_snapshot(instance, np.random.default_rng(1).beta(a, b, 300))
    sensor = build_drift_sensor(tmp_path, defined_jobs=[RETRAIN_JOB])

    result = sensor(dg.build_sensor_context(instance=instance))

    assert bool(result.run_requests) is degraded
    assert flag(tmp_path)["status"] == ("degraded" if degraded else "ok")
    assert "predictions of model 4 moved" in flag(tmp_path)["reason"]
    if degraded:
        assert "predictions of model 4 moved" in result.run_requests[0].tags[REASON_TAG]


def test_labels_count_only_once_their_label_time_has_passed(champion_run) -> None:
    from orchestration.assets.monitoring import label_quality, load_champion
    from tests.training.tiny_model import TIMEFRAMES

    home, _, _ = champion_run
    champion = load_champion(Settings(home=home))
    assert not isinstance(champion, str)
    features = FeatureStoreResource(
        repo_dir=str(home / "feast"), state_dir=str(home / "features"),
        timeframes=list(TIMEFRAMES), trading_timeframe="5m",
    )  # fmt: skip
    names = list(features.feature_set().model_columns)
    start = pd.Timestamp(CHAMPION_DAY, tz="UTC")

    def labelled(hours: float) -> int:
        as_of = start + pd.Timedelta(hours=hours)
        quality = label_quality(champion, candles_of(home).store(), features, "model_5m", names,
                                start, as_of)  # fmt: skip
        return quality.labelled if quality.labelled else -len(quality.note)

    at_open, midday, later = labelled(0), labelled(12), labelled(24 * 3)

    assert at_open == -len("no labels yet")  # nothing decided and labelled yet
    assert 0 < midday < later  # intents of the afternoon are not known at noon
