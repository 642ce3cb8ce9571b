"""The model factory: every kind builds, fits, predicts, saves and loads; seeds reproduce."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from training.models import (
    KINDS,
    Classifier,
    ModelConfig,
    build_model,
    load_classifier,
    make_classifier,
)
from training.models.synthetic import synthetic_windows

LOOKBACK, FEATURES = 8, 5
TINY = ModelConfig(units=16, filters=8, epochs=2, batch_size=64, gbm_max_iter=20)


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    """Import Keras once for the module (TF import is the slow part)."""
    import keras

    return keras


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = synthetic_windows(600, LOOKBACK, FEATURES, seed=1)
    return X[:400], y[:400], X[400:], y[400:]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def test_importing_the_factory_loads_no_tensorflow_or_sklearn() -> None:
    code = (
        "import sys, training, training.models, training.tuning, training.calibration, "
        "training.inference\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_tuner', 'sklearn', 'scipy') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_fits_predicts_and_round_trips_through_save(
    kind: str, keras: ModuleType, data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    X, y, Xv, yv = data
    clf = make_classifier(kind, (LOOKBACK, FEATURES), TINY)

    report = clf.fit(X, y, np.ones(len(y)), Xv, yv)
    proba = clf.predict_proba(Xv)
    loaded = load_classifier(clf.save(tmp_path / kind))

    assert isinstance(clf, Classifier)
    assert report.kind == kind
    assert 1 <= report.iterations <= report.iterations_run
    assert len(report.valid_loss) == report.iterations_run
    assert proba.shape == (len(Xv),)
    assert proba.dtype == np.float64
    assert ((proba > 0) & (proba < 1)).all()
    assert loaded.kind == kind
    assert loaded.config == TINY
    np.testing.assert_allclose(loaded.predict_proba(Xv), proba, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "gbm"])
def test_same_data_and_seed_give_the_same_predictions(
    kind: str, keras: ModuleType, data: tuple[np.ndarray, ...]
) -> None:
    X, y, Xv, yv = data
    first = make_classifier(kind, (LOOKBACK, FEATURES), TINY)
    second = make_classifier(kind, (LOOKBACK, FEATURES), TINY)

    first.fit(X, y, None, Xv, yv)
    second.fit(X, y, None, Xv, yv)

    np.testing.assert_array_equal(first.predict_proba(Xv), second.predict_proba(Xv))


def test_another_seed_gives_another_network(
    keras: ModuleType, data: tuple[np.ndarray, ...]
) -> None:
    X, y, Xv, _ = data
    a = make_classifier("mlp", (LOOKBACK, FEATURES), TINY)
    b = make_classifier("mlp", (LOOKBACK, FEATURES), replace(TINY, seed=1))

    a.fit(X, y)
    b.fit(X, y)

    assert not np.allclose(a.predict_proba(Xv), b.predict_proba(Xv))


@pytest.mark.parametrize("kind", ["mlp", "gbm"])
def test_last_row_models_learn_the_synthetic_signal(
    kind: str, keras: ModuleType, data: tuple[np.ndarray, ...]
) -> None:
    X, y, Xv, yv = data
    clf = make_classifier(kind, (LOOKBACK, FEATURES), replace(TINY, epochs=10, batch_size=32))

    clf.fit(X, y, None, Xv, yv)

    assert _auc(yv.astype(bool), clf.predict_proba(Xv)) > 0.75


def test_gbm_keeps_the_iteration_count_with_the_lowest_validation_loss(
    data: tuple[np.ndarray, ...],
) -> None:
    X, y, Xv, yv = data
    config = replace(TINY, gbm_max_iter=80, gbm_learning_rate=0.3)
    clf = make_classifier("gbm", (LOOKBACK, FEATURES), config)

    report = clf.fit(X, y, None, Xv, yv)

    assert report.iterations_run == 80
    assert report.iterations == int(np.argmin(report.valid_loss)) + 1
    assert report.iterations < 80  # 400 noisy rows overfit long before 80 rounds at 0.3


def test_mlp_reads_only_the_last_row(keras: ModuleType, data: tuple[np.ndarray, ...]) -> None:
    X, y, Xv, _ = data
    clf = make_classifier("mlp", (LOOKBACK, FEATURES), TINY)
    clf.fit(X, y)
    changed = np.array(Xv, copy=True)
    changed[:, :-1, :] = 0.0

    np.testing.assert_allclose(clf.predict_proba(changed), clf.predict_proba(Xv), rtol=1e-6)


def test_build_model_registers_search_dimensions_centred_on_the_config(keras: ModuleType) -> None:
    import keras_tuner as kt

    hp = kt.HyperParameters()
    model = build_model("lstm", (LOOKBACK, FEATURES), TINY, hp)

    assert model.output_shape == (None, 1)
    assert hp.values["units"] == TINY.units
    assert hp.values["dropout"] == TINY.dropout
    assert set(hp.values) <= set(ModelConfig.__dataclass_fields__)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_classifier("tcn", (8, 5), TINY), "unknown model kind 'tcn'"),
        (lambda: build_model("gbm", (8, 5), TINY), "gbm is not a Keras network"),
        (lambda: build_model("gru", (5,), TINY), "gru reads a window"),
        (lambda: ModelConfig(units=0), "ModelConfig.units must be a positive integer"),
        (lambda: ModelConfig(dropout=1.0), r"ModelConfig.dropout must be in \[0, 1\)"),
        (lambda: ModelConfig.from_dict({"unit": 3}), r"unknown field\(s\) \['unit'\]"),
    ],
)
def test_bad_model_requests_name_what_is_wrong(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kind", ["mlp", "gbm"])
def test_bad_training_data_is_refused_with_its_location(
    kind: str, keras: ModuleType, data: tuple[np.ndarray, ...]
) -> None:
    X, y, _, _ = data
    clf = make_classifier(kind, (LOOKBACK, FEATURES), TINY)
    holed = np.array(X, copy=True)
    holed[7, 2, 3] = np.nan

    with pytest.raises(
        ValueError, match=r"1 NaN or infinite value\(s\), first at index \(7, 2, 3\)"
    ):
        clf.fit(holed, y)
    with pytest.raises(ValueError, match="one class only"):
        clf.fit(X, np.zeros(len(y)))
    with pytest.raises(
        ValueError, match=r"expected an array of shape \(n, 8, 5\), got \(400, 8, 4\)"
    ):
        clf.fit(X[:, :, :4], y)
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict_proba(X)


def test_loading_a_folder_without_a_model_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"no saved classifier at {tmp_path}"):
        load_classifier(tmp_path)
