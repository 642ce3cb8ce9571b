"""Training data: triple-barrier labels, uniqueness, purged splits, PBO and preprocessing.

Each case runs in a fresh interpreter (its peak memory is its own; ``warm_rss_mb`` is the peak
after the imports and a tiny warm-up call, before the data is built); timings are the best of 3
after a warm-up call:

- **labels**: ``triple_barrier`` on 1,000,000 synthetic 5m bars (``SMARTMARKET_BENCH_LABEL_BARS``),
  2-ATR stop / 2-ATR target, 12-bar vertical barrier; then ``uniqueness_weights`` on its
  labels. The first call's time (numba cache load, or compile when the cache is cold) is
  reported apart. Beside it a plain Python loop of the same rules on 20,000 bars
  (``SMARTMARKET_BENCH_LABEL_LOOP_BARS``), for the speed ratio;
- **splits**: ``purged_walk_forward`` (10 expanding folds, 20% purged validation) and
  ``combinatorial_purged_cv`` (6 groups, 2 test groups, 12-bar embargo) on 1,000,000 rows
  (2 symbols x 500,000 bars, ``SMARTMARKET_BENCH_SPLIT_ROWS``); PBO of 50 variants over 1,000
  periods with 16 partitions (12,870 combinations);
- **datasets**: ``Preprocessor.fit`` on 100,000 rows (``SMARTMARKET_BENCH_DATASET_ROWS``) of
  every model-input column of the schema (the SMC inputs, the MTF globals and the per-timeframe
  MTF columns of 15m/1h/4h/1d), then ``transform``; ``sequence_windows`` of 10,000 decision
  rows x 32 bars.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from bench.common import best_of, max_rss_mb, run_case, synthetic_candles

TF_NS = 300 * 10**9


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _atr(candles: pd.DataFrame, n: int = 14) -> np.ndarray:
    h, lo, c = (candles[k].to_numpy() for k in ("high", "low", "close"))
    prev = np.concatenate(([c[0]], c[:-1]))
    tr = np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))
    return pd.Series(tr).rolling(n).mean().to_numpy()


def _loop_labels(candles: pd.DataFrame, atr: np.ndarray, horizon: int, k: float) -> int:
    """The same barrier rules as a plain Python loop (long side, through-fill target)."""
    o, h, lo, c = (candles[x].to_numpy().tolist() for x in ("open", "high", "low", "close"))
    n, labelled = len(c), 0
    for t in range(n):
        if not atr[t] > 0:
            continue
        stop, target = c[t] - k * atr[t], c[t] + k * atr[t]
        for j in range(t + 1, min(t + horizon, n - 1) + 1):
            if o[j] <= stop or o[j] >= target or lo[j] <= stop or h[j] > target:
                labelled += 1
                break
            if j == t + horizon:
                labelled += 1
    return labelled


def labels_case(bars: int, loop_bars: int) -> dict[str, Any]:
    """Time triple_barrier and uniqueness_weights on ``bars`` synthetic 5m bars."""
    from training.config import BarrierConfig
    from training.labels import triple_barrier, uniqueness_weights

    config = BarrierConfig(horizon_bars=12, stop_atr=2.0, target_atr=2.0)
    tiny = synthetic_candles(100, "5min")
    start = time.perf_counter()
    triple_barrier(tiny, config, timeframe_ns=TF_NS, atr=_atr(tiny))
    first = time.perf_counter() - start
    warm = max_rss_mb()
    candles = synthetic_candles(bars, "5min", start="2023-01-01")
    atr = _atr(candles)
    labels = triple_barrier(candles, config, timeframe_ns=TF_NS, atr=atr)
    seconds = best_of(lambda: triple_barrier(candles, config, timeframe_ns=TF_NS, atr=atr), 3)
    start_bar = labels["decision_bar"].to_numpy() + 1
    end_bar = labels["exit_bar"].to_numpy()
    unique_seconds = best_of(lambda: uniqueness_weights(start_bar, end_bar, bars), 3)
    weights = uniqueness_weights(start_bar, end_bar, bars).weights
    small = candles.iloc[:loop_bars]
    loop_seconds = best_of(lambda: _loop_labels(small, atr[:loop_bars], 12, 2.0), 1)
    return {
        "bars": bars,
        "labels": len(labels),
        "seconds": seconds,
        "first_call_seconds": first,
        "uniqueness_seconds": unique_seconds,
        "mean_uniqueness": float(weights.mean()),
        "outcome_shares": {
            str(k): round(float(v), 3)
            for k, v in labels["outcome"].value_counts(normalize=True).items()
        },
        "warm_rss_mb": warm,
        "loop_bars": loop_bars,
        "loop_seconds": loop_seconds,
    }


def splits_case(rows: int) -> dict[str, Any]:
    """Time the walk-forward and CPCV splits of ``rows`` rows and one PBO estimate."""
    from training.config import SplitConfig
    from training.splits import (
        combinatorial_purged_cv,
        probability_of_backtest_overfitting,
        purged_walk_forward,
    )

    warm = max_rss_mb()
    rng = np.random.default_rng(0)
    per_symbol = rows // 2
    bars = np.tile(np.arange(per_symbol), 2)
    decision = pd.DatetimeIndex(pd.Timestamp("2023-01-01", tz="UTC") + bars * pd.Timedelta(TF_NS))
    label = decision + rng.integers(1, 13, bars.size) * pd.Timedelta(TF_NS)
    config = SplitConfig(n_folds=10, min_train=per_symbol // 3, embargo_bars=12, horizon_bars=12)
    wf = best_of(lambda: purged_walk_forward(decision, label, config), 3)
    folds = purged_walk_forward(decision, label, config)
    cpcv = best_of(
        lambda: combinatorial_purged_cv(
            decision, label, n_groups=6, n_test_groups=2, embargo_bars=12
        ),
        3,
    )
    performance = rng.normal(0.0, 0.01, (1_000, 50))
    pbo = best_of(lambda: probability_of_backtest_overfitting(performance, n_partitions=16), 3)
    return {
        "rows": int(bars.size),
        "walk_forward_seconds": wf,
        "folds": len(folds),
        "purged_per_fold": int(np.mean([f.purged for f in folds])),
        "cpcv_seconds": cpcv,
        "pbo_seconds": pbo,
        "warm_rss_mb": warm,
    }


def _input_names() -> list[str]:
    from features.mtf import compute
    from features.schema import is_model_input, smc_specs

    names = [s.name for s in smc_specs() if is_model_input(s)]
    names += [s.name for s in compute.GLOBAL_SPECS if is_model_input(s)]
    for prefix in ("m15", "h1", "h4", "d1"):
        names += [f"{prefix}_{s.name}" for s in compute.HTF_SPECS if is_model_input(s)]
    return names


def datasets_case(rows: int, windows: int, lookback: int) -> dict[str, Any]:
    """Time Preprocessor.fit/transform and sequence_windows on every model-input column."""
    from features.schema import Kind, spec_of
    from training.config import DatasetConfig
    from training.datasets import Preprocessor, sequence_windows

    names = _input_names()
    warm = max_rss_mb()
    rng = np.random.default_rng(0)
    data: dict[str, Any] = {
        "symbol": "BTC/USDT",
        "event_timestamp": pd.Timestamp("2023-01-01", tz="UTC")
        + np.arange(rows) * pd.Timedelta(TF_NS),
    }
    for name in names:
        spec = spec_of(name)
        if spec.codes:
            values = rng.choice(np.array(spec.codes, dtype=float), rows)
        elif spec.kind in (Kind.FLAG, Kind.DIRECTION):
            values = rng.integers(int(spec.lo or 0), 2, rows).astype(float)
        elif spec.kind in (Kind.COUNT, Kind.AGE):
            values = rng.integers(0, 300, rows).astype(float)
        else:
            values = rng.normal(0.0, 2.0, rows)
        if not spec.required:
            values[rng.random(rows) < 0.1] = np.nan
        data[name] = values
    frame = pd.DataFrame(data)
    pre = Preprocessor(names, DatasetConfig(lookback=lookback))
    fit = best_of(lambda: pre.fit(frame), 3)
    transform = best_of(lambda: pre.transform(frame), 3)
    matrix = pre.transform(frame)
    rows_wanted = np.arange(rows - windows, rows)
    times = frame["event_timestamp"]
    symbols = frame["symbol"].to_numpy()
    win = best_of(
        lambda: sequence_windows(
            matrix, symbols, times, lookback=lookback, step_ns=TF_NS, rows=rows_wanted
        ),
        3,
    )
    return {
        "rows": rows,
        "inputs": len(names),
        "outputs": int(matrix.shape[1]),
        "fit_seconds": fit,
        "transform_seconds": transform,
        "windows": windows,
        "lookback": lookback,
        "windows_seconds": win,
        "windows_mb": round(windows * lookback * matrix.shape[1] * 4 / 2**20, 1),
        "warm_rss_mb": warm,
    }


def run() -> list[dict[str, Any]]:
    """Run the three cases; return one row per measurement."""
    bars = _env_int("SMARTMARKET_BENCH_LABEL_BARS", 1_000_000)
    loop_bars = _env_int("SMARTMARKET_BENCH_LABEL_LOOP_BARS", 20_000)
    lab = run_case("bench.bench_labels:labels_case", bars=bars, loop_bars=loop_bars)
    spl = run_case(
        "bench.bench_labels:splits_case", rows=_env_int("SMARTMARKET_BENCH_SPLIT_ROWS", 1_000_000)
    )
    ds = run_case(
        "bench.bench_labels:datasets_case",
        rows=_env_int("SMARTMARKET_BENCH_DATASET_ROWS", 100_000),
        windows=10_000,
        lookback=32,
    )
    ours_rate = lab["bars"] / lab["seconds"]
    loop_rate = lab["loop_bars"] / lab["loop_seconds"]
    return [
        {
            "case": "triple_barrier (numba), 12-bar horizon",
            "n": lab["bars"],
            "seconds": round(lab["seconds"], 4),
            "per_s": round(ours_rate),
            "peak_rss_mb": lab["peak_rss_mb"],
            "warm_rss_mb": round(lab["warm_rss_mb"], 1),
            "note": f"first call {lab['first_call_seconds']:.2f} s; outcomes "
            f"{lab['outcome_shares']}; {lab['labels']} labels",
        },
        {
            "case": "same rules, plain Python loop",
            "n": lab["loop_bars"],
            "seconds": round(lab["loop_seconds"], 4),
            "per_s": round(loop_rate),
            "peak_rss_mb": None,
            "note": f"ours {ours_rate / loop_rate:.0f}x faster",
        },
        {
            "case": "uniqueness_weights",
            "n": lab["labels"],
            "seconds": round(lab["uniqueness_seconds"], 4),
            "per_s": round(lab["labels"] / lab["uniqueness_seconds"]),
            "peak_rss_mb": lab["peak_rss_mb"],
            "warm_rss_mb": round(lab["warm_rss_mb"], 1),
            "note": f"mean uniqueness {lab['mean_uniqueness']:.3f}",
        },
        {
            "case": "purged_walk_forward, 10 folds",
            "n": spl["rows"],
            "seconds": round(spl["walk_forward_seconds"], 4),
            "per_s": round(spl["rows"] / spl["walk_forward_seconds"]),
            "peak_rss_mb": spl["peak_rss_mb"],
            "warm_rss_mb": round(spl["warm_rss_mb"], 1),
            "note": f"{spl['purged_per_fold']} rows purged per fold",
        },
        {
            "case": "combinatorial_purged_cv, 6 groups / 2 (15 splits)",
            "n": spl["rows"],
            "seconds": round(spl["cpcv_seconds"], 4),
            "per_s": round(spl["rows"] / spl["cpcv_seconds"]),
            "peak_rss_mb": spl["peak_rss_mb"],
            "warm_rss_mb": round(spl["warm_rss_mb"], 1),
            "note": "",
        },
        {
            "case": "PBO (CSCV), 1000 x 50, S=16",
            "n": 12_870,
            "seconds": round(spl["pbo_seconds"], 4),
            "per_s": round(12_870 / spl["pbo_seconds"]),
            "peak_rss_mb": spl["peak_rss_mb"],
            "warm_rss_mb": round(spl["warm_rss_mb"], 1),
            "note": "n = partition combinations",
        },
        {
            "case": f"Preprocessor.fit, {ds['inputs']} inputs",
            "n": ds["rows"],
            "seconds": round(ds["fit_seconds"], 4),
            "per_s": round(ds["rows"] / ds["fit_seconds"]),
            "peak_rss_mb": ds["peak_rss_mb"],
            "warm_rss_mb": round(ds["warm_rss_mb"], 1),
            "note": f"{ds['outputs']} output columns",
        },
        {
            "case": "Preprocessor.transform",
            "n": ds["rows"],
            "seconds": round(ds["transform_seconds"], 4),
            "per_s": round(ds["rows"] / ds["transform_seconds"]),
            "peak_rss_mb": ds["peak_rss_mb"],
            "warm_rss_mb": round(ds["warm_rss_mb"], 1),
            "note": "float32",
        },
        {
            "case": f"sequence_windows, lookback {ds['lookback']}",
            "n": ds["windows"],
            "seconds": round(ds["windows_seconds"], 4),
            "per_s": round(ds["windows"] / ds["windows_seconds"]),
            "peak_rss_mb": ds["peak_rss_mb"],
            "warm_rss_mb": round(ds["warm_rss_mb"], 1),
            "note": f"{ds['windows_mb']} MiB of windows",
        },
    ]
