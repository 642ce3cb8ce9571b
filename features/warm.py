"""Compile every features kernel once, saying what it does: ``python -m features.warm``.

The SMC engine and the MTF rolling windows are numba kernels cached on disk (``cache=True``).
On a new machine (or after their sources change) the first call compiles them, about a minute
during which nothing else is printed; :func:`warm` does it up front on a tiny synthetic input,
reporting each step, so ``make setup`` leaves a compiled cache and ``make run`` starts at once.
Later calls load the cache in about a second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

WARM_BARS = 600


def _tiny_candles(bars: int = WARM_BARS) -> pd.DataFrame:
    """Return ``bars`` deterministic 5m candles (a random walk; numpy only, no network)."""
    rng = np.random.default_rng(0)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, bars)))
    open_ = np.r_[100.0, close[:-1]]
    wick = np.abs(rng.normal(0.0, 0.001, (2, bars))) * close
    index = pd.date_range("2024-01-01", periods=bars, freq="5min", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.lognormal(3.0, 0.5, bars),
        },
        index=index,
    )


def warm(progress: Callable[[str], None] = print) -> float:
    """Compile (or load from numba's cache) every features kernel; return the seconds it took.

    ``progress`` receives one line before and after each step.
    """
    from features.candles.resample import resample_candles
    from features.candles.schema import Timeframe
    from features.mtf import compute_mtf
    from features.smc import SMCConfig, SMCStream, compute_smc, detect_zones

    start = time.perf_counter()
    candles = _tiny_candles()
    open_ns = pd.DatetimeIndex(candles.index).as_unit("ns").view("int64")
    hourly = resample_candles(candles, Timeframe.parse("1h"), base=Timeframe.parse("5m"))

    def mtf() -> None:
        frames = {
            "5m": candles.join(compute_smc(candles, SMCConfig.for_timeframe("5m"))),
            "1h": hourly.join(compute_smc(hourly, SMCConfig.for_timeframe("1h"))),
        }
        compute_mtf(frames, "5m")

    def stream() -> None:
        s = SMCStream()
        values = candles.to_numpy()
        for k, t in enumerate(open_ns[:50]):
            s.update_array(int(t), values[k])
        s.update_frame(candles.iloc[50:60])

    steps: tuple[tuple[str, Callable[[], object]], ...] = (
        ("SMC engine, batch (compute_smc)", lambda: compute_smc(candles)),
        ("SMC engine, one bar at a time (SMCStream)", stream),
        ("SMC zone records (detect_zones)", lambda: detect_zones(candles)),
        ("MTF rolling windows (compute_mtf)", mtf),
    )
    progress(
        "warming the numba cache of the features kernels (a first run compiles them: "
        "about a minute; later runs load them)"
    )
    for label, step in steps:
        progress(f"  {label} ...")
        began = time.perf_counter()
        step()
        progress(f"  {label}: {time.perf_counter() - began:.1f} s")
    total = time.perf_counter() - start
    progress(f"features kernels ready in {total:.1f} s")
    return total


def main() -> int:
    """Warm the cache, printing progress to stderr."""
    warm(lambda line: print(line, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
