"""The dashboard: time to first paint of each page, chart payload, drift report time.

- **pages**: an app home seeded with ``SMARTMARKET_BENCH_DASH_DAYS`` (365) days of synthetic
  5m candles for two symbols (5m..4h stored, the headline backtest run on the 5m), then each
  page run through ``streamlit.testing.v1.AppTest`` in a fresh interpreter: the first run (cold
  caches: candles read, SMC zones found, MTF reading) and the best of three later runs (warm:
  what a person sees on the next visit or rerun). This is the server's share of first paint:
  the script run that produces every element; the browser then draws the Plotly JSON.
- **payload**: bytes of the Market chart's Plotly JSON (what goes over the websocket) for the
  default window, the whole year resampled to the ``max_bars`` limit, and the whole year of 5m
  bars drawn as is (what the resampling avoids).
- **trading and models**: a ledger over the seeded span (a round trip every 200 bars per
  symbol) and a registry of two tiny model versions (``dashboards.seed``), so the Trading and
  Models pages draw their tables and charts; the Trading equity chart's fold, curve and JSON.
  ``SMARTMARKET_BENCH_DASH_PAGES`` (comma-separated page files) measures only those pages.
- **drift**: ``dashboards.drift.drift_report`` + ``write_snapshot`` on 30 days x 2 symbols of
  230 inputs (17,280 reference rows, sampled to 5,000) against one day (576 rows).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, run_case

DAYS = int(os.environ.get("SMARTMARKET_BENCH_DASH_DAYS", "365"))
SYMBOLS = ("BTC/USDT", "ETH/USDT")
PAGES = tuple(os.environ.get("SMARTMARKET_BENCH_DASH_PAGES", "").split(",")) if os.environ.get(
    "SMARTMARKET_BENCH_DASH_PAGES") else (
    "app.py", "pages/1_Market.py", "pages/2_Backtests.py", "pages/3_Signals.py",
    "pages/4_Trading.py", "pages/5_Models.py", "pages/6_Monitoring.py")  # fmt: skip


def seed(home: str, days: int) -> dict[str, Any]:
    """Seed the app home; return the seconds it took."""
    from dashboards.seed import seed_home

    start = time.perf_counter()
    seed_home(Path(home), SYMBOLS, days=days)
    return {"seconds": round(time.perf_counter() - start, 1)}


def seed_trading(home: str) -> dict[str, Any]:
    """A paper-trading ledger over the whole seeded span (a round trip every 200 bars per
    symbol, 24 bars held) and a registry of two tiny model versions; return the counts."""
    from dashboards.seed import seed_ledger, seed_registry
    from features.candles.schema import Timeframe
    from features.candles.store import make_store

    start = time.perf_counter()
    bars = len(
        make_store("parquet", root=Path(home) / "candles").read(SYMBOLS[0], Timeframe.parse("5m"))
    )
    trades = bars // 200 - 2
    for k, symbol in enumerate(SYMBOLS):
        seed_ledger(Path(home), symbol, trades=trades, halt=None if k == 0 else "bench halt")
    ledger_s = time.perf_counter() - start
    seed_registry(Path(home))
    return {"trades": trades * len(SYMBOLS), "ledger_s": round(ledger_s, 1),
            "registry_s": round(time.perf_counter() - start - ledger_s, 1)}  # fmt: skip


def pages(home: str) -> dict[str, Any]:
    """Run every page cold, then warm (best of three); return seconds per page."""
    os.environ["SMARTMARKET_HOME"] = home
    os.environ["SMARTMARKET_DASHBOARD_SERVICE_URL"] = "http://127.0.0.1:9"
    from streamlit.testing.v1 import AppTest

    out: dict[str, Any] = {}
    for page in PAGES:
        path = str(REPO_ROOT / "dashboards" / page)
        start = time.perf_counter()
        at = AppTest.from_file(path, default_timeout=600).run()
        cold = time.perf_counter() - start
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].value}")
        warm = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            AppTest.from_file(path, default_timeout=600).run()
            warm = min(warm, time.perf_counter() - start)
        out[page] = {"cold_s": round(cold, 2), "warm_s": round(warm, 3)}
    return out


def payload(home: str) -> dict[str, Any]:
    """Return the Market chart's JSON size for three views of the first symbol."""
    from dashboards import figures
    from features.candles.schema import Timeframe
    from features.candles.store import make_store
    from features.smc import SMCConfig, compute_smc, detect_zones

    store = make_store("parquet", root=Path(home) / "candles")
    candles = store.read(SYMBOLS[0], Timeframe.parse("5m"))
    cfg = SMCConfig.for_timeframe("5m")
    zones, features = detect_zones(candles, cfg), compute_smc(candles, cfg)
    views = {
        "default window (1,000 bars)": (candles.iloc[-1000:], "5m"),
        "one year resampled (<= 3,000 bars)": figures.downsample(candles, "5m", 3000),
        "one year of 5m as is": (candles, "5m"),
    }
    out: dict[str, Any] = {"bars": len(candles)}
    out.update(trading_payload(home))
    for name, (view, label) in views.items():
        overlays = figures.OVERLAYS if label == "5m" and len(view) <= 3000 else (
            "zones", "structure", "liquidity", "premium_discount")  # fmt: skip
        fig = figures.candles_figure(view, timeframe=label, zones=zones, features=features,
                                     overlays=overlays)  # fmt: skip
        start = time.perf_counter()
        text = fig.to_json()
        out[name] = {"bars": len(view), "timeframe": label, "bytes": len(text),
                     "to_json_s": round(time.perf_counter() - start, 3)}  # fmt: skip
    return out


def trading_payload(home: str) -> dict[str, Any]:
    """The Trading page's equity chart: fold + curve time and JSON size (thinned to 4,000)."""
    from dashboards import figures, loaders
    from dashboards import trading as tr
    from features.candles.schema import Timeframe
    from features.candles.store import make_store
    from serving.ledger import LedgerConfig

    tf = Timeframe.parse("5m")
    store = make_store("parquet", root=Path(home) / "candles")
    closes = {s: store.read(s, tf)["close"] for s in SYMBOLS}
    start = time.perf_counter()
    config = LedgerConfig.build(Path(home))
    trading = loaders.load_trading(config, loaders.trading_desk(config, SYMBOLS, 10_000.0))
    assert isinstance(trading, tr.Trading)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    curve = tr.equity_curve(trading, closes, tf.delta)
    trades = tr.trades_table(trading.view)
    curve_s = time.perf_counter() - start
    text = figures.equity_figure(figures.thin(curve, 4000)).to_json()
    r_text = figures.r_multiples_figure(trades).to_json()
    return {"Trading equity chart": {"bars": len(curve), "events": len(trading.events),
                                     "read_fold_s": round(read_s, 2),
                                     "curve_and_trades_s": round(curve_s, 2),
                                     "bytes": len(text)},
            "Trading R-multiple chart": {"trades": len(trades), "bytes": len(r_text)}}  # fmt: skip


def drift(days: int, inputs: int) -> dict[str, Any]:
    """Time one drift snapshot of ``inputs`` columns: ``days`` of reference, one day current."""
    import numpy as np
    import pandas as pd

    from dashboards.drift import drift_report, write_snapshot

    rng = np.random.default_rng(0)
    names = [f"x{k}" for k in range(inputs)]
    per_day = 288 * len(SYMBOLS)
    reference = pd.DataFrame(rng.standard_t(5, size=(days * per_day, inputs)), columns=names)
    current = pd.DataFrame(rng.standard_t(5, size=(per_day, inputs)), columns=names)
    current.iloc[:, : inputs // 4] += 0.5
    start = time.perf_counter()
    snapshot, summary = drift_report(reference, current)
    report_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        paths = write_snapshot(snapshot, summary, Path(folder))
        write_s = time.perf_counter() - start
        html_mb = paths["html"].stat().st_size / 2**20
    return {"reference_rows": len(reference), "current_rows": len(current),
            "compared": summary.compared, "share_drifted": round(summary.share, 3),
            "report_s": round(report_s, 2), "write_s": round(write_s, 2),
            "html_mb": round(html_mb, 1)}  # fmt: skip


def run() -> list[dict[str, Any]]:
    """Seed a year of two symbols, then measure pages, payload and drift."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        home = str(Path(folder) / "home")
        seeded = run_case("bench.bench_dashboard:seed", home=home, days=DAYS)
        rows.append({"case": f"seed {DAYS} days x 2 symbols (+ backtests)", **seeded})
        trading = run_case("bench.bench_dashboard:seed_trading", home=home)
        rows.append({"case": "seed a ledger over those days and a registry of two versions",
                     **trading})  # fmt: skip
        timed = run_case("bench.bench_dashboard:pages", home=home)
        memory = {k: timed.pop(k) for k in ("base_rss_mb", "peak_rss_mb")}
        for page, seconds in timed.items():
            rows.append({"case": f"page {page}", **seconds})
        rows[-1].update(memory)
        sizes = run_case("bench.bench_dashboard:payload", home=home)
        bars = sizes.pop("bars")
        memory = {k: sizes.pop(k) for k in ("base_rss_mb", "peak_rss_mb")}
        for name, size in sizes.items():
            rows.append({"case": f"Market chart: {name} of {bars:,}", **size})
        rows[-1].update(memory)
    rows.append({"case": "drift 30 days x 230 inputs", **run_case(
        "bench.bench_dashboard:drift", days=30, inputs=230)})  # fmt: skip
    return rows
