"""The ``trained_model`` asset: definitions, schedule, a materialization, its checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from features.candles.schema import Timeframe
from features.model_inputs import model_input_frame
from orchestration.assets import training as asset
from orchestration.assets.training import (
    BEATS_BASELINES,
    CALIBRATION,
    NO_LEAKAGE,
    TRAINED_MODEL,
    TrainingOutcome,
    check_results,
    leakage,
    model_partition_key,
)
from orchestration.definitions import MAIN_JOB, RETRAIN_JOB, build_definitions
from orchestration.resources import build_resources
from orchestration.resources.feast import build_feature_resources
from orchestration.settings import Settings
from serving.backtest.main import synthetic_candles
from tests.training.test_pipeline import result  # noqa: F401  (the trained fixture)
from training.evaluate import Evaluation
from training.pipeline import TrainingResult
from training.promotion import Decision
from training.registry import LoggedModel

TF = Timeframe.parse("5m")


def _settings(tmp_path: Path, symbols: list[str] | None = None) -> Settings:
    return Settings(
        _env_file=None,
        home=tmp_path / "home",
        symbols=symbols or ["BTC/USDT", "ETH/USDT"],
        timeframes=["5m", "1h", "4h"],
        start_date=dt.date(2024, 1, 1),
        history_days=30,
    )


def test_the_model_asset_its_job_and_the_weekly_schedule(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    defs = build_definitions(settings)

    dg.Definitions.validate_loadable(defs)
    model = defs.resolve_assets_def(TRAINED_MODEL)
    key = model_partition_key(settings.symbols, "5m")
    assert key == "BTC-USDT+ETH-USDT|5m"
    assert model.partitions_def.get_partition_keys() == [key]
    assert model.group_names_by_key[TRAINED_MODEL] == "models"
    assert {c.name for c in model.check_specs} == {BEATS_BASELINES, NO_LEAKAGE, CALIBRATION}
    retrain = defs.resolve_job_def(RETRAIN_JOB)
    assert retrain.asset_layer.asset_graph.get_all_asset_keys() >= {TRAINED_MODEL}
    main = defs.resolve_job_def(MAIN_JOB).asset_layer.executable_asset_keys
    assert TRAINED_MODEL not in main  # another partitions definition: trains in retrain_job
    schedule = defs.resolve_schedule_def("retrain")
    assert schedule.cron_schedule == "0 2 * * 0"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 3, 3, 2, tzinfo=dt.UTC)
    )
    request = schedule(context)
    assert request.partition_key == key
    assert request.run_key == f"retrain|{key}|20240303"


def _outcome(result: TrainingResult, rules: float, model: float) -> TrainingOutcome:  # noqa: F811
    summary = pd.DataFrame(
        {"sharpe": [rules, model], "total_return": [0.0, 0.0]},
        index=["rules", "model_filtered"],
    )
    evaluation = Evaluation(pd.DataFrame(), pd.DataFrame(), summary)
    return TrainingOutcome(result, evaluation, LoggedModel("r", "1", "e"), Decision(False, "x"),
                           None, None, {})  # fmt: skip


def _by_name(results: list[dg.AssetCheckResult]) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in results}


def test_the_checks_pass_on_an_honest_run(result: TrainingResult) -> None:  # noqa: F811
    checks = _by_name(check_results(_outcome(result, rules=0.1, model=0.5), "sharpe"))

    assert checks[BEATS_BASELINES].passed
    assert checks[NO_LEAKAGE].passed, checks[NO_LEAKAGE].metadata
    assert leakage(result)["clean"]
    assert checks[CALIBRATION].metadata["oos_predictions"].value > 0


def test_beats_baselines_fails_when_rules_do_better(result: TrainingResult) -> None:  # noqa: F811
    checks = _by_name(check_results(_outcome(result, rules=0.5, model=0.1), "sharpe"))

    assert not checks[BEATS_BASELINES].passed


def test_a_training_label_inside_the_test_window_fails_no_leakage(
    result: TrainingResult,  # noqa: F811
) -> None:
    first = result.folds[0]
    early = result.intents["decided_at"].iloc[first.fold.train[0]]
    leaky = dataclasses.replace(
        result,
        folds=[dataclasses.replace(first, fold=dataclasses.replace(first.fold, test_start=early))],
    )

    checks = _by_name(check_results(_outcome(leaky, 0.1, 0.5), "sharpe"))

    assert not leakage(leaky)["clean"]
    assert not checks[NO_LEAKAGE].passed


def test_an_implausible_auc_fails_no_leakage_and_says_why(
    result: TrainingResult,  # noqa: F811
) -> None:
    perfect = [
        dataclasses.replace(f, predictions=f.predictions.assign(p=f.predictions["label"] * 0.9))
        for f in result.folds
    ]
    outcome = _outcome(dataclasses.replace(result, folds=perfect), 0.1, 0.5)

    checks = _by_name(check_results(outcome, "sharpe"))

    assert not checks[NO_LEAKAGE].passed
    assert (
        "audit of labels and features did not run" in checks[NO_LEAKAGE].metadata["verdict"].value
    )


def test_an_implausible_auc_passes_only_with_a_clean_look_ahead_audit(
    result: TrainingResult,  # noqa: F811
) -> None:
    perfect = [
        dataclasses.replace(f, predictions=f.predictions.assign(p=f.predictions["label"] * 0.9))
        for f in result.folds
    ]
    base = _outcome(dataclasses.replace(result, folds=perfect), 0.1, 0.5)
    audits = {clean: {"clean": clean, "cuts": 3, "findings": []} for clean in (True, False)}

    verdicts = {
        clean: _by_name(
            check_results(dataclasses.replace(base, record={"leak_audit": audit}), "sharpe")
        )[NO_LEAKAGE]
        for clean, audit in audits.items()
    }

    assert verdicts[True].passed
    assert "audit is clean" in verdicts[True].metadata["verdict"].value
    assert not verdicts[False].passed
    assert "found a leak" in verdicts[False].metadata["verdict"].value


def test_trained_model_materializes_registers_and_writes_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asset end to end on stored candles (features from the file path instead of Feast)."""
    settings = _settings(tmp_path)
    store = build_resources(settings)["candle_store"].store()
    for symbol in settings.symbols:
        store.write(symbol, TF, synthetic_candles(symbol, "5m", "2024-01-01", 30, seed=7))

    def features(_resource: object, candles: dict, trading: Timeframe) -> dict:
        return {s: model_input_frame(c, trading, settings.timeframes) for s, c in candles.items()}

    monkeypatch.setattr(asset, "store_features", features)
    key = model_partition_key(settings.symbols, "5m")
    config = {"kind": "mlp", "epochs": 1, "folds": 3, "random_seeds": 2}

    out = dg.materialize(
        [asset.build_training_model_asset(settings)],
        partition_key=key,
        resources={**build_resources(settings), **build_feature_resources(settings)},
        run_config={"ops": {TRAINED_MODEL.to_python_identifier(): {"config": config}}},
    )

    assert out.success
    metadata = out.asset_materializations_for_node(TRAINED_MODEL.to_python_identifier())[0].metadata
    assert metadata["version"].value == "1"
    assert metadata["champion_before"].value == "none"
    assert "| fold |" in metadata["folds"].value
    assert "model_filtered" in metadata["oos_summary"].value
    summary = json.loads((settings.home_dir / "models" / "summary.json").read_text())
    assert summary["run_id"] == metadata["mlflow_run_id"].value
    assert {e.check_name for e in out.get_asset_check_evaluations()} == {
        BEATS_BASELINES, NO_LEAKAGE, CALIBRATION,
    }  # fmt: skip
    assert np.isfinite(summary["summary"]["rules"]["n_trades"])


@pytest.mark.slow
def test_the_default_kind_reproduces_its_fold_metrics(tmp_path: Path) -> None:
    """Same data and seed, same metrics: two runs of the default model (the mlp)."""
    from training.pipeline import prepare_market, train_and_evaluate

    config = asset.train_config("mlp", folds=3, epochs=2)
    assert config.kind == "mlp"
    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", 30, seed=7)
    features = model_input_frame(candles, TF, ["5m", "1h", "4h"])
    market = prepare_market("BTC/USDT", candles, features, TF, config)

    runs = [
        train_and_evaluate({"BTC/USDT": market}, TF, config, tmp_path / str(i)) for i in range(2)
    ]

    first, second = ([f.metrics for f in run.folds] for run in runs)
    np.testing.assert_equal(first, second)
    for a, b in zip(runs[0].folds, runs[1].folds, strict=True):
        np.testing.assert_array_equal(a.predictions["p"], b.predictions["p"])
