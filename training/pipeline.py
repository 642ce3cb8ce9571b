"""Train and evaluate the meta-label model: purged walk-forward, out of sample, through the engine.

The model's job is to say which of the rule's setups to take (``training.meta_labels``). For
each purged walk-forward fold (``training.splits``): fit the preprocessor and the classifier on
the training rows, stop early and calibrate on the inner validation rows, choose the probability
threshold on the validation rows (never the test rows), then predict the test rows. The test
predictions drive the same compiled engine for the trading comparison
(``training.evaluate``). Finally the model is refitted on every labelled intent and bundled.

Pure: DataFrames and frozen configs in, results out; no Dagster, MLflow or Feast here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from serving.backtest.fast import Prepared, prepare
from serving.engine.config import BacktestConfig
from training.bundle import BundleMeta, save_bundle
from training.calibration import TemperatureCalibrator, brier_score, fit_calibrator
from training.config import DatasetConfig, SplitConfig
from training.datasets import feature_fingerprint, fold_data, input_columns
from training.labels import uniqueness_weights
from training.meta_labels import MetaLabelConfig, meta_labels
from training.models import ModelConfig, make_classifier
from training.splits import Fold, purged_walk_forward
from training.tuning import TuningConfig

Progress = Callable[[str], None]
TARGET = "label"
WEIGHT = "weight"


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (recorded with the model).

    Attributes:
        kind: Model kind (``mlp``, ``lstm``, ``gru``, ``cnn_lstm``, ``transformer``, ``gbm``).
        model: Architecture and fitting.
        dataset: Encoding, scaling and the window length.
        splits: Purged walk-forward folds.
        meta: How intents are labelled.
        calibration: ``isotonic`` or ``temperature``.
        tuning: A keras-tuner search inside each training window (judged on its purged inner
            validation rows, never the test rows); ``None`` fits ``model`` as configured.
        min_valid_trades: Validation intents a threshold must keep (else the lowest threshold).
        setup_final_target: The setups the model chooses among: ``fixed`` targets (``final_r``)
            keep every intent whose stop the risk manager accepts; the rules' own
            ``liquidity`` targets refuse most intents for their reward:risk (docs/models.md).
        backtest: The engine's configuration of the rule strategy and of the evaluation.
    """

    kind: str = "mlp"
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig(lookback=8))
    splits: SplitConfig = field(
        default_factory=lambda: SplitConfig(
            n_folds=4, min_train=200, valid_fraction=0.25, embargo_bars=12, horizon_bars=12
        )
    )
    meta: MetaLabelConfig = field(default_factory=MetaLabelConfig)
    calibration: str = "isotonic"
    tuning: TuningConfig | None = None
    min_valid_trades: int = 10
    setup_final_target: str = "fixed"
    backtest: BacktestConfig = field(default_factory=BacktestConfig)

    def setup_config(self) -> BacktestConfig:
        """The engine configuration of the setups (the rule's, with the setup's targets)."""
        risk = dataclasses.replace(self.backtest.risk, final_target=self.setup_final_target)
        return dataclasses.replace(self.backtest, risk=risk)

    def describe(self) -> dict[str, Any]:
        """Flat parameters for the registry."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "calibration": self.calibration,
            "min_valid_trades": self.min_valid_trades,
            "setup_final_target": self.setup_final_target,
        }
        if self.tuning is not None:
            out["tuning.algorithm"] = self.tuning.algorithm
            out["tuning.max_trials"] = self.tuning.max_trials
        for name in ("model", "dataset", "splits", "meta"):
            for key, value in dataclasses.asdict(getattr(self, name)).items():
                out[f"{name}.{key}"] = value
        return out


@dataclass(frozen=True)
class Market:
    """One symbol's inputs: candles, the setups' and the rules' engine inputs, its features."""

    symbol: str
    candles: pd.DataFrame
    setup: Prepared
    rules: Prepared
    features: pd.DataFrame


@dataclass(frozen=True)
class FoldResult:
    """One fold's out-of-sample predictions and classification metrics."""

    fold: Fold
    threshold: float
    size_reference: float
    predictions: pd.DataFrame  # symbol, decided_at, p, label, r_multiple (test intents)
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrainingResult:
    """The walk-forward evaluation, the labelled intents and the final model's bundle."""

    config: TrainConfig
    markets: dict[str, Market]
    intents: pd.DataFrame
    folds: list[FoldResult]
    columns: tuple[str, ...]
    fingerprint: str
    label_summary: dict[str, Any]
    bundle: Path | None = None
    importance: pd.DataFrame | None = None  # permutation importance of the final model


def prepare_market(
    symbol: str,
    candles: pd.DataFrame,
    features: pd.DataFrame,
    timeframe: Timeframe,
    config: TrainConfig,
) -> Market:
    """Compute the engine's inputs of ``candles`` for the setups and for the rule strategy."""
    setup = prepare(candles, timeframe, config.setup_config(), symbol=symbol)
    rules = prepare(candles, timeframe, config.backtest, symbol=symbol)
    return Market(symbol, candles, setup, rules, features)


def label_intents(markets: Mapping[str, Market], config: TrainConfig) -> tuple[pd.DataFrame, dict]:
    """Return every labelled intent of every market (sorted by decision time) and counts."""
    frames, summary = [], {}
    for symbol, market in markets.items():
        labelled = meta_labels(market.setup, config.meta)
        summary[symbol] = labelled.summary()
        frame = labelled.labels.reset_index(drop=True)
        frame.insert(0, "symbol", symbol)
        tf = market.setup.timeframe.delta
        opened = (frame["decided_at"] - tf).to_numpy(dtype="datetime64[ns]")
        index = market.candles.index.to_numpy(dtype="datetime64[ns]")
        bar = np.asarray(np.searchsorted(index, opened), dtype=np.int64)
        end = bar + frame["bars_held"].to_numpy(dtype=np.int64)
        spans = uniqueness_weights(bar + 1, np.maximum(end, bar + 1), len(market.candles))
        frame[WEIGHT] = spans.weights
        frames.append(frame)
    intents = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(intents):
        intents = intents.sort_values(["decided_at", "symbol"], kind="stable").reset_index(
            drop=True
        )
    return intents, summary


def training_frame(
    markets: Mapping[str, Market], intents: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return every bar's feature row with the intents' targets, and each intent's row there."""
    frames = [m.features.assign(symbol=s) for s, m in markets.items()]
    frame = pd.concat(frames, ignore_index=True)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    keys = intents[["symbol", "decided_at"]].rename(columns={"decided_at": "event_timestamp"})
    keys = keys.assign(_intent=np.arange(len(intents)))
    merged = (
        frame.reset_index(drop=True).reset_index().merge(keys, on=["symbol", "event_timestamp"])
    )
    rows = np.full(len(intents), -1, dtype=np.int64)
    rows[merged["_intent"].to_numpy()] = merged["index"].to_numpy()
    if (rows < 0).any():
        k = int(np.argmax(rows < 0))
        raise ValueError(
            f"no feature row for the intent of {intents['symbol'].iloc[k]} at "
            f"{intents['decided_at'].iloc[k]}: the features must cover every labelled bar"
        )
    frame[TARGET] = np.nan
    frame[WEIGHT] = np.nan
    frame.loc[rows, TARGET] = intents[TARGET].to_numpy(dtype=np.float64)
    frame.loc[rows, WEIGHT] = intents[WEIGHT].to_numpy(dtype=np.float64)
    return frame, rows


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def choose_threshold(p: np.ndarray, r: np.ndarray, min_trades: int) -> float:
    """Return the probability threshold that maximizes the validation intents' total R."""
    best, best_total = 0.0, float(np.sum(r))
    for q in np.unique(np.quantile(p, np.linspace(0.0, 0.9, 19))):
        keep = p >= q
        if keep.sum() < min_trades:
            continue
        total = float(np.sum(r[keep]))
        if total > best_total:
            best, best_total = float(q), total
    return best


def _fit_fold(
    frame: pd.DataFrame,
    intents: pd.DataFrame,
    rows: np.ndarray,
    fold: Fold,
    columns: list[str],
    step_ns: int,
    config: TrainConfig,
    tuner_dir: Path | None = None,
    explain: list[pd.DataFrame] | None = None,
) -> tuple[Any, Any, Any, float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Fit one fold; return the model, preprocessor, calibrator, threshold, reference, test.

    With ``explain`` (a list), the permutation importance of the inputs on the validation
    windows (``training.importance``) is appended to it.
    """
    data = fold_data(
        frame, rows[fold.train], rows[fold.valid], rows[fold.test],
        columns=columns, target=TARGET, step_ns=step_ns, config=config.dataset, weight=WEIGHT,
    )  # fmt: skip
    shape = tuple(data.train.values.shape[1:])
    input_shape = (config.dataset.lookback, *shape)
    model = make_classifier(config.kind, input_shape, config.model)
    searchable = len(data.valid.rows) and len(np.unique(data.valid.y)) == 2
    if config.tuning is not None and tuner_dir is not None and searchable:
        from training.tuning import tune_fold_data

        model = tune_fold_data(config.kind, data, tuner_dir, config.model, config.tuning).classifier
    elif searchable:
        model.fit(data.train.x, data.train.y, data.train.w, data.valid.x, data.valid.y)
    else:
        model.fit(data.train.x, data.train.y, data.train.w)
    p_valid = model.predict_proba(data.valid.x) if len(data.valid.rows) else np.zeros(0)
    by_row = pd.Series(np.arange(len(intents)), index=rows)
    valid_intents = by_row.loc[data.valid.rows].to_numpy()

    class _Parts:
        valid = np.arange(len(p_valid))
        test = np.zeros(0, dtype=np.int64)

    if len(p_valid) >= 10 and len(np.unique(data.valid.y)) == 2:
        calibrator = fit_calibrator(config.calibration, p_valid, data.valid.y, _Parts())
    else:  # too few validation rows, or one class: leave the probabilities as they are
        calibrator = TemperatureCalibrator(1.0)
    q_valid = calibrator.transform(p_valid) if len(p_valid) else p_valid
    if explain is not None:
        from training.importance import permutation_importance

        names = list(data.preprocessor.output_names)
        explain.append(permutation_importance(model.predict_proba, data.valid.x, data.valid.y,
                                              names))  # fmt: skip
    r_valid = intents["r_multiple"].to_numpy()[valid_intents]
    threshold = choose_threshold(q_valid, r_valid, config.min_valid_trades) if len(q_valid) else 0.0
    reference = float(np.mean(q_valid)) if len(q_valid) else 0.5
    q_test = (
        calibrator.transform(model.predict_proba(data.test.x))
        if len(data.test.rows)
        else np.zeros(0)
    )
    test_intents = by_row.loc[data.test.rows].to_numpy()
    return (
        model,
        data.preprocessor,
        calibrator,
        threshold,
        reference,
        q_test,
        test_intents,
        data.test.y,
    )


def train_and_evaluate(
    markets: Mapping[str, Market],
    timeframe: Timeframe,
    config: TrainConfig,
    out_dir: Path,
    progress: Progress = _quiet,
) -> TrainingResult:
    """Walk forward over every labelled intent, then fit the final model into ``out_dir``."""
    intents, summary = label_intents(markets, config)
    total = sum(s["intents"] for s in summary.values())
    progress(f"{len(intents):,} labelled intents of {total:,} ({summary})")
    if len(intents) == 0:
        raise ValueError("no labelled intents: the rule strategy wanted no trade the engine took")
    if intents[TARGET].nunique() < 2:
        raise ValueError(
            f"all {len(intents):,} labelled intents have label {int(intents[TARGET].iloc[0])}: "
            "one class only, nothing to learn"
        )
    frame, rows = training_frame(markets, intents)
    columns = input_columns(frame)
    bad = [
        c for c in columns if np.isinf(frame[c].to_numpy(dtype=np.float64, na_value=np.nan)).any()
    ]
    if bad:
        raise ValueError(f"infinite feature values in column(s) {bad[:5]}")
    folds = purged_walk_forward(intents["decided_at"], intents["label_time"], config.splits)
    results = []
    for fold in folds:
        progress(
            f"fold {fold.index + 1}/{len(folds)}: train {len(fold.train):,}, valid "
            f"{len(fold.valid):,}, test {len(fold.test):,} intents from {fold.test_start}"
        )
        _, _, _, thr, ref, q, test_intents, y = _fit_fold(
            frame, intents, rows, fold, columns, timeframe.ns, config,
            out_dir / "tuner" / f"fold_{fold.index}",
        )  # fmt: skip
        test = intents.iloc[test_intents]
        predictions = pd.DataFrame(
            {
                "symbol": test["symbol"].to_numpy(),
                "decided_at": test["decided_at"].to_numpy(),
                "p": q,
                "label": y,
                "r_multiple": test["r_multiple"].to_numpy(),
            }
        )
        take = q >= thr
        metrics = {
            "auc": _auc(y, q),
            "log_loss": _log_loss(y, q),
            "brier": brier_score(y, q) if len(y) else float("nan"),
            "precision": float(np.mean(y[take])) if take.any() else float("nan"),
            "base_rate": float(np.mean(y)) if len(y) else float("nan"),
            "threshold": thr,
            "taken": float(np.sum(take)),
            "test_intents": float(len(y)),
        }
        results.append(FoldResult(fold, thr, ref, predictions, metrics))
    fingerprint = feature_fingerprint(columns, config.dataset)
    result = TrainingResult(
        config, dict(markets), intents, results, tuple(columns), fingerprint, summary
    )
    progress("final model on every labelled intent")
    bundle, importance = _final_bundle(result, frame, rows, timeframe, out_dir)
    return dataclasses.replace(result, bundle=bundle, importance=importance)


def _final_bundle(
    result: TrainingResult,
    frame: pd.DataFrame,
    rows: np.ndarray,
    timeframe: Timeframe,
    out_dir: Path,
) -> tuple[Path, pd.DataFrame]:
    """Refit on every labelled intent (the last validation share stops and calibrates).

    Returns the bundle and the permutation importance of its inputs on that validation share.
    """
    config, intents = result.config, result.intents
    n = len(intents)
    cut = int(n * (1.0 - config.splits.valid_fraction))
    label_end = intents["label_time"].iloc[:cut].max()
    train = np.flatnonzero(
        (np.arange(n) < cut) & (intents["label_time"] < intents["decided_at"].iloc[cut])
    )
    valid = np.arange(cut, n)
    fold = Fold(
        -1,
        train,
        valid,
        np.zeros(0, dtype=np.int64),
        intents["decided_at"].iloc[0],
        intents["decided_at"].iloc[cut],
        label_end,
        label_end,
        0,
    )
    explained: list[pd.DataFrame] = []
    model, pre, cal, thr, ref, _, _, _ = _fit_fold(
        frame, intents, rows, fold, list(result.columns), timeframe.ns, config,
        out_dir / "tuner" / "final", explained,
    )  # fmt: skip
    meta = BundleMeta(
        kind=config.kind,
        threshold=thr,
        fingerprint=result.fingerprint,
        columns=result.columns,
        dataset=config.dataset.as_dict(),
        timeframe=timeframe.label,
        symbols=tuple(sorted(result.markets)),
        train_start=str(intents["decided_at"].iloc[0]),
        train_end=str(intents["label_time"].max()),
        size_reference=ref,
        setup={"final_target": config.setup_final_target},
        labels=dataclasses.asdict(config.meta),
    )
    return save_bundle(out_dir / "bundle", model, pre, cal, meta), explained[0]
