"""The classifier protocol shared by the Keras networks and the gradient-boosting baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np

from training.models.config import ModelConfig, check_kind

META_FILE = "classifier.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FitReport:
    """What one fit did: how long it ran and where the validation loss was best.

    Attributes:
        kind: the model kind.
        seconds: wall time of the fit.
        iterations: epochs (Keras) or boosting iterations (gbm) kept in the final model.
        iterations_run: epochs or iterations run before stopping.
        train_loss: training log-loss per epoch (Keras) or at the end (gbm).
        valid_loss: validation log-loss per epoch or iteration; empty without validation data.
    """

    kind: str
    seconds: float
    iterations: int
    iterations_run: int
    train_loss: tuple[float, ...] = ()
    valid_loss: tuple[float, ...] = field(default=())


@runtime_checkable
class Classifier(Protocol):
    """A binary classifier of windows ``(n, *input_shape)`` into P(label = 1)."""

    kind: str
    input_shape: tuple[int, ...]
    config: ModelConfig

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> FitReport:
        """Fit on ``X, y`` (optionally weighted); stop early on ``X_valid, y_valid``."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return P(label = 1) for each row of ``X``, shape ``(n,)``, float64."""
        ...

    def save(self, path: str | Path) -> Path:
        """Write the fitted classifier into the directory ``path``; return it."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a classifier written by :meth:`save`."""
        ...


def check_features(X: np.ndarray, input_shape: tuple[int, ...], where: str) -> np.ndarray:
    """Return ``X`` as float32 after checking its shape and that every value is finite."""
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim < 1 or arr.shape[1:] != tuple(input_shape):
        raise ValueError(
            f"{where}: expected an array of shape (n, {', '.join(map(str, input_shape))}), "
            f"got {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{where}: no rows")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{where}: {int((~finite).sum())} NaN or infinite value(s), first at index "
            f"{tuple(int(i) for i in bad)}"
        )
    return arr


def check_labels(y: np.ndarray, n: int, where: str, both_classes: bool = True) -> np.ndarray:
    """Return ``y`` as float32 0/1 labels after checking length, values and both classes."""
    arr = np.asarray(y).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{where}: {arr.shape[0]} labels for {n} rows")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"{where}: labels must be 0 or 1, got values {sorted(values)[:5]}")
    if both_classes and len(values) < 2:
        raise ValueError(f"{where}: one class only ({sorted(values)}); need both 0 and 1")
    return arr.astype(np.float32)


def check_weights(sample_weight: np.ndarray | None, n: int, where: str) -> np.ndarray | None:
    """Return the weights as float32 after checking length, finiteness and sign."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float32).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"{where}: {w.shape[0]} sample weights for {n} rows")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"{where}: sample weights must be finite, >= 0 and not all zero")
    return w


def write_meta(
    path: Path,
    kind: str,
    input_shape: tuple[int, ...],
    config: ModelConfig,
    hyperparameters: dict[str, Any],
) -> None:
    """Write the classifier's description next to its model file."""
    meta = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "input_shape": list(input_shape),
        "config": config.to_dict(),
        "hyperparameters": hyperparameters,
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read and check the description written by :func:`write_meta`."""
    file = Path(path) / META_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no saved classifier at {path} (missing {META_FILE})")
    meta: dict[str, Any] = json.loads(file.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{file}: unsupported format {meta.get('format')!r}")
    check_kind(meta["kind"])
    meta["input_shape"] = tuple(int(d) for d in meta["input_shape"])
    meta["config"] = ModelConfig.from_dict(meta["config"])
    return meta
