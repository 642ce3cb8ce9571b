"""Walk-forward training of the meta-label model: out of sample, purged, through the engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import Timeframe
from features.smc import SMCConfig, compute_smc
from serving.backtest.main import synthetic_candles
from training.bundle import FingerprintMismatch, check_fingerprint, load_bundle
from training.config import SplitConfig
from training.evaluate import VARIANTS, evaluate
from training.models import ModelConfig
from training.pipeline import TrainConfig, TrainingResult, prepare_market, train_and_evaluate

TF = Timeframe.parse("5m")
CONFIG = TrainConfig(
    kind="gbm",
    model=ModelConfig(gbm_max_iter=20),
    splits=SplitConfig(n_folds=3, min_train=120, valid_fraction=0.25, embargo_bars=12,
                       horizon_bars=12),
)  # fmt: skip


def _features(candles: pd.DataFrame) -> pd.DataFrame:
    smc = compute_smc(candles, SMCConfig.for_timeframe(TF)).reset_index(drop=True)
    smc.insert(0, "event_timestamp", candles.index + TF.delta)
    return smc


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    markets = {}
    for symbol in ("BTC/USDT", "ETH/USDT"):
        candles = synthetic_candles(symbol, "5m", "2024-01-01", 30, seed=7)
        markets[symbol] = prepare_market(symbol, candles, _features(candles), TF, CONFIG)
    return train_and_evaluate(markets, TF, CONFIG, tmp_path_factory.mktemp("model"))


def test_no_training_label_reaches_its_test_window(result: TrainingResult) -> None:
    decided, labelled = result.intents["decided_at"], result.intents["label_time"]

    for fold in result.folds:
        f = fold.fold
        assert labelled.iloc[f.train].max() < f.test_start
        assert labelled.iloc[f.valid].max() < f.test_start
        assert decided.iloc[f.test].min() >= f.test_start
        assert set(fold.predictions["decided_at"]) <= set(decided.iloc[f.test])


def test_predictions_are_probabilities_of_test_intents_only(result: TrainingResult) -> None:
    for fold in result.folds:
        p = fold.predictions["p"].to_numpy()
        assert len(p) > 0
        assert ((p >= 0) & (p <= 1)).all()
        assert 0.0 <= fold.threshold <= 1.0


def test_the_bundle_reloads_and_refuses_other_features(result: TrainingResult) -> None:
    assert result.bundle is not None
    bundle = load_bundle(result.bundle)

    check_fingerprint(bundle.meta, result.columns)
    with pytest.raises(FingerprintMismatch, match="other features"):
        check_fingerprint(bundle.meta, result.columns[:-1])
    assert bundle.meta.symbols == ("BTC/USDT", "ETH/USDT")
    assert bundle.meta.kind == "gbm"


def test_every_variant_is_evaluated_out_of_sample(result: TrainingResult) -> None:
    evaluation = evaluate(result, random_seeds=3)

    assert list(evaluation.summary.index) == list(VARIANTS)
    assert len(evaluation.folds) == len(result.folds)
    assert evaluation.equity.index[0] >= result.folds[0].fold.test_start
    assert np.isfinite(evaluation.summary.loc["setups", "total_return"])


def test_a_model_that_takes_every_setup_trades_exactly_the_setups(result: TrainingResult) -> None:
    everything = dataclasses.replace(
        result, folds=[dataclasses.replace(f, threshold=0.0) for f in result.folds]
    )

    evaluation = evaluate(everything, random_seeds=2)

    taken, setups = evaluation.equity["model_filtered"], evaluation.equity["setups"]
    pd.testing.assert_series_equal(taken, setups, check_names=False)


def test_one_class_only_is_refused(tmp_path: Path, result: TrainingResult) -> None:
    market = next(iter(result.markets.values()))
    flat = dataclasses.replace(CONFIG, meta=dataclasses.replace(CONFIG.meta, min_r=1e9))

    with pytest.raises(ValueError, match="one class only"):
        train_and_evaluate({market.symbol: market}, TF, flat, tmp_path)


@pytest.mark.slow
def test_keras_tuner_searches_inside_each_training_window(
    tmp_path: Path, result: TrainingResult
) -> None:
    from training.tuning import TuningConfig

    tuned = dataclasses.replace(
        CONFIG,
        kind="mlp",
        model=ModelConfig(epochs=1),
        tuning=TuningConfig(algorithm="random", max_trials=2, epochs=1),
        splits=dataclasses.replace(CONFIG.splits, n_folds=2),
    )

    out = train_and_evaluate(result.markets, TF, tuned, tmp_path)

    folders = sorted(p.name for p in (tmp_path / "tuner").iterdir())
    assert folders == ["final", "fold_0", "fold_1"]
    assert all(len(f.predictions) > 0 for f in out.folds)
    assert load_bundle(out.bundle).meta.kind == "mlp"


def test_the_final_model_has_its_importance_and_the_folds_their_calibration(
    result: TrainingResult, tmp_path: Path
) -> None:
    assert result.bundle is not None
    names = load_bundle(result.bundle).preprocessor.output_names

    evaluation = evaluate(result, random_seeds=3)
    evaluation.write(tmp_path)

    assert result.importance is not None
    assert sorted(result.importance["input"]) == sorted(names)
    assert result.importance["auc_drop"].is_monotonic_decreasing
    n = sum(len(f.predictions) for f in result.folds)
    assert evaluation.calibration["count"].sum() == n
    assert evaluation.calibration["mean_predicted"].between(0, 1).all()
    assert {p.name for p in tmp_path.iterdir()} == {
        "folds.csv",
        "summary.csv",
        "equity.csv",
        "calibration.csv",
        "importance.csv",
    }
