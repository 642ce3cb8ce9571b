"""The backtest engine against backtesting.py, side by side on the same bars and strategy.

On 1,000,000 synthetic 5m bars (``SMARTMARKET_BENCH_BT_BARS``), each case in a fresh
interpreter so that its peak memory is its own:

- **engine, full risk management**: an SMA(10/30) crossover with 2-ATR stops through the whole
  state machine (1% risk sizing with volatility scaling, 1R/2R/3R take-profit ladder,
  breakeven, exposure and leverage caps, all four protections, fees, slippage, funding), the
  signal rows precomputed; bars per second of ``simulate`` (best of 3 after a warm-up run),
  and the same including the vectorized signal computation; then a "busy" variant without
  costs and protections, whose account survives the random walk and trades as often as the
  peer does;
- **backtesting.py 0.6.6**: the same crossover with the same 2-ATR stop and a 3R target on the
  same bars (``SMARTMARKET_BENCH_BT_PEER_BARS``, default all of them); bars per second of
  ``Backtest.run``;
- **smc_confluence, whole pipeline**: features (``features.frames``: the bars' SMC columns,
  the 1h candles' SMC and bias), signals and the engine, on 210k real BTC/USDT 5m candles
  when ``$SMARTMARKET_DATA_DIR`` (default ``../shared/data``) has them, else synthetic; best
  of ``SMARTMARKET_BENCH_BT_PIPELINE_RUNS`` (default 3) fresh interpreters. With
  ``SMARTMARKET_BENCH_BASELINE`` set to a checkout of another version (e.g. ``git archive
  <commit> | tar -x -C /tmp/base``), the same case runs from there too, alternating with this
  tree's runs, so both figures come from the same run under the same load.

``SMARTMARKET_BENCH_BT_CASES`` (comma-separated, default ``engine,pipeline``) picks the cases:
``engine`` (the engine cases and the peer), ``pipeline`` (the whole pipeline, alone e.g.).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bench.common import REPO_ROOT, run_case, synthetic_candles

DATA_DIR = os.environ.get("SMARTMARKET_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data"))
FAST, SLOW, ATR_N, STOP_ATR, TARGET_R = 10, 30, 14, 2.0, 3.0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def _atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    prev = np.concatenate(([c[0]], c[:-1]))
    tr = np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))
    return _sma(tr, n)


def sma_signals(candles: pd.DataFrame) -> np.ndarray:
    """Return the engine's signal rows of the SMA crossover with 2-ATR stops."""
    from serving.engine import layout as L

    c = candles["close"].to_numpy()
    fast, slow = _sma(c, FAST), _sma(c, SLOW)
    atr = _atr(candles["high"].to_numpy(), candles["low"].to_numpy(), c, ATR_N)
    above = fast > slow
    cross_up = above & ~np.roll(above, 1)
    cross_dn = ~above & np.roll(above, 1) & np.isfinite(slow)
    cross_up[: SLOW + 1] = cross_dn[: SLOW + 1] = False
    sig = np.full((c.shape[0], L.NS), np.nan)
    sig[:, L.SIG_ENTRY] = np.where(cross_up, 1.0, np.where(cross_dn, -1.0, 0.0))
    sig[:, L.SIG_SCORE] = 1.0
    sig[:, L.SIG_FACTORS] = 0.0
    sig[:, L.SIG_ATR] = atr
    sig[:, L.SIG_LONG_STOP] = c - STOP_ATR * atr
    sig[:, L.SIG_SHORT_STOP] = c + STOP_ATR * atr
    sig[:, L.SIG_EXIT_LONG] = cross_dn.astype(float)
    sig[:, L.SIG_EXIT_SHORT] = cross_up.astype(float)
    return sig


def _config(variant: str = "full") -> Any:
    from serving.engine.config import BacktestConfig
    from serving.engine.execution import ExecutionConfig
    from serving.engine.protections import ProtectionsConfig
    from serving.engine.risk import RiskConfig

    # fixed 3R final target (no liquidity levels in this strategy), everything else default but
    # the account hard stop: a random walk would halt it early and the bench would time a halt
    risk = RiskConfig(final_target="fixed", min_stop_costs=0.0)
    if variant == "full":
        return BacktestConfig(risk=risk, protections=ProtectionsConfig(hard_stop=None))
    # "busy": no costs and no protections, so that the account survives the random walk and
    # trades as often as backtesting.py does (the per-bar work of the state machine is the same)
    off = ProtectionsConfig(
        max_drawdown=None,
        daily_loss_limit=None,
        cooldown_losses=None,
        stoploss_guard_trades=None,
        hard_stop=None,
    )
    free = ExecutionConfig(taker_fee=0.0, maker_fee=0.0, slippage_bps=0.0, slippage_range=0.0)
    return BacktestConfig(risk=risk, protections=off, execution=free)


def engine_case(bars: int, variant: str = "full") -> dict[str, Any]:
    """Time the engine on ``bars`` synthetic 5m bars (``variant``: ``full`` or ``busy``)."""
    from serving.backtest.fast import make_bars
    from serving.engine.simulate import simulate

    candles = synthetic_candles(bars, "5min", start="2015-01-01", seed=1)
    cfg = _config(variant)
    t0 = time.perf_counter()
    sig = sma_signals(candles)
    signal_s = time.perf_counter() - t0
    engine_bars = make_bars(candles, _tf(), cfg.execution)
    params = cfg.params("5m")
    simulate(engine_bars, sig[:5_000], params)  # compile / load the cache
    best = float("inf")
    logs = None
    for _ in range(3):
        t0 = time.perf_counter()
        logs, _ = simulate(engine_bars, sig, params)
        best = min(best, time.perf_counter() - t0)
    assert logs is not None
    return {
        "bars": bars,
        "seconds": best,
        "signal_seconds": signal_s,
        "trades": int(logs.trades.shape[0]),
        "fills": int(logs.fills.shape[0]),
        "final_equity": float(logs.equity[-1]),
    }


def _tf() -> Any:
    from features.candles.schema import Timeframe

    return Timeframe.parse("5m")


def peer_case(bars: int) -> dict[str, Any]:
    """Time backtesting.py on the same crossover with the same stop and a 3R target."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover

    candles = synthetic_candles(bars, "5min", start="2015-01-01", seed=1)
    data = candles.rename(columns=str.capitalize)
    data.index = data.index.tz_localize(None)

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(_sma, self.data.Close, FAST)
            self.slow = self.I(_sma, self.data.Close, SLOW)
            self.atr = self.I(_atr, self.data.High, self.data.Low, self.data.Close, ATR_N)

        def next(self) -> None:
            price, risk = self.data.Close[-1], STOP_ATR * self.atr[-1]
            if not np.isfinite(risk):
                return
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=0.2, sl=price - risk, tp=price + TARGET_R * risk)
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=0.2, sl=price + risk, tp=price - TARGET_R * risk)

    bt = Backtest(data, SmaCross, cash=10_000_000, commission=0.0005, finalize_trades=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        stats = bt.run()
        seconds = time.perf_counter() - t0
    return {"bars": bars, "seconds": seconds, "trades": int(stats["# Trades"])}


def pipeline_case(bars: int, root: str = "") -> dict[str, Any]:
    """Time smc_confluence's whole pipeline (features, signals, engine) on ``bars`` bars.

    ``root``: run the code of the checkout there instead of this tree's (a baseline).
    """
    if root:
        sys.path.insert(0, root)
    from serving.backtest.fast import prepare, run_fast

    path = os.path.join(DATA_DIR, "binance_BTCUSDT_5m.csv.gz")
    if os.path.exists(path):
        frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp", nrows=bars)
        frame.index = pd.DatetimeIndex(frame.index, name="ts").tz_convert("UTC")
        candles = frame[["open", "high", "low", "close", "volume"]].astype("float64")
        source = f"{os.path.basename(path)}"
    else:
        candles, source = synthetic_candles(bars, "5min", start="2023-01-01"), "synthetic"
    prepare(candles.iloc[:3_000], "5m")  # compile / load the caches
    t0, c0 = time.perf_counter(), time.process_time()
    prepared = prepare(candles, "5m")
    t1 = time.perf_counter()
    result = run_fast(prepared)
    t2, c2 = time.perf_counter(), time.process_time()
    return {
        "bars": len(candles),
        "features_signals_s": t1 - t0,
        "engine_s": t2 - t1,
        "cpu_s": c2 - c0,
        "trades": len(result.trades),
        "source": source,
    }


def _pipeline_runs(bars: int, runs: int, baseline: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the best pipeline run of this tree and of ``baseline`` (empty when unset)."""
    mine: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    for _ in range(runs):
        mine.append(run_case("bench.bench_backtest:pipeline_case", bars=bars))
        if baseline:
            base.append(run_case("bench.bench_backtest:pipeline_case", bars=bars, root=baseline))

    def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
        top = min(rows, key=lambda r: r["features_signals_s"] + r["engine_s"])
        return {
            **top,
            "cpu_s": min(r["cpu_s"] for r in rows),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        }

    return best(mine), best(base) if base else {}


def _pipeline_row(case: str, pipe: dict[str, Any]) -> dict[str, Any]:
    seconds = pipe["features_signals_s"] + pipe["engine_s"]
    return {
        "case": case,
        "bars": pipe["bars"],
        "seconds": round(seconds, 3),
        "bars_per_s": round(pipe["bars"] / seconds),
        "trades": pipe["trades"],
        "peak_rss_mb": pipe["peak_rss_mb"],
        "note": f"engine alone {pipe['engine_s']:.3f} s; CPU time {pipe['cpu_s']:.3f} s "
        f"({pipe['bars'] / pipe['cpu_s'] / 1e3:,.0f} k bars/s); {pipe['source']}",
    }


def run() -> list[dict[str, Any]]:
    """Run the chosen cases (``SMARTMARKET_BENCH_BT_CASES``); return one row per measurement."""
    cases = os.environ.get("SMARTMARKET_BENCH_BT_CASES", "engine,pipeline").split(",")
    unknown = sorted(set(cases) - {"engine", "pipeline"})
    if unknown:
        raise ValueError(f"SMARTMARKET_BENCH_BT_CASES: unknown case(s) {unknown}")
    rows: list[dict[str, Any]] = []
    bars = _env_int("SMARTMARKET_BENCH_BT_BARS", 1_000_000)
    if "engine" in cases:
        rows += _engine_rows(bars, _env_int("SMARTMARKET_BENCH_BT_PEER_BARS", bars))
    if "pipeline" in cases:
        pipe, before = _pipeline_runs(
            _env_int("SMARTMARKET_BENCH_BT_PIPELINE_BARS", 210_000),
            _env_int("SMARTMARKET_BENCH_BT_PIPELINE_RUNS", 3),
            os.environ.get("SMARTMARKET_BENCH_BASELINE", ""),
        )
        rows.append(
            _pipeline_row("smc_confluence whole pipeline (features + signals + engine)", pipe)
        )
        if before:
            rows.append(_pipeline_row("same, baseline checkout", before))
    return rows


def _engine_rows(bars: int, peer_bars: int) -> list[dict[str, Any]]:
    """Run the engine cases and the peer; return their rows."""
    ours = run_case("bench.bench_backtest:engine_case", bars=bars)
    busy = run_case("bench.bench_backtest:engine_case", bars=bars, variant="busy")
    peer = run_case("bench.bench_backtest:peer_case", bars=peer_bars)
    ours_rate = ours["bars"] / ours["seconds"]
    peer_rate = peer["bars"] / peer["seconds"]
    with_signals = ours["bars"] / (ours["seconds"] + ours["signal_seconds"])
    return [
        {
            "case": "engine, full risk management (SMA cross, signals precomputed)",
            "bars": ours["bars"],
            "seconds": round(ours["seconds"], 4),
            "bars_per_s": round(ours_rate),
            "trades": ours["trades"],
            "peak_rss_mb": ours["peak_rss_mb"],
            "note": f"best of 3 after warm-up; {ours['fills']} fills",
        },
        {
            "case": "engine incl. vectorized signal computation",
            "bars": ours["bars"],
            "seconds": round(ours["seconds"] + ours["signal_seconds"], 4),
            "bars_per_s": round(with_signals),
            "trades": ours["trades"],
            "peak_rss_mb": ours["peak_rss_mb"],
            "note": "",
        },
        {
            "case": "engine, same without costs and protections (trades like the peer)",
            "bars": busy["bars"],
            "seconds": round(busy["seconds"], 4),
            "bars_per_s": round(busy["bars"] / busy["seconds"]),
            "trades": busy["trades"],
            "peak_rss_mb": busy["peak_rss_mb"],
            "note": f"best of 3 after warm-up; {busy['fills']} fills",
        },
        {
            "case": "backtesting.py 0.6.6 (same SMA cross, 2-ATR stop, 3R target)",
            "bars": peer["bars"],
            "seconds": round(peer["seconds"], 3),
            "bars_per_s": round(peer_rate),
            "trades": peer["trades"],
            "peak_rss_mb": peer["peak_rss_mb"],
            "note": f"engine is {ours_rate / peer_rate:,.0f}x (busy: "
            f"{busy['bars'] / busy['seconds'] / peer_rate:,.0f}x) faster",
        },
    ]
