"""keras-tuner search inside one training window: budget, seeds, folds, test rows unread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from training.models import ModelConfig, load_classifier
from training.models.synthetic import synthetic_windows
from training.tuning import TuningConfig, tune, tune_fold, tune_fold_data

TINY = ModelConfig(units=16, epochs=1, batch_size=64, gbm_max_iter=20)
BUDGET = TuningConfig(algorithm="bayesian", max_trials=2, epochs=1)


@dataclass(frozen=True)
class _Fold:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    import keras

    return keras


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = synthetic_windows(500, 6, 4, seed=3)
    return X, y


FOLD = _Fold(train=np.arange(0, 300), valid=np.arange(320, 400), test=np.arange(420, 500))


def test_search_runs_the_trial_budget_and_returns_the_best_trial(
    keras: ModuleType, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = data
    seen: list[tuple[int, float | None]] = []

    result = tune_fold(
        "mlp",
        X,
        y,
        FOLD,
        tmp_path / "kt",
        TINY,
        BUDGET,
        sample_weight=np.linspace(0.5, 1.5, len(y)),
        on_trial=lambda n, score, values: seen.append((n, score)),
    )

    assert result.trials == 2
    assert [n for n, _ in seen] == [1, 2]
    assert result.best_val_loss == min(result.trial_losses)
    assert result.config.units == result.hyperparameters["units"]
    assert result.config.learning_rate == result.hyperparameters["learning_rate"]
    assert (tmp_path / "kt" / "mlp").is_dir()
    proba = result.classifier.predict_proba(X[FOLD.valid])
    assert proba.shape == (FOLD.valid.size,)
    assert ((proba > 0) & (proba < 1)).all()
    loaded = load_classifier(result.classifier.save(tmp_path / "model"))
    assert loaded.config == result.config
    np.testing.assert_allclose(loaded.predict_proba(X[FOLD.valid]), proba, rtol=1e-5, atol=1e-6)


def test_test_rows_are_never_read(
    keras: ModuleType, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = data
    poisoned = np.array(X, copy=True)
    poisoned[FOLD.test] = np.nan  # any read of a test row would fail the finite-value check
    labels = np.array(y, copy=True)
    labels[FOLD.test] = 7

    result = tune_fold("gbm", poisoned, labels, FOLD, tmp_path / "kt", TINY, BUDGET)

    assert result.trials == 0
    assert result.hyperparameters == {}
    assert np.isfinite(result.best_val_loss)


@pytest.mark.slow
def test_search_is_reproducible_with_the_same_seed(
    keras: ModuleType, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = data
    first = tune_fold("mlp", X, y, FOLD, tmp_path / "a", TINY, BUDGET)
    second = tune_fold("mlp", X, y, FOLD, tmp_path / "b", TINY, BUDGET)

    assert first.hyperparameters == second.hyperparameters
    assert first.trial_losses == second.trial_losses


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "hyperband"}, "TuningConfig.algorithm must be one of"),
        ({"max_trials": 0}, "TuningConfig.max_trials must be >= 1"),
        ({"epochs": 0}, "TuningConfig.epochs must be >= 1 or None"),
    ],
)
def test_bad_tuning_config_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TuningConfig(**kwargs)


def test_overlapping_train_and_valid_rows_are_refused(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = data
    fold = _Fold(train=np.arange(0, 300), valid=np.arange(290, 400), test=np.arange(420, 500))

    with pytest.raises(ValueError, match="training and validation rows overlap"):
        tune_fold("mlp", X, y, fold, tmp_path, TINY, BUDGET)


def test_bad_window_data_names_where(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    X, y = data

    with pytest.raises(ValueError, match="tune mlp y_train: one class only"):
        tune("mlp", X[:50], np.zeros(50), X[50:60], y[50:60], tmp_path, TINY, BUDGET)


@dataclass(frozen=True)
class _Part:
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray


class _FoldData:
    """Fold windows whose test part fails when touched."""

    def __init__(self, train: _Part, valid: _Part) -> None:
        self.train, self.valid = train, valid

    @property
    def test(self) -> _Part:
        raise AssertionError("the test part was read")


def test_fold_data_search_reads_train_and_valid_parts_only(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, y = data
    t, v = FOLD.train, FOLD.valid
    weights = np.linspace(0.5, 1.5, t.size)
    fold = _FoldData(_Part(X[t], y[t].astype(float), weights), _Part(X[v], y[v], np.ones(v.size)))

    result = tune_fold_data("gbm", fold, tmp_path, TINY, BUDGET)
    direct = tune("gbm", X[t], y[t], X[v], y[v], tmp_path, TINY, BUDGET, sample_weight=weights)

    np.testing.assert_array_equal(
        result.classifier.predict_proba(X[v]), direct.classifier.predict_proba(X[v])
    )
