"""The non-neural baseline: histogram gradient boosting on the last row of each window."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any, Self

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController

from training.models.base import (
    FitReport,
    check_features,
    check_labels,
    check_weights,
    read_meta,
    write_meta,
)
from training.models.config import ModelConfig

MODEL_FILE = "model.joblib"
_EPS = 1e-7


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # built once: it scans the loaded libraries


def _threads(n: int) -> AbstractContextManager[Any]:
    """Limit OpenMP to ``n`` threads inside the block (0: no limit)."""
    return _controller().limit(limits=n, user_api="openmp") if n > 0 else nullcontext()


def _last_row(x: np.ndarray) -> np.ndarray:
    return x[:, -1, :] if x.ndim == 3 else x


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


class GBMClassifier:
    """scikit-learn ``HistGradientBoostingClassifier`` behind the :class:`Classifier` protocol.

    With validation data the number of boosting iterations is the one with the lowest
    validation log-loss (the model is refitted to that many, from the same seed). Fits and
    predictions run on ``config.gbm_threads`` OpenMP threads.
    """

    kind = "gbm"

    def __init__(
        self,
        input_shape: tuple[int, ...],
        config: ModelConfig,
        model: HistGradientBoostingClassifier | None = None,
        hyperparameters: dict[str, Any] | None = None,
    ) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        if len(self.input_shape) not in (1, 2) or min(self.input_shape) < 1:
            raise ValueError(
                f"gbm: input_shape must be (lookback, features) or (features,), "
                f"got {self.input_shape}"
            )
        self.config = config
        self.hyperparameters = dict(hyperparameters or {})
        self._model = model

    def _estimator(self, max_iter: int) -> HistGradientBoostingClassifier:
        c = self.config
        return HistGradientBoostingClassifier(
            learning_rate=c.gbm_learning_rate,
            max_iter=max_iter,
            max_leaf_nodes=c.gbm_max_leaf_nodes,
            l2_regularization=c.gbm_l2,
            early_stopping=False,
            random_state=c.seed,
        )

    @property
    def model(self) -> HistGradientBoostingClassifier:
        """The fitted scikit-learn estimator."""
        if self._model is None:
            raise RuntimeError("gbm classifier is not fitted: call fit() or load()")
        return self._model

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> FitReport:
        """Fit on the last row of each window; pick the iteration count on validation data."""
        x = _last_row(check_features(X, self.input_shape, "gbm.fit X"))
        labels = check_labels(y, len(x), "gbm.fit y")
        weights = check_weights(sample_weight, len(x), "gbm.fit sample_weight")
        if (X_valid is None) != (y_valid is None):
            raise ValueError("gbm.fit: give both X_valid and y_valid, or neither")
        xv = yv = None
        if X_valid is not None:
            xv = _last_row(check_features(X_valid, self.input_shape, "gbm.fit X_valid"))
            yv = check_labels(y_valid, len(xv), "gbm.fit y_valid", both_classes=False)  # type: ignore[arg-type]
        start = time.perf_counter()
        valid_loss: tuple[float, ...] = ()
        with _threads(self.config.gbm_threads):
            model = self._estimator(self.config.gbm_max_iter).fit(x, labels, sample_weight=weights)
            run = int(model.n_iter_)
            if xv is not None and yv is not None:
                staged = model.staged_predict_proba(xv)
                valid_loss = tuple(_log_loss(yv, p[:, 1]) for p in staged)
                best = int(np.argmin(valid_loss)) + 1
                if best < run:
                    model = self._estimator(best).fit(x, labels, sample_weight=weights)
            train_loss = (_log_loss(labels, model.predict_proba(x)[:, 1]),)
        self._model = model
        seconds = time.perf_counter() - start
        return FitReport("gbm", seconds, int(model.n_iter_), run, train_loss, valid_loss)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return P(label = 1) per row, float64, shape ``(n,)``."""
        x = _last_row(check_features(X, self.input_shape, "gbm.predict_proba X"))
        with _threads(self.config.gbm_threads):
            return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)

    def save(self, path: str | Path) -> Path:
        """Write ``model.joblib`` and ``classifier.json`` into the directory ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model, folder / MODEL_FILE)
        write_meta(folder, "gbm", self.input_shape, self.config, self.hyperparameters)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a classifier written by :meth:`save` (a trusted, self-written file)."""
        meta = read_meta(path)
        if meta["kind"] != "gbm":
            raise ValueError(f"{path}: holds a {meta['kind']} model, not gbm")
        model = joblib.load(Path(path) / MODEL_FILE)
        return cls(meta["input_shape"], meta["config"], model, meta["hyperparameters"])
