"""Single-bar inference: same answer as the batch path, traced once, bad windows refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.inference import SingleBarPredictor
from training.models import Classifier, ModelConfig, make_classifier
from training.models.synthetic import synthetic_windows

LOOKBACK, FEATURES = 6, 4
TINY = ModelConfig(units=8, epochs=1, batch_size=64, gbm_max_iter=10)


@pytest.fixture(scope="module")
def windows() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_windows(300, LOOKBACK, FEATURES, seed=2)


@pytest.fixture(scope="module", params=["mlp", "gbm"])
def fitted(request: pytest.FixtureRequest, windows: tuple[np.ndarray, np.ndarray]) -> Classifier:
    X, y = windows
    clf = make_classifier(request.param, (LOOKBACK, FEATURES), TINY)
    clf.fit(X, y)
    return clf


@pytest.mark.parametrize("mode", ["predict_on_batch", "function"])
def test_single_bar_answer_equals_the_batch_answer(
    fitted: Classifier, windows: tuple[np.ndarray, np.ndarray], mode: str
) -> None:
    X, _ = windows
    predictor = SingleBarPredictor(fitted, mode)

    answers = np.array([predictor.predict(X[i]) for i in range(20)])

    np.testing.assert_allclose(answers, fitted.predict_proba(X[:20]), rtol=1e-5, atol=1e-7)


def test_function_mode_traces_once_however_many_bars(
    fitted: Classifier, windows: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = windows
    predictor = SingleBarPredictor(fitted, "function")

    for i in range(30):
        predictor.predict(X[i])

    assert predictor.traces == (None if fitted.kind == "gbm" else 1)


def test_predictor_loads_a_saved_classifier(
    fitted: Classifier, windows: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, _ = windows
    predictor = SingleBarPredictor.from_path(fitted.save(tmp_path / "m"))

    assert predictor.predict(X[3]) == pytest.approx(float(fitted.predict_proba(X[3:4])[0]), 1e-6)


def test_bad_windows_are_refused_with_the_reason(
    fitted: Classifier, windows: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = windows
    predictor = SingleBarPredictor(fitted)
    holed = np.array(X[0], copy=True)
    holed[-1, 2] = np.inf

    with pytest.raises(
        ValueError, match=r"expected an array of shape \(n, 6, 4\), got \(1, 5, 4\)"
    ):
        predictor.predict(X[0][1:])
    with pytest.raises(ValueError, match=r"first at index \(0, 5, 2\)"):
        predictor.predict(holed)
    with pytest.raises(ValueError, match="mode must be one of"):
        SingleBarPredictor(fitted, "predict")
