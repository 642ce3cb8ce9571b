"""The honest result on real data: BTC and ETH 5m, walk-forward on 2023-01..2024-06, holdout once.

``python -m bench.real_training [DATA] [--kind mlp]`` (DATA: ``../shared/data``). Builds the model
inputs the way the feature pipeline does (SMC of the trading timeframe without price levels,
plus the MTF columns of 5m..1d), labels every rule intent with the engine's R
(``training.meta_labels``), runs the purged walk-forward on the development period, then
evaluates the final model ONCE on 2024-07..2024-12, which nothing before has looked at. Writes
``bench/results/real_training.json``; the figures go into docs/models.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.candles.resample import resample_candles
from features.candles.schema import Timeframe
from features.model_inputs import model_input_columns
from features.mtf import compute_mtf
from features.smc import SMCConfig, compute_smc
from serving.backtest.data import load_candles
from training.bundle import load_bundle
from training.config import SplitConfig
from training.evaluate import evaluate
from training.pipeline import FoldResult, TrainConfig, prepare_market, train_and_evaluate
from training.splits import Fold

DEV = ("2023-01-01", "2024-07-01")
HOLDOUT = ("2024-07-01", "2025-01-01")
WARMUP_DAYS = 60
TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")
OUT = Path(__file__).parent / "results"


def model_inputs(candles: pd.DataFrame, trading: Timeframe) -> pd.DataFrame:
    """The model-input frame of every bar (event_timestamp = the candle's close)."""
    frames = {}
    for label in TIMEFRAMES:
        tf = Timeframe.parse(label)
        c = candles if tf == trading else resample_candles(candles, tf, base=trading)
        frames[label] = c.join(compute_smc(c, SMCConfig.for_timeframe(tf)))
    smc = frames[trading.label].drop(columns=["open", "high", "low", "close", "volume"])
    mtf = compute_mtf(frames, trading)
    names = model_input_columns(list(smc.columns), list(mtf.columns))
    joined = pd.concat([smc, mtf], axis=1)[list(names)].reset_index(drop=True)
    joined.insert(0, "event_timestamp", candles.index + trading.delta)
    return joined


def main() -> None:
    """Run the experiment and write its JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default="../shared/data")
    parser.add_argument("--kind", default="mlp")
    args = parser.parse_args()
    tf = Timeframe.parse("5m")
    config = TrainConfig(
        kind=args.kind,
        splits=SplitConfig(
            n_folds=5, min_train=2000, valid_fraction=0.2, embargo_bars=48, horizon_bars=48
        ),
    )
    t0 = time.perf_counter()
    dev, hold = {}, {}
    for symbol, file in (("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")):
        candles = load_candles(Path(args.data) / f"binance_{file}_5m.csv.gz", symbol, tf).candles
        start = pd.Timestamp(DEV[0], tz="UTC") - pd.Timedelta(days=WARMUP_DAYS)
        span = candles.loc[start : pd.Timestamp(HOLDOUT[1], tz="UTC")]
        inputs = model_inputs(span, tf)
        cut = int(span.index.searchsorted(pd.Timestamp(DEV[1], tz="UTC")))
        # The development market ends at 2024-07-01: no holdout bar is prepared or labelled.
        dev[symbol] = prepare_market(symbol, span.iloc[:cut], inputs.iloc[:cut], tf, config)
        hold[symbol] = prepare_market(symbol, span, inputs, tf, config)
        print(f"{symbol}: {len(span):,} bars prepared ({time.perf_counter() - t0:.0f} s)")
    out_dir = OUT / "real_training"
    result = train_and_evaluate(dev, tf, config, out_dir, progress=print)
    walk = evaluate(result, random_seeds=20)
    print(walk.folds.T.to_string())
    print(walk.summary.to_string())
    # The holdout, once: the final model (fitted on every development intent) on 2024-07..12.
    assert result.bundle is not None
    bundle = load_bundle(result.bundle)
    held = dataclasses.replace(result, markets=hold)
    intents = []
    for symbol, market in hold.items():
        from training.meta_labels import meta_labels

        labels = meta_labels(market.setup, config.meta).labels
        labels = labels[labels["decided_at"] >= pd.Timestamp(HOLDOUT[0], tz="UTC")]
        feats = market.features.assign(symbol=symbol)
        rows = feats.index[feats["event_timestamp"].isin(labels["decided_at"])].to_numpy()
        p = bundle.predict_frame(feats, rows, tf.ns)
        intents.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "decided_at": feats.loc[rows, "event_timestamp"].to_numpy(),
                    "p": p.to_numpy(),
                }
            ).merge(labels[["decided_at", "label", "r_multiple"]], on="decided_at", how="left")
        )
    predictions = pd.concat(intents, ignore_index=True).dropna(subset=["p"])
    y, q = predictions["label"].to_numpy(), predictions["p"].to_numpy()
    from sklearn.metrics import roc_auc_score

    fold = Fold(0, np.zeros(0, int), np.zeros(0, int), np.zeros(0, int),
                pd.Timestamp(DEV[0], tz="UTC"), None, pd.Timestamp(HOLDOUT[0], tz="UTC"),
                predictions["decided_at"].max(), 0)  # fmt: skip
    holdout = evaluate(
        dataclasses.replace(
            held,
            folds=[
                FoldResult(
                    fold,
                    bundle.meta.threshold,
                    bundle.meta.size_reference,
                    predictions,
                    {
                        "auc": float(roc_auc_score(y, q)),
                        "taken": float(np.sum(q >= bundle.meta.threshold)),
                    },
                )
            ],
        ),
        random_seeds=20,
    )
    print(holdout.folds.T.to_string())
    print(holdout.summary.to_string())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "real_training.json").write_text(
        json.dumps(
            {
                "kind": args.kind,
                "labels": result.label_summary,
                "folds": walk.folds.to_dict("records"),
                "walk_forward": walk.summary.to_dict("index"),
                "holdout_folds": holdout.folds.to_dict("records"),
                "holdout": holdout.summary.to_dict("index"),
                "seconds": time.perf_counter() - t0,
            },
            indent=2,
            default=str,
        )
    )
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
