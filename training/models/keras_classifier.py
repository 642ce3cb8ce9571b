"""A :class:`~training.models.base.Classifier` over a Keras network (imports Keras)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Self

import keras
import numpy as np

from training.models.base import (
    FitReport,
    check_features,
    check_labels,
    check_weights,
    read_meta,
    write_meta,
)
from training.models.config import KERAS_KINDS, ModelConfig
from training.models.networks import build_network

MODEL_FILE = "model.keras"
PREDICT_BATCH = 4096


class KerasClassifier:
    """Build, fit, predict with and save one Keras network of a given kind.

    The architecture is the config's: tuned hyperparameters are config fields (see
    :func:`training.tuning.tune`), so a refit rebuilds exactly the tuned network.
    """

    def __init__(
        self,
        kind: str,
        input_shape: tuple[int, ...],
        config: ModelConfig,
        model: keras.Model | None = None,
        hyperparameters: dict[str, Any] | None = None,
    ) -> None:
        if kind not in KERAS_KINDS:
            raise ValueError(f"{kind!r} is not a Keras model kind ({', '.join(KERAS_KINDS)})")
        self.kind = kind
        self.input_shape = tuple(int(d) for d in input_shape)
        self.config = config
        self.hyperparameters = dict(hyperparameters or {})
        self._model = model

    @property
    def model(self) -> keras.Model:
        """The fitted Keras model."""
        if self._model is None:
            raise RuntimeError(f"{self.kind} classifier is not fitted: call fit() or load()")
        return self._model

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> FitReport:
        """Fit from the seed; with validation data, stop early and keep the best epoch."""
        where = f"{self.kind}.fit"
        x = check_features(X, self.input_shape, f"{where} X")
        labels = check_labels(y, len(x), f"{where} y")
        weights = check_weights(sample_weight, len(x), f"{where} sample_weight")
        validation = None
        callbacks: list[keras.callbacks.Callback] = []
        if (X_valid is None) != (y_valid is None):
            raise ValueError(f"{where}: give both X_valid and y_valid, or neither")
        if X_valid is not None:
            xv = check_features(X_valid, self.input_shape, f"{where} X_valid")
            yv = check_labels(y_valid, len(xv), f"{where} y_valid", both_classes=False)  # type: ignore[arg-type]
            validation = (xv, yv)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.config.patience, restore_best_weights=True
                )
            )
        # Always a fresh network from the seed, so that a refit reproduces the first fit.
        keras.utils.set_random_seed(self.config.seed)
        model = self._model = build_network(self.kind, self.input_shape, self.config)
        start = time.perf_counter()
        history = model.fit(
            x,
            labels,
            sample_weight=weights,
            validation_data=validation,
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        train_loss = tuple(float(v) for v in history.history["loss"])
        valid_loss = tuple(float(v) for v in history.history.get("val_loss", ()))
        best = int(np.argmin(valid_loss)) + 1 if valid_loss else len(train_loss)
        return FitReport(self.kind, seconds, best, len(train_loss), train_loss, valid_loss)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return P(label = 1) per row, float64, shape ``(n,)``."""
        x = check_features(X, self.input_shape, f"{self.kind}.predict_proba X")
        model = self.model
        if len(x) <= PREDICT_BATCH:
            out = model.predict_on_batch(x)
        else:
            out = model.predict(x, batch_size=PREDICT_BATCH, verbose=0)
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def save(self, path: str | Path) -> Path:
        """Write ``model.keras`` and ``classifier.json`` into the directory ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / MODEL_FILE)
        write_meta(folder, self.kind, self.input_shape, self.config, self.hyperparameters)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a classifier written by :meth:`save`."""
        meta = read_meta(path)
        model = keras.saving.load_model(Path(path) / MODEL_FILE)
        hyperparameters = meta["hyperparameters"]
        return cls(meta["kind"], meta["input_shape"], meta["config"], model, hyperparameters)
