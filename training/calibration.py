"""Probability calibration (temperature, isotonic), reliability curve, Brier score, ECE.

Pure numpy (scikit-learn's isotonic regression loads only when an isotonic calibrator is
fitted). A calibrator is fitted by :func:`fit_calibrator` from a *fold*: it reads the rows of
``fold.valid`` and nothing else, and refuses a fold whose validation rows overlap its test
rows; the fitted calibrator is frozen and has no fit method, so it cannot be refitted on test
data by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Method = Literal["temperature", "isotonic"]
METHODS: tuple[str, ...] = ("temperature", "isotonic")
_EPS = 1e-7


class ValidTestFold(Protocol):
    """Anything with validation and test row indices (``training.splits.Fold`` has them)."""

    @property
    def valid(self) -> np.ndarray: ...

    @property
    def test(self) -> np.ndarray: ...


def _check_proba(p: np.ndarray, where: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        raise ValueError(
            f"{where}: {int(bad.sum())} probabilities outside [0, 1] or not finite, "
            f"first at row {int(np.argmax(bad))}"
        )
    return arr


def _check_binary(y: np.ndarray, n: int, where: str) -> np.ndarray:
    arr = np.asarray(y).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{where}: {arr.shape[0]} labels for {n} probabilities")
    if not set(np.unique(arr).tolist()) <= {0, 1}:
        raise ValueError(f"{where}: labels must be 0 or 1")
    return arr.astype(np.float64)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q) - np.log1p(-q))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


@dataclass(frozen=True)
class TemperatureCalibrator:
    """``p -> sigmoid(logit(p) / temperature)``; temperature > 1 softens overconfidence."""

    temperature: float
    method: str = "temperature"

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of ``p``."""
        return _sigmoid(_logit(_check_proba(p, "TemperatureCalibrator")) / self.temperature)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable description."""
        return {"method": self.method, "temperature": self.temperature}


@dataclass(frozen=True)
class IsotonicCalibrator:
    """A monotone step map fitted by isotonic regression, applied by linear interpolation."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    method: str = "isotonic"

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of ``p`` (clipped to the fitted range)."""
        return np.interp(_check_proba(p, "IsotonicCalibrator"), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable description."""
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}


Calibrator = TemperatureCalibrator | IsotonicCalibrator


def calibrator_from_dict(values: dict[str, Any]) -> Calibrator:
    """Rebuild a calibrator from its :meth:`to_dict` output."""
    if values.get("method") == "temperature":
        return TemperatureCalibrator(float(values["temperature"]))
    if values.get("method") == "isotonic":
        return IsotonicCalibrator(tuple(map(float, values["x"])), tuple(map(float, values["y"])))
    raise ValueError(f"unknown calibration method {values.get('method')!r}; choose {METHODS}")


def _fit_temperature(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> TemperatureCalibrator:
    # Newton's method on a = 1 / T: the weighted log-loss is convex in a.
    z = _logit(p)
    a = 1.0
    for _ in range(100):
        s = _sigmoid(a * z)
        grad = float(np.sum(w * (s - y) * z))
        hess = float(np.sum(w * s * (1.0 - s) * z * z))
        if hess <= 1e-12:
            break
        step = grad / hess
        a = float(np.clip(a - step, 1e-3, 1e3))
        if abs(step) < 1e-10:
            break
    return TemperatureCalibrator(1.0 / a)


def _fit_isotonic(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> IsotonicCalibrator:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y, sample_weight=w)
    return IsotonicCalibrator(
        tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_)
    )


def fit_calibrator(
    method: str,
    proba: np.ndarray,
    y: np.ndarray,
    fold: ValidTestFold,
    sample_weight: np.ndarray | None = None,
) -> Calibrator:
    """Fit a calibrator on the validation rows of ``fold`` only.

    Args:
        method: ``temperature`` or ``isotonic``.
        proba: the model's probabilities, indexed like the rows the fold's indices refer to.
        y: the 0/1 labels, aligned with ``proba``.
        fold: gives ``valid`` (the rows used) and ``test`` (rows that must not be used).
        sample_weight: optional weights aligned with ``proba``.

    Returns:
        A frozen calibrator; its ``transform`` maps raw probabilities to calibrated ones.
    """
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    valid = np.asarray(fold.valid, dtype=np.int64)
    if valid.size == 0:
        raise ValueError("fit_calibrator: the fold has no validation rows")
    overlap = np.intersect1d(valid, np.asarray(fold.test, dtype=np.int64))
    if overlap.size:
        raise ValueError(
            f"fit_calibrator: {overlap.size} validation row(s) are also test rows "
            f"(first {int(overlap[0])}); calibration never sees test data"
        )
    p_all, y_all = np.asarray(proba).reshape(-1), np.asarray(y).reshape(-1)
    if len(y_all) != len(p_all):
        raise ValueError(f"fit_calibrator: {len(y_all)} labels for {len(p_all)} probabilities")
    if valid.max() >= len(p_all) or valid.min() < 0:
        raise ValueError(f"fit_calibrator: validation index out of range for {len(p_all)} rows")
    # Only the validation rows are read, checks included: other rows may hold anything.
    p = _check_proba(p_all[valid], "fit_calibrator proba[fold.valid]")
    labels = _check_binary(y_all[valid], len(p), "fit_calibrator y[fold.valid]")
    if len(np.unique(labels)) < 2:
        raise ValueError("fit_calibrator: the validation rows hold one class only")
    w = np.ones(len(p)) if sample_weight is None else np.asarray(sample_weight, float)[valid]
    if method == "temperature":
        return _fit_temperature(p, labels, w)
    return _fit_isotonic(p, labels, w)


class FoldPart(Protocol):
    """One part of a fold: windows, targets and weights (``training.datasets.Part``)."""

    @property
    def x(self) -> np.ndarray: ...

    @property
    def y(self) -> np.ndarray: ...

    @property
    def w(self) -> np.ndarray: ...


class _ValidData(Protocol):
    @property
    def valid(self) -> FoldPart: ...


class _Predicts(Protocol):
    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class _Positions:
    valid: np.ndarray
    test: np.ndarray


def calibrate_on_validation(
    method: str, classifier: _Predicts, data: _ValidData, weighted: bool = False
) -> Calibrator:
    """Fit a calibrator of ``classifier`` on a fold's validation part (``data.valid``).

    ``data`` is a ``training.datasets.FoldData`` (or anything with ``valid.x``, ``valid.y``
    0/1 and ``valid.w``); only its validation part is read, so the test part cannot leak in.
    ``weighted`` weights the fit by ``valid.w``.
    """
    part = data.valid
    proba = classifier.predict_proba(part.x)
    rows = _Positions(np.arange(len(proba)), np.empty(0, dtype=np.int64))
    return fit_calibrator(method, proba, part.y, rows, part.w if weighted else None)


def brier_score(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Return the (weighted) mean squared difference between ``p`` and the 0/1 outcome."""
    prob = _check_proba(p, "brier_score")
    labels = _check_binary(y, len(prob), "brier_score")
    return float(np.average((prob - labels) ** 2, weights=sample_weight))


@dataclass(frozen=True)
class ReliabilityCurve:
    """Observed frequency against mean predicted probability in equal-width bins of [0, 1].

    Attributes:
        edges: the ``n_bins + 1`` bin edges.
        predicted: mean predicted probability per bin (NaN where the bin is empty).
        observed: fraction of positives per bin (NaN where empty).
        counts: rows per bin.
    """

    edges: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> ReliabilityCurve:
    """Bin ``p`` into ``n_bins`` equal-width bins (the last one closed) and compare."""
    if n_bins < 1:
        raise ValueError(f"reliability_curve: n_bins must be >= 1, got {n_bins}")
    prob = _check_proba(p, "reliability_curve")
    labels = _check_binary(y, len(prob), "reliability_curve")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(bins, prob, n_bins) / counts
        observed = np.bincount(bins, labels, n_bins) / counts
    return ReliabilityCurve(edges, predicted, observed, counts)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Return the count-weighted mean |observed - predicted| over the reliability bins."""
    curve = reliability_curve(y, p, n_bins)
    full = curve.counts > 0
    gaps = np.abs(curve.observed[full] - curve.predicted[full])
    return float(np.sum(gaps * curve.counts[full]) / np.sum(curve.counts))
