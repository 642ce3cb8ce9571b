"""The trading loop: candle close -> order acknowledged (paper), ledger writes, memory.

``latency`` replays 10 days of the synthetic market (5m) through the paper loop with every
bar committed to the ledger in its own transaction (``batch_bars=1``, what a live run does)
and times, per bar, the close -> acknowledged path (controls read, model-free signal,
features, engine, paper broker's acks: ``BarOutcome.ack_s``) and the close -> committed path
(plus the signal, decision, order, fill and balance events appended durably). The bars that
sent orders are reported apart, and the first bar (which loads the compiled kernels) is left
out of the percentiles. Commands are read at each close (one ledger query on the way to the
order) or by a background thread every 0.5 s (``LoopConfig.control_poll_s``). The strategy
is the default rule with the zone requirement off and a lower score (it trades more often),
on SQLite and PostgreSQL.

``memory`` replays 24 hours of 1m candles after the strategy's 5,880-bar warm-up (7,320
bars, as fast as it can, 50 bars per transaction) and samples the process's resident memory
every 6 hours of market time: a leak would grow it bar after bar.

Each case runs in its own subprocess. PostgreSQL needs ``SMARTMARKET_BENCH_PG_DSN`` (see
``bench_ledger``); without a server its case is skipped with the reason.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_ingest import DEFAULT_DSN, _NoServer, throwaway_database
from bench.common import run_case


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _loop(
    where: str, backend: str, timeframe: str, batch: int, checkpoint: Path | None, poll: float = 0
) -> Any:
    from serving.engine.config import BacktestConfig
    from serving.ledger import LedgerConfig, open_ledger
    from serving.runtime.clock import SimClock
    from serving.runtime.loop import LoopConfig, TradingLoop
    from serving.signals import SMCConfluenceConfig

    cfg = BacktestConfig(strategy=SMCConfluenceConfig(min_score=3.0, require_zone=False))
    config = (
        LedgerConfig.build(Path(where)) if backend == "sqlite"
        else LedgerConfig.build(Path("."), dsn=where)
    )  # fmt: skip
    ledger = open_ledger(config)
    clock = SimClock()
    loop = TradingLoop(
        cfg, LoopConfig("BTC/USDT", timeframe, batch_bars=batch, checkpoint_every=50 * batch,
                        control_poll_s=poll),
        ledger, clock, checkpoint=checkpoint,
    )  # fmt: skip
    loop.start()
    return loop, ledger, clock


def case_latency(backend: str, where: str, days: int, poll: float) -> dict[str, Any]:
    """Time close -> ack and close -> committed per bar, every bar its own transaction.

    ``poll`` 0 reads the commands at each close; > 0 in a background thread.
    """
    from serving.backtest.main import synthetic_candles
    from serving.runtime.sources import ReplaySource

    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", days, seed=7)
    outcomes: list[Any] = []
    loop, ledger, clock = _loop(where, backend, "5m", 1, None, poll)
    loop._on_bar = outcomes.append
    t0 = time.perf_counter()
    loop.run(ReplaySource(candles, "5m", clock).bars())
    elapsed = time.perf_counter() - t0
    n_events = len(ledger.events())
    ledger.close()
    first = outcomes[0].ack_s * 1e3  # loads the compiled kernels
    outcomes = outcomes[1:]
    ack = np.array([o.ack_s for o in outcomes]) * 1e3
    commit = np.array([o.commit_s for o in outcomes]) * 1e3
    sent = np.array([o.requests > 0 for o in outcomes])
    return {
        "bars": len(outcomes),
        "bars_with_orders": int(sent.sum()),
        "ack_ms_p50": round(float(np.percentile(ack, 50)), 3),
        "ack_ms_p99": round(float(np.percentile(ack, 99)), 3),
        "ack_ms_p99_orders": round(float(np.percentile(ack[sent], 99)), 3) if sent.any() else None,
        "ack_ms_max": round(float(ack.max()), 3),
        "first_bar_ms": round(first, 1),
        "commit_ms_p50": round(float(np.percentile(commit, 50)), 3),
        "commit_ms_p99": round(float(np.percentile(commit, 99)), 3),
        "bars_per_s": round(len(outcomes) / elapsed, 1),
        "ledger_events": n_events,
        "events_per_s": round(n_events / elapsed, 1),
    }


def case_memory(where: str, hours: int) -> dict[str, Any]:
    """Replay ``hours`` of 1m candles after the warm-up; sample RSS every 6 market hours."""
    from serving.backtest.main import synthetic_candles
    from serving.engine.features import FeatureSpec
    from serving.runtime.sources import ReplaySource
    from serving.signals import SMCConfluence

    warm = FeatureSpec.build("1m", SMCConfluence().inputs()).warmup_bars
    candles = synthetic_candles("BTC/USDT", "1m", "2024-01-01", 6, seed=7)
    candles = candles.iloc[: warm + hours * 60]
    loop, ledger, clock = _loop(where, "sqlite", "1m", 50, Path(where) / "ckpt.pkl")
    samples: list[float] = []

    def sample(outcome: Any) -> None:
        if loop.bars > warm and (loop.bars - warm) % 360 == 0:
            samples.append(round(_rss_mb(), 1))

    loop._on_bar = sample
    t0 = time.perf_counter()
    loop.run(ReplaySource(candles, "1m", clock).bars())
    elapsed = time.perf_counter() - t0
    ledger.close()
    return {
        "bars": loop.bars,
        "market_hours_after_warmup": hours,
        "seconds": round(elapsed, 1),
        "rss_mb_every_6h": samples,
        "rss_growth_mb": round(samples[-1] - samples[0], 1) if samples else None,
    }


def run() -> list[dict[str, Any]]:
    """Run each trading case once; return one row per case."""
    admin_dsn = os.environ.get("SMARTMARKET_BENCH_PG_DSN", DEFAULT_DSN)
    days = int(os.environ.get("SMARTMARKET_BENCH_TRADING_DAYS", "10"))
    rows: list[dict[str, Any]] = []

    def record(case: str, store: str, out: dict[str, Any]) -> None:
        rows.append({"case": case, "store": store, **out})
        print(f"   {case} ({store}): {out}", flush=True)

    with tempfile.TemporaryDirectory(prefix="smbench_trading_") as tmp:
        for poll in (0.0, 0.5):
            how = "commands read at the close" if poll == 0 else "commands read in a thread"
            out = run_case("bench.bench_trading:case_latency", backend="sqlite",
                           where=str(Path(tmp) / f"lat{poll}"), days=days, poll=poll)  # fmt: skip
            record(f"close -> ack, {how}", "sqlite", out)
            try:
                with throwaway_database(admin_dsn) as dsn:
                    out = run_case("bench.bench_trading:case_latency", backend="postgres",
                                   where=dsn, days=days, poll=poll)  # fmt: skip
                record(f"close -> ack, {how}", "postgres", out)
            except _NoServer as exc:
                rows.append({"case": "close -> ack", "store": "postgres", "skipped": str(exc)})
        out = run_case("bench.bench_trading:case_memory", where=str(Path(tmp) / "mem"), hours=24)
        record("24 h replay of 1m candles", "sqlite", out)
    return rows
