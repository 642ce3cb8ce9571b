"""Online scoring benchmarks: per closed bar, features and the model, as the service runs them.

- ``features``: ``ModelInputStream.update`` (SMC of the 5m bar, HTF candles as they close, MTF
  recomputed on its look-back rows) with the settings' default timeframes (5m trading; 15m,
  1h, 4h, 1d above), per bar after a warm-up of ``SMARTMARKET_BENCH_ONLINE_WARM`` (2000) bars
  fed by ``advance``; then ``advance`` alone (the warm-up path).
- ``scorer`` (per kind): ``OnlineScorer.update``: the features plus the preprocessor, the window
  and the calibrated single-bar prediction; and the single-bar inference alone (preprocess one
  vector, predict one window, calibrate) on the same model.

The models are bundles of the ``mlp``, ``gbm`` and ``lstm`` kinds fitted for one epoch on
random labels of the real input columns (look-back 8): the latency does not depend on what
the weights learned. Each kind runs in its own interpreter; ``SMARTMARKET_BENCH_ONLINE_BARS``
(1000) bars are timed, one ``perf_counter`` pair per bar.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import run_case

KINDS = ("gbm", "mlp", "lstm")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _candles(bars: int) -> Any:
    from serving.backtest.main import synthetic_candles

    days = bars // 288 + 2
    return synthetic_candles("BTC/USDT", "5m", "2024-01-01", days, seed=3).iloc[:bars]


def _percentiles(times: list[float]) -> tuple[float, float, float]:
    ms = np.asarray(times) * 1e3
    return (
        round(float(np.percentile(ms, 50)), 3),
        round(float(np.percentile(ms, 99)), 3),
        round(float(ms.max()), 3),
    )


def _timed(step: Callable[[int], object], n: int) -> list[float]:
    times = []
    for k in range(n):
        start = time.perf_counter()
        step(k)
        times.append(time.perf_counter() - start)
    return times


def features_case(warm: int, bars: int) -> dict[str, Any]:
    """Per-bar cost of the model inputs of one closed 5m bar."""
    from features.candles.schema import OHLCV
    from features.layout import utc_ns
    from features.online import ModelInputStream
    from orchestration.settings import Settings

    settings = Settings()
    candles = _candles(warm + 2 * bars)
    ts, values = utc_ns(candles.index), candles[list(OHLCV)].to_numpy()
    stream = ModelInputStream(settings.trading_timeframe, settings.timeframes)
    for k in range(warm):
        stream.advance(int(ts[k]), values[k])
    update = _timed(lambda k: stream.update(int(ts[warm + k]), values[warm + k]), bars)
    base = warm + bars
    advance = _timed(lambda k: stream.advance(int(ts[base + k]), values[base + k]), bars)
    p50, p99, worst = _percentiles(update)
    a50, a99, _ = _percentiles(advance)
    return {
        "case": "features", "kind": "-", "columns": len(stream.columns),
        "update_p50_ms": p50, "update_p99_ms": p99, "update_max_ms": worst,
        "advance_p50_ms": a50, "advance_p99_ms": a99,
    }  # fmt: skip


def _bundle(kind: str, candles: Any) -> Any:
    """A bundle of ``kind`` over the real inputs, fitted for one epoch on random labels."""
    from features.candles.schema import Timeframe
    from features.model_inputs import model_input_frame
    from orchestration.settings import Settings
    from training.bundle import Bundle, BundleMeta
    from training.calibration import TemperatureCalibrator
    from training.config import DatasetConfig
    from training.datasets import Preprocessor, input_columns, sequence_windows
    from training.models import ModelConfig, make_classifier

    tf = Timeframe.parse("5m")
    frame = model_input_frame(candles, tf, Settings().timeframes)
    columns = input_columns(frame)
    config = DatasetConfig(lookback=8)
    pre = Preprocessor(columns, config).fit(frame)
    windows = sequence_windows(
        pre.transform(frame), np.zeros(len(frame)), frame["event_timestamp"],
        lookback=8, step_ns=tf.ns,
    )  # fmt: skip
    y = np.random.default_rng(0).integers(0, 2, len(windows.x))
    classifier = make_classifier(kind, windows.x.shape[1:], ModelConfig(epochs=1, gbm_max_iter=20))
    classifier.fit(windows.x, y)
    meta = BundleMeta(
        kind=kind, threshold=0.5, fingerprint=pre.fingerprint, columns=tuple(columns),
        dataset=config.as_dict(), timeframe=tf.label, symbols=("BTC/USDT",),
        train_start=str(candles.index[0]), train_end=str(candles.index[-1]),
        size_reference=0.5,
    )  # fmt: skip
    return Bundle(classifier, pre, TemperatureCalibrator(1.0), meta)


def scorer_case(kind: str, warm: int, bars: int) -> dict[str, Any]:
    """Per-bar cost of ``OnlineScorer.update`` and of single-bar inference alone."""
    from features.candles.schema import OHLCV
    from features.layout import utc_ns
    from orchestration.settings import Settings
    from training.online import OnlineModel

    candles = _candles(warm + bars)
    bundle = _bundle(kind, candles.iloc[:warm])
    model = OnlineModel(bundle, version="bench")
    scorer = model.scorer(Settings().timeframes)
    ts, values = utc_ns(candles.index), candles[list(OHLCV)].to_numpy()
    scorer.warm(ts[:warm], values[:warm])
    update = _timed(lambda k: scorer.update(int(ts[warm + k]), values[warm + k]), bars)
    vector = scorer.inputs.update  # one more bar's inputs, for the inference-only loop
    row = vector(int(ts[-1]) + 300_000_000_000, values[-1])
    window = np.repeat(bundle.preprocessor.transform_values(row[None]), 8, axis=0)

    def infer(_: int) -> float:
        bundle.preprocessor.transform_values(row[None])
        return model.predict(window)

    inference = _timed(infer, 2 * bars)
    p50, p99, worst = _percentiles(update)
    i50, i99, imax = _percentiles(inference)
    return {
        "case": "scorer", "kind": kind, "columns": len(bundle.meta.columns),
        "update_p50_ms": p50, "update_p99_ms": p99, "update_max_ms": worst,
        "inference_p50_ms": i50, "inference_p99_ms": i99, "inference_max_ms": imax,
    }  # fmt: skip


def run() -> list[dict[str, Any]]:
    """The features case and one scorer case per kind, each in its own interpreter."""
    warm = _env_int("SMARTMARKET_BENCH_ONLINE_WARM", 2000)
    bars = _env_int("SMARTMARKET_BENCH_ONLINE_BARS", 1000)
    kinds = os.environ.get("SMARTMARKET_BENCH_ONLINE_KINDS", ",".join(KINDS)).split(",")
    rows = [run_case("bench.bench_online:features_case", warm=warm, bars=bars)]
    rows += [
        run_case("bench.bench_online:scorer_case", kind=k, warm=warm, bars=bars) for k in kinds
    ]
    load = os.getloadavg()[0]
    for row in rows:
        row["load_1m"] = round(load, 1)
    return rows
