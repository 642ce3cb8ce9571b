"""Training and inference: every model kind on synthetic windows shaped like the real matrix.

Windows of ``SMARTMARKET_BENCH_TRAIN_FEATURES`` (230) inputs over a lookback of
``SMARTMARKET_BENCH_TRAIN_LOOKBACK`` (32) bars, ``SMARTMARKET_BENCH_TRAIN_ROWS`` (20,000) rows
split like one walk-forward fold (70% train, a 2% purge gap, 13% validation, a 2% gap, 13%
test). Each case runs in a fresh interpreter, so its peak memory is its own:

- **fit**: one fold per kind with the default :class:`ModelConfig` (early stopping on the
  validation loss), seconds per fold and per epoch, and the test AUC as a sanity check (the
  synthetic label is learnable);
- **tune**: a keras-tuner search (BayesianOptimization) of ``SMARTMARKET_BENCH_TRAIN_TRIALS``
  (3) trials on the same fold; trials per minute;
- **infer**: single-bar latency p50/p99 over ``SMARTMARKET_BENCH_TRAIN_CALLS`` (500) calls on a
  model loaded from disk: ``SingleBarPredictor`` (``predict_on_batch`` and a traced
  ``tf.function``), ``model.predict`` (the slow path) and, for the Keras kinds, an MLflow
  pyfunc loaded from a registered model (SQLite tracking in a temporary folder).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import run_case

KINDS = ("lstm", "gru", "cnn_lstm", "transformer", "mlp", "gbm")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _shape() -> tuple[int, int, int]:
    return (
        _env_int("SMARTMARKET_BENCH_TRAIN_ROWS", 20_000),
        _env_int("SMARTMARKET_BENCH_TRAIN_LOOKBACK", 32),
        _env_int("SMARTMARKET_BENCH_TRAIN_FEATURES", 230),
    )


def _fold(rows: int) -> tuple[slice, slice, slice]:
    a, gap, b = int(rows * 0.70), int(rows * 0.02), int(rows * 0.13)
    return slice(0, a), slice(a + gap, a + gap + b), slice(a + 2 * gap + b, rows)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    ranks = np.empty(len(p))
    ranks[np.argsort(p)] = np.arange(1, len(p) + 1)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def fit_case(kind: str) -> dict[str, Any]:
    """Fit one fold of ``kind`` with the default config; time it."""
    _quiet()
    from training.models import ModelConfig, make_classifier
    from training.models.synthetic import synthetic_windows

    rows, lookback, features = _shape()
    X, y = synthetic_windows(rows, lookback, features, seed=0, signal=0.5)
    train, valid, test = _fold(rows)
    clf = make_classifier(kind, (lookback, features), ModelConfig())
    report = clf.fit(X[train], y[train], None, X[valid], y[valid])
    return {
        "case": "fit",
        "kind": kind,
        "train_rows": train.stop - train.start,
        "fit_s": round(report.seconds, 2),
        "epochs": report.iterations_run,
        "s_per_epoch": round(report.seconds / report.iterations_run, 3),
        "test_auc": round(_auc(y[test], clf.predict_proba(X[test])), 3),
    }


def tune_case(kind: str, trials: int) -> dict[str, Any]:
    """Run a keras-tuner search of ``trials`` trials on one fold; trials per minute."""
    _quiet()
    from training.models import ModelConfig
    from training.models.synthetic import synthetic_windows
    from training.tuning import TuningConfig, tune

    rows, lookback, features = _shape()
    X, y = synthetic_windows(rows, lookback, features, seed=0, signal=0.5)
    train, valid, _ = _fold(rows)
    with tempfile.TemporaryDirectory() as tmp:
        result = tune(
            kind,
            X[train],
            y[train],
            X[valid],
            y[valid],
            Path(tmp),
            ModelConfig(),
            TuningConfig(max_trials=trials),
        )
    return {
        "case": "tune",
        "kind": kind,
        "trials": result.trials,
        "tune_s": round(result.seconds, 1),
        "trials_per_min": round(60.0 * result.trials / result.seconds, 2),
    }


def _latency(fn: Any, x: Any, calls: int) -> tuple[float, float]:
    for _ in range(5):
        fn(x)
    lat = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn(x)
        lat[i] = time.perf_counter() - start
    p50, p99 = np.percentile(lat * 1e3, [50, 99])
    return round(float(p50), 3), round(float(p99), 3)


def _pyfunc(clf: Any, X: np.ndarray, folder: Path) -> Any:
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.create_experiment("bench", artifact_location=(folder / "artifacts").as_uri())
    mlflow.set_experiment("bench")
    import keras

    signature = infer_signature(X[:2], clf.predict_proba(X[:2]).reshape(-1, 1).astype("float32"))
    with mlflow.start_run():
        info = mlflow.keras.log_model(
            clf.model,
            name="model",
            signature=signature,
            registered_model_name="bench_model",
            pip_requirements=[f"keras=={keras.__version__}"],
        )
    return mlflow.pyfunc.load_model(f"models:/bench_model/{info.registered_model_version}")


def infer_case(kind: str, calls: int) -> dict[str, Any]:
    """Single-bar latency of every path on a model loaded from disk."""
    _quiet()
    from training.inference import SingleBarPredictor
    from training.models import ModelConfig, load_classifier, make_classifier
    from training.models.synthetic import synthetic_windows

    _, lookback, features = _shape()
    X, y = synthetic_windows(2_000, lookback, features, seed=1)
    row: dict[str, Any] = {"case": "infer", "kind": kind}
    with tempfile.TemporaryDirectory() as tmp:
        fitted = make_classifier(kind, (lookback, features), ModelConfig(epochs=1))
        fitted.fit(X, y)
        clf = load_classifier(fitted.save(Path(tmp) / "model"))
        window = X[7]
        for mode in ("predict_on_batch", "function"):
            if kind == "gbm" and mode == "function":
                continue
            predictor = SingleBarPredictor(clf, mode)
            label = "predictor" if kind == "gbm" else mode
            row[f"{label}_p50_ms"], row[f"{label}_p99_ms"] = _latency(
                predictor.predict, window, calls
            )
        one = X[7:8]
        if kind == "gbm":
            row["predict_proba_p50_ms"], row["predict_proba_p99_ms"] = _latency(
                clf.predict_proba, one, calls
            )
        else:
            row["model.predict_p50_ms"], row["model.predict_p99_ms"] = _latency(
                lambda x: clf.model.predict(x, verbose=0), one, max(calls // 10, 20)
            )
            pyfunc = _pyfunc(clf, X, Path(tmp))
            row["pyfunc_p50_ms"], row["pyfunc_p99_ms"] = _latency(pyfunc.predict, one, calls // 5)
    return row


def run() -> list[dict[str, Any]]:
    """Fit, tune and infer cases, each in its own interpreter."""
    trials = _env_int("SMARTMARKET_BENCH_TRAIN_TRIALS", 3)
    calls = _env_int("SMARTMARKET_BENCH_TRAIN_CALLS", 500)
    kinds = os.environ.get("SMARTMARKET_BENCH_TRAIN_KINDS", ",".join(KINDS)).split(",")
    rows = [run_case("bench.bench_training:fit_case", kind=kind) for kind in kinds]
    rows += [
        run_case("bench.bench_training:tune_case", kind=kind, trials=trials)
        for kind in ("mlp", "lstm")
        if kind in kinds
    ]
    rows += [run_case("bench.bench_training:infer_case", kind=k, calls=calls) for k in kinds]
    load = os.getloadavg()[0]
    for row in rows:
        row["load_1m"] = round(load, 1)
    return rows
