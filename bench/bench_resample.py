"""Resample 1,000,000 1m candles to 5m/15m/1h/4h/1d: ours (numpy reduceat) and pandas.

Both run in this process on the same frame; each time is the best of several runs. pandas is
``DataFrame.resample(rule, label="left", closed="left").agg(first/max/min/last/sum)`` per
target; it also emits the still-open last period and empty periods, which ours does not, so
the check compares the rows ours emits. ``SMARTMARKET_BENCH_RESAMPLE_ROWS`` overrides the row
count (default 1,000,000).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from bench.common import best_of, synthetic_candles
from features.candles.resample import resample_all

TARGETS: tuple[str, ...] = ("5m", "15m", "1h", "4h", "1d")
_PANDAS_RULES = {"5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h", "1d": "1D"}
_AGG: dict[Hashable, str] = {
    "open": "first",
    "high": "max",
    "low": "min",
    "close": "last",
    "volume": "sum",
}


def pandas_resample_all(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Resample with pandas to every target."""
    return {
        t: frame.resample(_PANDAS_RULES[t], label="left", closed="left").agg(_AGG) for t in TARGETS
    }


def max_difference(ours: dict[str, pd.DataFrame], theirs: dict[str, pd.DataFrame]) -> float:
    """Return the largest relative difference over the rows ours emits (0.0 = identical)."""
    worst = 0.0
    for target, frame in ours.items():
        ref = theirs[target].loc[frame.index]
        scale = np.maximum(np.abs(ref.to_numpy()), 1.0)
        worst = max(worst, float(np.max(np.abs(frame.to_numpy() - ref.to_numpy()) / scale)))
    return worst


def run() -> list[dict[str, Any]]:
    """Time both implementations; return one row each."""
    rows = int(os.environ.get("SMARTMARKET_BENCH_RESAMPLE_ROWS", "1000000"))
    frame = synthetic_candles(rows, "1min", start="2022-01-01 00:07")
    ours = resample_all(frame, "1m", TARGETS)
    theirs = pandas_resample_all(frame)
    ours_s = best_of(lambda: resample_all(frame, "1m", TARGETS), repeat=5)
    pandas_s = best_of(lambda: pandas_resample_all(frame), repeat=3)
    common = {"rows_in": rows, "targets": "/".join(TARGETS)}
    return [
        {
            "impl": "ours: resample_all (numpy reduceat)",
            **common,
            "rows_out": sum(len(f) for f in ours.values()),
            "wall_s": round(ours_s, 4),
            "rows_per_s": round(rows / ours_s),
            "speedup_vs_pandas": round(pandas_s / ours_s, 1),
            "max_rel_diff_vs_pandas": max_difference(ours, theirs),
        },
        {
            "impl": "peer: pandas resample().agg()",
            **common,
            "rows_out": sum(len(f) for f in theirs.values()),
            "wall_s": round(pandas_s, 4),
            "rows_per_s": round(rows / pandas_s),
            "speedup_vs_pandas": 1.0,
            "max_rel_diff_vs_pandas": 0.0,
        },
    ]
