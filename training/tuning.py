"""Hyperparameter search with keras-tuner inside one training window.

The caller gives the window's training rows and its (purged) inner validation rows: as a
fold's windows (:func:`tune_fold_data` with a ``training.datasets.FoldData``), as row
positions into aligned arrays (:func:`tune_fold` with a ``training.splits.Fold``), or as
arrays (:func:`tune`); the test rows are never read. Importing this module is cheap:
keras-tuner and Keras load in the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from training.calibration import FoldPart
from training.models import Classifier, ModelConfig, make_classifier
from training.models.base import check_features, check_labels, check_weights
from training.models.config import check_kind

ALGORITHMS: tuple[str, ...] = ("bayesian", "random")

TrialHook = Callable[[int, float | None, dict[str, Any]], None]
"""Called after each trial with its number (1-based), its best val_loss and its values."""


@dataclass(frozen=True)
class TuningConfig:
    """The search: algorithm and trial budget.

    Attributes:
        algorithm: ``bayesian`` (keras-tuner BayesianOptimization) or ``random``.
        max_trials: the trial budget of one search (one training window).
        epochs: maximum epochs per trial (early stopping on the validation loss may end
            sooner); None uses the model config's ``epochs``.
    """

    algorithm: str = "bayesian"
    max_trials: int = 10
    epochs: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"TuningConfig.algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}"
            )
        if self.max_trials < 1:
            raise ValueError(f"TuningConfig.max_trials must be >= 1, got {self.max_trials}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"TuningConfig.epochs must be >= 1 or None, got {self.epochs}")


@dataclass(frozen=True)
class TuningResult:
    """The best model of a search and how it was found.

    Attributes:
        classifier: the best trial's fitted model (its best epoch).
        config: the model config with the best hyperparameters in place.
        hyperparameters: the best trial's values (empty for ``gbm``, which is not searched).
        best_val_loss: its validation log-loss.
        trials: trials run.
        seconds: wall time of the search.
    """

    classifier: Classifier
    config: ModelConfig
    hyperparameters: dict[str, Any]
    best_val_loss: float
    trials: int
    seconds: float
    trial_losses: tuple[float, ...] = field(default=())


class TrainValidFold(Protocol):
    """Anything with training and validation row indices (``training.splits.Fold``)."""

    @property
    def train(self) -> np.ndarray: ...

    @property
    def valid(self) -> np.ndarray: ...


def tune_fold(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    fold: TrainValidFold,
    directory: Path,
    model_config: ModelConfig,
    tuning_config: TuningConfig,
    sample_weight: np.ndarray | None = None,
    on_trial: TrialHook | None = None,
) -> TuningResult:
    """Search on ``fold.train`` rows, judged on ``fold.valid`` rows; never read other rows."""
    train = np.asarray(fold.train, dtype=np.int64)
    valid = np.asarray(fold.valid, dtype=np.int64)
    if train.size == 0 or valid.size == 0:
        raise ValueError(
            f"tune_fold: the fold has {train.size} training and {valid.size} validation rows"
        )
    if np.intersect1d(train, valid).size:
        raise ValueError("tune_fold: training and validation rows overlap")
    weights = None if sample_weight is None else np.asarray(sample_weight)[train]
    return tune(
        kind,
        X[train],
        np.asarray(y)[train],
        X[valid],
        np.asarray(y)[valid],
        directory,
        model_config,
        tuning_config,
        sample_weight=weights,
        on_trial=on_trial,
    )


class TrainValidData(Protocol):
    """A fold's windows (``training.datasets.FoldData``): ``train`` and ``valid`` parts."""

    @property
    def train(self) -> FoldPart: ...

    @property
    def valid(self) -> FoldPart: ...


def tune_fold_data(
    kind: str,
    data: TrainValidData,
    directory: Path,
    model_config: ModelConfig,
    tuning_config: TuningConfig,
    weighted: bool = True,
    on_trial: TrialHook | None = None,
) -> TuningResult:
    """Search on a fold's windows: train on ``data.train``, judge on ``data.valid``.

    Training is weighted by ``train.w`` unless ``weighted`` is False; targets must be 0/1;
    the test part is never read.
    """
    train, valid = data.train, data.valid
    return tune(
        kind,
        train.x,
        train.y,
        valid.x,
        valid.y,
        directory,
        model_config,
        tuning_config,
        sample_weight=train.w if weighted else None,
        on_trial=on_trial,
    )


def tune(
    kind: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    directory: Path,
    model_config: ModelConfig,
    tuning_config: TuningConfig,
    sample_weight: np.ndarray | None = None,
    on_trial: TrialHook | None = None,
) -> TuningResult:
    """Run a keras-tuner search for ``kind`` and return its best model.

    Each trial builds the network from the seed, trains on ``X_train`` (weighted by
    ``sample_weight``) with early stopping on the validation loss, and is scored by its
    best ``val_loss``. The tuner writes its trials under ``directory / kind`` (overwritten).
    ``gbm`` is not searched: it is fitted once with the config's values.
    """
    check_kind(kind)
    shape = tuple(int(d) for d in np.shape(X_train)[1:])
    x = check_features(X_train, shape, f"tune {kind} X_train")
    labels = check_labels(y_train, len(x), f"tune {kind} y_train")
    weights = check_weights(sample_weight, len(x), f"tune {kind} sample_weight")
    xv = check_features(X_valid, shape, f"tune {kind} X_valid")
    yv = check_labels(y_valid, len(xv), f"tune {kind} y_valid", both_classes=False)
    start = time.perf_counter()
    if kind == "gbm":
        clf = make_classifier(kind, shape, model_config)
        report = clf.fit(x, labels, weights, xv, yv)
        loss = min(report.valid_loss)
        seconds = time.perf_counter() - start
        return TuningResult(clf, model_config, {}, loss, 0, seconds, (loss,))
    return _search(
        kind,
        shape,
        x,
        labels,
        weights,
        xv,
        yv,
        Path(directory),
        model_config,
        tuning_config,
        on_trial,
        start,
    )


def _search(
    kind: str,
    shape: tuple[int, ...],
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    xv: np.ndarray,
    yv: np.ndarray,
    directory: Path,
    config: ModelConfig,
    tuning: TuningConfig,
    on_trial: TrialHook | None,
    start: float,
) -> TuningResult:
    import keras
    import keras_tuner as kt

    from training.models import build_model
    from training.models.keras_classifier import KerasClassifier

    def build(hp: kt.HyperParameters) -> keras.Model:
        keras.utils.set_random_seed(config.seed)  # every trial starts from the same seed
        return build_model(kind, shape, config, hp)

    base = kt.BayesianOptimization if tuning.algorithm == "bayesian" else kt.RandomSearch

    class Tuner(base):  # type: ignore[misc, valid-type]
        def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
            super().on_trial_end(trial)
            if on_trial is not None:
                on_trial(len(self.oracle.trials), trial.score, dict(trial.hyperparameters.values))

    tuner = Tuner(
        build,
        objective=kt.Objective("val_loss", "min"),
        max_trials=tuning.max_trials,
        seed=config.seed + 1,  # keras-tuner draws a random seed when given 0
        directory=str(directory),
        project_name=kind,
        overwrite=True,
    )
    tuner.search(
        x,
        y,
        sample_weight=w,
        validation_data=(xv, yv),
        epochs=tuning.epochs or config.epochs,
        batch_size=config.batch_size,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience)],
        verbose=0,
    )
    best_hp = tuner.get_best_hyperparameters(1)[0]
    names = {f.name for f in fields(ModelConfig)}
    tuned = replace(config, **{k: v for k, v in best_hp.values.items() if k in names})
    model = tuner.get_best_models(1)[0]
    trials = [t for t in tuner.oracle.trials.values() if t.score is not None]
    losses = tuple(float(t.score) for t in trials)
    clf = KerasClassifier(kind, shape, tuned, model, dict(best_hp.values))
    seconds = time.perf_counter() - start
    return TuningResult(clf, tuned, dict(best_hp.values), min(losses), len(trials), seconds, losses)
