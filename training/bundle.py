"""A trained model as one folder: classifier, preprocessor, calibrator, threshold and lineage.

What training writes, what the registry logs as a pyfunc, and what the backtest (``--model``)
and the signal service load. ``meta.json`` carries the feature fingerprint: a consumer whose
features differ refuses the model (:func:`check_fingerprint`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.calibration import Calibrator, calibrator_from_dict
from training.config import DatasetConfig
from training.datasets import Preprocessor, feature_fingerprint, window_index
from training.models import load_classifier
from training.models.base import Classifier

META = "meta.json"


@dataclass(frozen=True)
class BundleMeta:
    """Lineage and decision settings of a trained model."""

    kind: str
    threshold: float
    fingerprint: str
    columns: tuple[str, ...]
    dataset: dict[str, Any]
    timeframe: str
    symbols: tuple[str, ...]
    train_start: str
    train_end: str
    size_reference: float
    setup: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def lookback(self) -> int:
        """Bars in one input window."""
        return int(self.dataset["lookback"])


class FingerprintMismatch(ValueError):
    """A model was trained on other features than the ones offered."""


@dataclass(frozen=True)
class Bundle:
    """A loaded model: ``predict_frame`` turns feature rows into calibrated P(take)."""

    classifier: Classifier
    preprocessor: Preprocessor
    calibrator: Calibrator
    meta: BundleMeta

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of preprocessed windows ``(n, lookback, outputs)``."""
        raw = self.classifier.predict_proba(np.asarray(windows, dtype=np.float32))
        return np.asarray(self.calibrator.transform(raw), dtype=np.float64)

    def predict_frame(self, frame: pd.DataFrame, rows: np.ndarray, step_ns: int) -> pd.Series:
        """P(take) at ``rows`` of a feature frame (``symbol``, ``event_timestamp``, inputs).

        Rows without a full window of history get NaN.
        """
        values = self.preprocessor.transform(frame)
        win = window_index(
            frame["symbol"].to_numpy(),
            frame["event_timestamp"],
            lookback=self.meta.lookback,
            step_ns=step_ns,
            rows=np.asarray(rows),
        )
        out = pd.Series(np.nan, index=np.asarray(rows))
        if len(win.rows):
            out.loc[win.rows] = self.predict_windows(win.gather(values))
        return out

    def size(self, p: np.ndarray) -> np.ndarray:
        """Risk multiplier of each probability: 0 below the threshold, p / reference above."""
        p = np.asarray(p, dtype=np.float64)
        scaled = np.clip(p / self.meta.size_reference, 0.25, 2.0)
        return np.where(p >= self.meta.threshold, scaled, 0.0)


def save_bundle(
    folder: Path,
    classifier: Classifier,
    preprocessor: Preprocessor,
    calibrator: Calibrator,
    meta: BundleMeta,
) -> Path:
    """Write a bundle into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    classifier.save(folder / "classifier")
    (folder / "preprocessor.json").write_text(json.dumps(preprocessor.to_dict()))
    (folder / "calibrator.json").write_text(json.dumps(calibrator.to_dict()))
    (folder / META).write_text(json.dumps(asdict(meta), indent=2, default=str))
    return folder


def load_bundle(folder: Path) -> Bundle:
    """Read a bundle written by :func:`save_bundle`."""
    if not (folder / META).exists():
        raise FileNotFoundError(f"{folder} is not a model bundle (no {META})")
    raw = json.loads((folder / META).read_text())
    raw["columns"] = tuple(raw["columns"])
    raw["symbols"] = tuple(raw["symbols"])
    meta = BundleMeta(**raw)
    return Bundle(
        classifier=load_classifier(folder / "classifier"),
        preprocessor=Preprocessor.from_dict(json.loads((folder / "preprocessor.json").read_text())),
        calibrator=calibrator_from_dict(json.loads((folder / "calibrator.json").read_text())),
        meta=meta,
    )


def check_fingerprint(meta: BundleMeta, columns: Sequence[str]) -> None:
    """Raise ``FingerprintMismatch`` when ``columns`` are not the model's inputs."""
    config = DatasetConfig(**meta.dataset)
    offered = feature_fingerprint(list(columns), config)
    if offered != meta.fingerprint:
        missing = sorted(set(meta.columns) - set(columns))
        extra = sorted(set(columns) - set(meta.columns))
        raise FingerprintMismatch(
            f"the model was trained on other features (fingerprint {meta.fingerprint[:12]} vs "
            f"{offered[:12]}): missing {missing[:5]}, unexpected {extra[:5]}"
        )
