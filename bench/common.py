"""Shared benchmark helpers: synthetic candles, timing, per-case subprocesses, tables, results.

Peak memory is measured per case in its own subprocess: the child reports its own
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the high-water RSS of that process, the same
number the parent would get from ``RUSAGE_CHILDREN`` for a single child) both after its imports
(``base_rss_mb``) and at the end (``peak_rss_mb``).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


def synthetic_candles(
    n: int, timeframe: str = "1min", start: str = "2020-01-01", seed: int = 0
) -> pd.DataFrame:
    """Return ``n`` canonical candles (a log random walk with consistent OHLC), fast."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=timeframe, tz="UTC", name="ts")
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, n)))
    open_ = np.concatenate(([30_000.0], close[:-1]))
    spread = close * rng.uniform(0.0, 1e-3, n)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.lognormal(2.0, 1.0, n),
        },
        index=index,
    )


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Return the best wall time in seconds of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def max_rss_mb() -> float:
    """Return this process's peak resident set size so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def run_case(target: str, **kwargs: Any) -> dict[str, Any]:
    """Run ``module:function(**kwargs)`` in a fresh interpreter; return its dict and memory.

    The function must return a JSON-serializable dict. ``kwargs`` must be JSON-serializable.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bench.common", target, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench case {target} failed (exit {proc.returncode}):\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _child(target: str, kwargs_json: str) -> None:
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    base = max_rss_mb()
    result = dict(func(**json.loads(kwargs_json)))
    result["base_rss_mb"] = round(base, 1)
    result["peak_rss_mb"] = round(max_rss_mb(), 1)
    print(json.dumps(result))


def machine() -> dict[str, Any]:
    """Describe where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def write_results(name: str, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``bench/results/<name>.json`` with the rows and the machine; return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "measured_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "machine": machine(),
        "rows": list(rows),
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render rows as a plain-text table (columns in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    numeric = [all(isinstance(row.get(c), int | float | None) for row in rows) for c in columns]
    for r in cells:
        parts = zip(r, widths, numeric, strict=True)
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in parts))
    return "\n".join(lines)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
