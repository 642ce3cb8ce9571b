"""Calibration: fitted on validation rows only; it repairs an overconfident predictor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from training.calibration import (
    IsotonicCalibrator,
    TemperatureCalibrator,
    brier_score,
    calibrate_on_validation,
    calibrator_from_dict,
    expected_calibration_error,
    fit_calibrator,
    reliability_curve,
)


@dataclass(frozen=True)
class _Fold:
    valid: np.ndarray
    test: np.ndarray


def _overconfident(n: int = 6000, sharpen: float = 3.0, seed: int = 0):
    """Return (raw p, y, true q): y ~ Bernoulli(q), raw p = sigmoid(sharpen * logit(q))."""
    rng = np.random.default_rng(seed)
    logit_q = rng.normal(0.0, 1.0, n)
    q = 1.0 / (1.0 + np.exp(-logit_q))
    y = (rng.uniform(size=n) < q).astype(int)
    p = 1.0 / (1.0 + np.exp(-sharpen * logit_q))
    return p, y, q


FOLD = _Fold(valid=np.arange(0, 3000), test=np.arange(3000, 6000))


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibration_on_validation_lowers_test_ece_and_brier(method: str) -> None:
    p, y, _ = _overconfident()
    test = FOLD.test

    calibrator = fit_calibrator(method, p, y, FOLD)
    calibrated = calibrator.transform(p[test])

    before = expected_calibration_error(y[test], p[test])
    after = expected_calibration_error(y[test], calibrated)
    assert before > 0.1
    assert after < before / 3
    assert brier_score(y[test], calibrated) < brier_score(y[test], p[test])


def test_temperature_recovers_the_sharpening_factor() -> None:
    p, y, _ = _overconfident(n=40_000, sharpen=3.0)
    fold = _Fold(valid=np.arange(40_000), test=np.array([], dtype=int))

    calibrator = fit_calibrator("temperature", p, y, fold)

    assert isinstance(calibrator, TemperatureCalibrator)
    assert calibrator.temperature == pytest.approx(3.0, rel=0.08)


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_test_rows_never_change_the_calibrator(method: str) -> None:
    p, y, _ = _overconfident()
    scrambled_p, scrambled_y = p.copy(), y.copy()
    rng = np.random.default_rng(5)
    scrambled_p[FOLD.test] = rng.uniform(size=FOLD.test.size)
    scrambled_y[FOLD.test] = 1 - scrambled_y[FOLD.test]

    assert fit_calibrator(method, p, y, FOLD) == fit_calibrator(
        method, scrambled_p, scrambled_y, FOLD
    )


def test_a_fold_whose_validation_overlaps_its_test_is_refused() -> None:
    p, y, _ = _overconfident()
    leaky = _Fold(valid=np.arange(0, 3100), test=np.arange(3000, 6000))

    with pytest.raises(
        ValueError, match=r"100 validation row\(s\) are also test rows \(first 3000\)"
    ):
        fit_calibrator("temperature", p, y, leaky)


@pytest.mark.parametrize(
    ("p", "y", "message"),
    [
        (np.array([0.2, 1.2]), np.array([0, 1]), r"1 probabilities outside \[0, 1\].*row 1"),
        (np.array([0.2, np.nan]), np.array([0, 1]), "not finite"),
        (np.array([0.2, 0.3]), np.array([1, 1]), "one class only"),
        (np.array([0.2, 0.3]), np.array([0, 2]), "labels must be 0 or 1"),
    ],
)
def test_bad_calibration_input_is_refused(p: np.ndarray, y: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_calibrator("isotonic", p, y, _Fold(np.array([0, 1]), np.array([], dtype=int)))


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown calibration method 'platt'"):
        fit_calibrator("platt", np.array([0.5]), np.array([1]), FOLD)


def test_reliability_curve_bins_by_predicted_probability() -> None:
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    y = np.array([0, 1, 0, 1, 1])

    curve = reliability_curve(y, p, n_bins=2)

    np.testing.assert_allclose(curve.edges, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(curve.counts, [3, 2])
    np.testing.assert_allclose(curve.predicted, [0.32 / 3, 0.975])
    np.testing.assert_allclose(curve.observed, [1 / 3, 1.0])


def test_ece_and_brier_on_hand_worked_values() -> None:
    p = np.array([0.25, 0.25, 0.25, 0.25, 0.9])
    y = np.array([1, 0, 0, 0, 1])

    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.1 * 1 / 5)
    assert brier_score(y, p) == pytest.approx((0.75**2 + 3 * 0.25**2 + 0.1**2) / 5)


def test_empty_bins_are_nan_and_do_not_count() -> None:
    curve = reliability_curve(np.array([0, 1]), np.array([0.0, 1.0]), n_bins=4)

    assert np.isnan(curve.observed[1:3]).all()
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0]), n_bins=4) == 0.0


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibrators_round_trip_through_a_dict(method: str) -> None:
    p, y, _ = _overconfident(n=500)
    calibrator = fit_calibrator(method, p, y, _Fold(np.arange(250), np.arange(250, 500)))

    again = calibrator_from_dict(calibrator.to_dict())

    assert again == calibrator
    np.testing.assert_array_equal(again.transform(p), calibrator.transform(p))
    assert isinstance(again, TemperatureCalibrator | IsotonicCalibrator)


def test_rows_outside_validation_are_not_even_checked() -> None:
    p, y, _ = _overconfident()
    p_holed = p.copy()
    p_holed[FOLD.test] = np.nan

    assert fit_calibrator("temperature", p_holed, y, FOLD) == fit_calibrator(
        "temperature", p, y, FOLD
    )


@dataclass(frozen=True)
class _Part:
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray


class _ValidOnly:
    """Fold data whose test part fails when touched."""

    def __init__(self, valid: _Part) -> None:
        self.valid = valid

    @property
    def test(self) -> _Part:
        raise AssertionError("the test part was read")


class _Identity:
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return X[:, 0]


def test_calibrate_on_validation_reads_only_the_validation_part() -> None:
    p, y, _ = _overconfident()
    valid = _Part(p[FOLD.valid, None], y[FOLD.valid].astype(float), np.ones(FOLD.valid.size))

    calibrator = calibrate_on_validation("temperature", _Identity(), _ValidOnly(valid))

    assert calibrator == fit_calibrator("temperature", p, y, FOLD)
