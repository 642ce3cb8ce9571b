"""The SMC engine against the ``smartmoneyconcepts`` package, side by side in one run.

On 100,000 real BTC/USDT 5m candles from ``$SMARTMARKET_DATA_DIR`` (default ``../shared/data``;
synthetic candles when the folder is absent):

- ``compute_smc`` (the full feature set): median of several runs after warm-up; the one-time
  compile (empty numba cache) and the cache load are measured separately, each in a fresh
  interpreter; the first full-size call of a process against the later ones (fresh output
  pages), in a fresh interpreter;
- the reference package's full set on the same candles (all 8 indicators, its sessions for each
  of its 8 named windows, previous high/low for day and week), and the speed ratio;
- ``SMCStream.update``: median / p99 / max latency per bar;
- batch peak memory: the growth of the resident set (``VmHWM`` after resetting it through
  ``/proc/self/clear_refs``; ``ru_maxrss`` elsewhere) during one ``compute_smc`` call, in a
  subprocess, against the input frame's size; the output's bytes per storage dtype;
- agreement with the reference where definitions coincide: FVG with minimum size 0 (the
  reference stamps the middle candle, we the confirming third: shifted by one bar);
- replay (prefix invariance) on growing prefixes of real data: rows each implementation rewrote
  and how far back.

Environment: ``SMARTMARKET_BENCH_SMC_BARS`` (100000), ``SMARTMARKET_BENCH_SMC_REPLAY_BARS``
(10000), ``SMARTMARKET_BENCH_SMC_REPLAY_STEP`` (500), ``SMARTMARKET_BENCH_SMC_STREAM_BARS``
(20000).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import REPO_ROOT, run_case, synthetic_candles

DATA_ENV = "SMARTMARKET_DATA_DIR"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
REFERENCE_SWING_LENGTH = 50  # the package's default
REFERENCE_LEVEL_TIMEFRAMES = ("1D", "1W")
CHUNK_BARS = 5_000  # the bounded-memory batch path's chunk
REFERENCE_SESSIONS = (  # every named window of the package's ``sessions``
    "Sydney",
    "Tokyo",
    "London",
    "New York",
    "Asian kill zone",
    "London open kill zone",
    "New York kill zone",
    "london close kill zone",
)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def data_dir() -> Path | None:
    """Return the real-data folder, or ``None`` when it is absent."""
    path = Path(os.environ.get(DATA_ENV, str(DEFAULT_DATA_DIR)))
    return path if path.is_dir() else None


def load_candles(symbol: str, bars: int) -> tuple[pd.DataFrame, str]:
    """Return the first ``bars`` 5m candles of ``symbol`` and where they came from."""
    folder = data_dir()
    path = folder / f"binance_{symbol}_5m.csv.gz" if folder else None
    if path is None or not path.exists():
        seed = SYMBOLS.index(symbol) if symbol in SYMBOLS else 0
        return synthetic_candles(bars, "5min", start="2023-01-01", seed=seed), "synthetic"
    frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp", nrows=bars)
    frame.index = pd.DatetimeIndex(frame.index, name="ts").tz_convert("UTC")
    frame = frame[["open", "high", "low", "close", "volume"]].astype("float64")
    return frame, f"{path.name} (first {len(frame):,} rows)"


def _reference() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner on import
        from smartmoneyconcepts import smc
    return smc


def reference_full_set(candles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Run the reference package's full set; return its frames by name.

    All 8 indicators; ``sessions`` (one window per call) for each of its 8 named sessions and
    kill zones, and ``previous_high_low`` for the day and the week: the windows and levels
    ``compute_smc`` also gives (its 4 sessions and 5 kill zones, PDH/PDL and PWH/PWL, in one
    pass).
    """
    smc = _reference()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shl = smc.swing_highs_lows(candles, swing_length=REFERENCE_SWING_LENGTH)
        frames = {
            "fvg": smc.fvg(candles),
            "swing_highs_lows": shl,
            "bos_choch": smc.bos_choch(candles, shl),
            "ob": smc.ob(candles, shl),
            "liquidity": smc.liquidity(candles, shl),
            "retracements": smc.retracements(candles, shl),
        }
        for timeframe in REFERENCE_LEVEL_TIMEFRAMES:
            frames[f"previous_high_low {timeframe}"] = smc.previous_high_low(candles, timeframe)
        for session in REFERENCE_SESSIONS:
            frames[f"sessions {session}"] = smc.sessions(candles.copy(), session)
        return frames


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def first_call_case(bars: int) -> dict[str, Any]:
    """In a fresh interpreter: time the imports and the first batch and stream calls."""
    import_s, smc_api = _timed(lambda: __import__("features.smc", fromlist=["compute_smc"]))
    candles = synthetic_candles(bars, "5min", start="2024-01-01")
    batch_s, _ = _timed(lambda: smc_api.compute_smc(candles))
    stream = smc_api.SMCStream()
    bar = {"timestamp": candles.index[0], **candles.iloc[0].to_dict()}
    stream_s, _ = _timed(lambda: stream.update(bar))
    return {"import_s": import_s, "first_batch_s": batch_s, "first_update_s": stream_s}


def _first_calls(cache_dir: str) -> dict[str, Any]:
    saved = os.environ.get("NUMBA_CACHE_DIR")
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    try:
        return run_case("bench.bench_smc:first_call_case", bars=2_000)
    finally:
        if saved is None:
            os.environ.pop("NUMBA_CACHE_DIR", None)
        else:
            os.environ["NUMBA_CACHE_DIR"] = saved


def first_vs_warm_case(bars: int) -> dict[str, Any]:
    """In a fresh interpreter, kernels loaded: the first full-size call against later ones.

    The first ``compute_smc`` on ``bars`` real candles pays for faulting in its fresh output
    pages; later calls reuse freed memory. A 2,000-bar call first loads the compiled kernel.
    """
    from features.smc import compute_smc

    candles, _ = load_candles("BTCUSDT", bars)
    compute_smc(candles.iloc[:2_000])
    cpu = time.process_time()
    first_s, out = _timed(lambda: compute_smc(candles))
    first_cpu = time.process_time() - cpu
    del out
    warm, warm_cpu = [], []
    for _ in range(7):
        cpu = time.process_time()
        seconds, out = _timed(lambda: compute_smc(candles))
        warm_cpu.append(time.process_time() - cpu)
        del out
        warm.append(seconds)
    return {
        "first_s": first_s,
        "warm_s": float(np.median(warm)),
        "first_cpu_s": first_cpu,
        "warm_cpu_s": float(np.median(warm_cpu)),
    }


def _proc_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_case(bars: int) -> dict[str, Any]:
    """In a fresh interpreter: the resident-set growth of one ``compute_smc`` call."""
    from features.smc import compute_smc

    candles, _ = load_candles("BTCUSDT", bars)
    compute_smc(candles.iloc[:2_000])  # compiled code loaded, numba initialised
    gc.collect()
    method = "VmHWM after clear_refs"
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set size
        base = _proc_kib("VmRSS")
    except OSError:
        base = None
    if base is None:
        import resource

        method = "ru_maxrss"
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = compute_smc(candles)
    del out
    gc.collect()
    tracemalloc.start()
    out = compute_smc(candles)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if method == "ru_maxrss":
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        peak = _proc_kib("VmHWM") or 0
    output_bytes = int(out.memory_usage(deep=True).sum())
    by_dtype: dict[str, list[int]] = {}
    for column in out.columns:
        entry = by_dtype.setdefault(str(out[column].dtype), [0, 0])
        entry[0] += 1
        entry[1] += int(out[column].nbytes)
    del out
    chunk = CHUNK_BARS
    chunked_s = min(_timed(lambda: _chunked(candles, chunk))[0] for _ in range(3))
    tracemalloc.start()
    _chunked(candles, chunk)
    chunked_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "method": method,
        "input_bytes": int(candles.memory_usage(deep=True).sum()),
        "output_bytes": output_bytes,
        "output_by_dtype": by_dtype,
        "peak_growth_bytes": (peak - base) * 1024,
        "tracemalloc_peak_bytes": int(traced_peak),
        "chunk_bars": chunk,
        "chunked_s": chunked_s,
        "chunked_peak_bytes": int(chunked_peak),
    }


def _chunked(candles: pd.DataFrame, chunk: int) -> None:
    """The bounded-memory batch path: ``iter_smc``, each chunk's rows dropped after use."""
    from features.smc import iter_smc

    for rows in iter_smc(candles, chunk_bars=chunk):
        del rows  # a real caller writes them out


def stream_latency(candles: pd.DataFrame, warm: int, bars: int) -> np.ndarray:
    """Return the latency in seconds of ``SMCStream.update`` for ``bars`` bars after ``warm``."""
    from features.smc import SMCStream

    stream = SMCStream()
    records = candles.iloc[: warm + bars]
    rows = [
        {"timestamp": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for ts, o, h, lo, c, v in zip(
            records.index, *(records[k].to_numpy() for k in records.columns), strict=True
        )
    ]
    for bar in rows[:warm]:
        stream.update(bar)
    times = np.empty(bars)
    clock = time.perf_counter_ns
    for k, bar in enumerate(rows[warm:]):
        start = clock()
        stream.update(bar)
        times[k] = clock() - start
    return times / 1e9


def fvg_agreement(candles: pd.DataFrame, reference_fvg: pd.DataFrame) -> dict[str, Any]:
    """Compare FVG events (size 0) with the reference's, shifted to the confirming bar."""
    from features.smc import SMCConfig, compute_smc
    from features.smc.fvg import FVGConfig

    cfg = SMCConfig(fvg=FVGConfig(min_size=0.0, size_unit="bps"))
    ours = compute_smc(candles, cfg)
    mine = np.nan_to_num(ours["fvg_bull_new"].to_numpy()) - np.nan_to_num(
        ours["fvg_bear_new"].to_numpy()
    )
    theirs = np.r_[0.0, np.nan_to_num(reference_fvg["FVG"].to_numpy())[:-1]]
    both = int(np.sum((mine != 0) & (mine == theirs)))
    n_mine, n_theirs = int(np.sum(mine != 0)), int(np.sum(theirs != 0))
    union = n_mine + n_theirs - both
    return {
        "ours": n_mine,
        "reference": n_theirs,
        "same_bar_and_direction": both,
        "jaccard": both / union if union else 1.0,
        "share_of_bars": n_theirs / len(candles),
    }


def _as_arrays(frames: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v.to_numpy(dtype=np.float64)) for k, v in frames.items()}


def replay(
    fn: Callable[[pd.DataFrame], dict[str, pd.DataFrame]], candles: pd.DataFrame, step: int
) -> dict[str, dict[str, int]]:
    """Compare ``fn`` on growing prefixes with ``fn`` on all of ``candles``.

    Returns, per output, the most rows one prefix rewrote, the farthest rewrite back from that
    prefix's last bar, and how many prefixes rewrote anything.
    """
    full = _as_arrays(fn(candles))
    stats = {k: {"max_rows": 0, "max_bars_back": 0, "prefixes": 0} for k in full}
    for cut in range(step, len(candles), step):
        part = _as_arrays(fn(candles.iloc[:cut]))
        for name, values in part.items():
            ref = full[name][:cut]
            same = (values == ref) | (np.isnan(values) & np.isnan(ref))
            rows = np.flatnonzero(~same.all(axis=1))
            if rows.size:
                entry = stats[name]
                entry["max_rows"] = max(entry["max_rows"], int(rows.size))
                entry["max_bars_back"] = max(entry["max_bars_back"], int(cut - 1 - rows[0]))
                entry["prefixes"] += 1
    return stats


def _ours_frames(candles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    from features.smc import compute_smc

    return {"compute_smc": compute_smc(candles)}


def _row(metric: str, value: Any, unit: str = "", note: str = "") -> dict[str, Any]:
    return {"metric": metric, "value": value, "unit": unit, "note": note}


def run() -> list[dict[str, Any]]:
    """Run every measurement; return one row per number."""
    from features.smc import compute_smc, crt, patterns, sessions
    from features.smc import context as ctx_module

    bars = _env_int("SMARTMARKET_BENCH_SMC_BARS", 100_000)
    candles, source = load_candles("BTCUSDT", bars)
    rows = [_row("data", len(candles), "bars", source)]

    with tempfile.TemporaryDirectory(prefix="smc-numba-cache-") as cache:
        cold = _first_calls(cache)
        warm = _first_calls(cache)
    rows += [
        _row("first compute_smc, empty numba cache", cold["first_batch_s"], "s", "compile"),
        _row("first SMCStream.update, empty cache", cold["first_update_s"], "s", "compile"),
        _row("first compute_smc, warm numba cache", warm["first_batch_s"], "s", "cache load"),
        _row("first SMCStream.update, warm cache", warm["first_update_s"], "s", "cache load"),
        _row("import features.smc", warm["import_s"], "s"),
    ]

    first = run_case("bench.bench_smc:first_vs_warm_case", bars=len(candles))
    rows += [
        _row("first full-size compute_smc in a process", first["first_s"], "s", "kernel loaded"),
        _row(
            "first / warm call",
            first["first_s"] / first["warm_s"],
            "x",
            f"warm median {first['warm_s']:.3f} s, same process; target <= 1.5x",
        ),
        _row(
            "first / warm call, CPU time",
            first["first_cpu_s"] / first["warm_cpu_s"],
            "x",
            f"first {first['first_cpu_s']:.3f} s, warm median {first['warm_cpu_s']:.3f} s",
        ),
    ]

    compute_smc(candles.iloc[:5_000])
    runs = []
    for _ in range(7):
        seconds, ours = _timed(lambda: compute_smc(candles))
        runs.append(seconds)
    ours_s = float(np.median(runs))
    rows.append(
        _row("compute_smc", ours_s, "s", f"median of 7 (min {min(runs):.3f}), {ours.shape[1]} cols")
    )
    alone: tuple[tuple[str, Callable[[pd.DataFrame], Any]], ...] = (
        ("sessions", lambda f: sessions.compute(f)),
        ("crt", lambda f: crt.compute(f)),
        ("patterns", lambda f: patterns.compute(f)),
        ("context", lambda f: ctx_module.compute(f)),
    )
    for name, compute in alone:
        compute(candles.iloc[:1_000])
        best = min(_timed(lambda c=compute: c(candles))[0] for _ in range(5))  # type: ignore[misc]
        rows.append(_row(f"{name} module alone", best, "s", "best of 5, standalone compute"))

    ref_s, reference = _timed(lambda: reference_full_set(candles))
    ref_cols = sum(frame.shape[1] for frame in reference.values())
    rows += [
        _row(
            "smartmoneyconcepts full set",
            ref_s,
            "s",
            f"8 indicators ({len(REFERENCE_SESSIONS)} session windows, "
            f"{len(REFERENCE_LEVEL_TIMEFRAMES)} level timeframes), {ref_cols} cols, 1 run",
        ),
        _row("speed ratio", ref_s / ours_s, "x", "reference time / compute_smc median"),
    ]

    latency = stream_latency(
        candles, warm=2_000, bars=_env_int("SMARTMARKET_BENCH_SMC_STREAM_BARS", 20_000)
    )
    rows += [
        _row("SMCStream.update median", float(np.median(latency)) * 1e6, "us"),
        _row("SMCStream.update p99", float(np.percentile(latency, 99)) * 1e6, "us"),
        _row("SMCStream.update max", float(latency.max()) * 1e6, "us"),
    ]

    mem = run_case("bench.bench_smc:memory_case", bars=len(candles))
    working = mem["tracemalloc_peak_bytes"] - mem["output_bytes"]
    rows += [
        _row("input frame", mem["input_bytes"] / 2**20, "MiB"),
        _row(
            "output frame",
            mem["output_bytes"] / 2**20,
            "MiB",
            f"{mem['output_bytes'] / mem['input_bytes']:.1f}x the input",
        ),
        *(
            _row(
                f"output {dtype} columns",
                nbytes / 2**20,
                "MiB",
                f"{cols} cols, {nbytes / mem['input_bytes']:.1f}x the input",
            )
            for dtype, (cols, nbytes) in sorted(mem["output_by_dtype"].items())
        ),
        _row(
            "peak RSS growth, compute_smc", mem["peak_growth_bytes"] / 2**20, "MiB", mem["method"]
        ),
        _row("peak growth / input", mem["peak_growth_bytes"] / mem["input_bytes"], "x"),
        _row(
            "tracemalloc peak, compute_smc",
            mem["tracemalloc_peak_bytes"] / 2**20,
            "MiB",
            "every allocation of the call (the kernel allocates nothing itself)",
        ),
        _row(
            "working memory beyond the output", working / 2**20, "MiB", "tracemalloc peak - output"
        ),
        _row("working memory / input", working / mem["input_bytes"], "x", "target <= 3x"),
        _row(
            f"chunked batch, {mem['chunk_bars']:,}-bar chunks",
            mem["chunked_s"],
            "s",
            "iter_smc (SMCStream.update_frame per chunk), best of 3; same rows as compute_smc",
        ),
        _row(
            "chunked batch peak / input",
            mem["chunked_peak_bytes"] / mem["input_bytes"],
            "x",
            f"tracemalloc peak {mem['chunked_peak_bytes'] / 2**20:.1f} MiB, chunk rows included",
        ),
    ]

    for symbol in SYMBOLS:
        frame = candles if symbol == "BTCUSDT" else load_candles(symbol, bars)[0]
        ref_fvg = reference["fvg"] if symbol == "BTCUSDT" else _reference().fvg(frame)
        agree = fvg_agreement(frame, ref_fvg)
        rows.append(
            _row(
                f"FVG agreement {symbol}",
                100.0 * agree["jaccard"],
                "%",
                f"{agree['same_bar_and_direction']:,} same bar+direction; ours {agree['ours']:,}, "
                f"reference {agree['reference']:,} ({100 * agree['share_of_bars']:.1f}% of bars)",
            )
        )

    replay_bars = _env_int("SMARTMARKET_BENCH_SMC_REPLAY_BARS", 10_000)
    step = _env_int("SMARTMARKET_BENCH_SMC_REPLAY_STEP", 500)
    window = candles.iloc[:replay_bars]
    for who, fn in (("reference", reference_full_set), ("ours", _ours_frames)):
        stats = replay(fn, window, step)
        for name, entry in stats.items():
            rows.append(
                _row(
                    f"replay {who}: {name}",
                    entry["max_rows"],
                    "rows",
                    f"up to {entry['max_bars_back']:,} bars back; {entry['prefixes']} of "
                    f"{len(range(step, len(window), step))} prefixes rewrote rows",
                )
            )
    return rows


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(run()))
    sys.exit(0)
