"""A tiny real model trained in seconds on model inputs of the feature path, for online tests.

``train_tiny`` trains the gbm baseline walk-forward on :func:`model_input_frame` features of
synthetic 5m candles (the settings' default timeframes), so its bundle's ``meta.columns`` are the
names the online stream produces; ``register_tiny`` logs it in an MLflow registry under a folder
and makes it the champion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from features.model_inputs import model_input_frame
from serving.backtest.main import synthetic_candles
from training.config import SplitConfig
from training.models import ModelConfig
from training.pipeline import TrainConfig, prepare_market, train_and_evaluate

TF = Timeframe.parse("5m")
TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")
SYMBOL = "BTC/USDT"
TRAIN_START, TRAIN_DAYS = "2024-01-01", 14
CONFIG = TrainConfig(
    kind="gbm",
    model=ModelConfig(gbm_max_iter=20),
    splits=SplitConfig(n_folds=2, min_train=100, valid_fraction=0.25, embargo_bars=12,
                       horizon_bars=12),
)  # fmt: skip


def train_tiny(folder: Path, threshold: float | None = None) -> Path:
    """Train the tiny model; return its bundle folder (``threshold`` overrides the fitted one)."""
    candles = synthetic_candles(SYMBOL, TF.label, TRAIN_START, TRAIN_DAYS, seed=7)
    features = model_input_frame(candles, TF, TIMEFRAMES)
    market = prepare_market(SYMBOL, candles, features, TF, CONFIG)
    bundle = train_and_evaluate({SYMBOL: market}, TF, CONFIG, folder).bundle
    assert bundle is not None
    if threshold is not None:
        import json

        meta = json.loads((bundle / "meta.json").read_text())
        meta["threshold"] = threshold
        (bundle / "meta.json").write_text(json.dumps(meta))
    return bundle


def after_training(days: int, seed: int = 8) -> pd.DataFrame:
    """Synthetic candles of the days right after the training span."""
    start = pd.Timestamp(TRAIN_START) + pd.Timedelta(days=TRAIN_DAYS)
    return synthetic_candles(SYMBOL, TF.label, str(start.date()), days, seed=seed)


def register_tiny(home: Path, bundle: Path) -> str:
    """Register ``bundle`` under ``home`` and make it the champion; return its version."""
    from training.bundle import load_bundle
    from training.promotion import Decision, Evidence
    from training.registry import RegistryConfig, log_training, record_decision

    config = RegistryConfig.local(home)
    loaded = load_bundle(bundle)
    example = np.zeros((2, loaded.meta.lookback, len(loaded.preprocessor.output_names)), "f4")
    artifacts = home / "evaluation"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "folds.csv").write_text("fold,auc\n0,0.5\n")
    logged = log_training(
        config,
        experiment="tiny",
        params={"kind": loaded.meta.kind},
        metrics={"auc": 0.5},
        fold_metrics=[{"auc": 0.5}],
        tags={"fingerprint": loaded.meta.fingerprint},
        evidence=Evidence(sharpe=1.0, total_return=0.01, calmar=1.0, n_trades=10,
                          deflated_sharpe=0.5),
        artifacts=artifacts,
        bundle=bundle,
        example=example,
    )  # fmt: skip
    record_decision(config, logged.version, Decision(True, "tiny test model"))
    return logged.version
