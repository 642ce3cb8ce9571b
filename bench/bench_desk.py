"""The trading endpoints' reads over a SQLite ledger (``serving.desk``).

``cold``: the first ``GET /api/account`` of a process reads every event back and folds it.
Then each read continues the fold with what was appended since: ``account``, ``orders``
(one page of 50) and ``trades`` (one page of closed round trips, derived from every fill)
are timed after one more order (5 events) was appended, best of 3. Ledgers of 1,000 and
10,000 filled orders (5 events each, alternating buy and sell, so every second order closes
a round trip). In-process calls of the desk's methods (no HTTP).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_ledger import order_events
from bench.common import best_of, run_case
from serving.desk import DeskConfig, TradingDesk
from serving.ledger import LedgerConfig, open_ledger


def case_reads(where: str, n_orders: int) -> dict[str, Any]:
    """Time the three reads over a ledger of ``n_orders`` filled orders."""
    ledger = open_ledger(LedgerConfig.build(Path(where)))
    events = order_events(n_orders)
    for i in range(0, len(events), 1000):
        ledger.append(events[i : i + 1000])
    desk = TradingDesk(ledger, DeskConfig(("BTC/USDT",)), marks=lambda _s: 100_000.0)
    t0 = time.perf_counter()
    desk.account()
    cold = time.perf_counter() - t0
    assert desk.trades(limit=1)["total"] == n_orders // 2
    more = iter(order_events(n_orders + 30)[len(events) :])

    def after_one_more(read: Callable[[], object]) -> Callable[[], object]:
        def call() -> object:
            ledger.append([next(more) for _ in range(5)])
            return read()

        return call

    out = {
        "events": len(events),
        "cold_account_ms": round(cold * 1e3, 1),
        "account_ms": round(best_of(after_one_more(desk.account), 3) * 1e3, 1),
        "orders_page_ms": round(best_of(after_one_more(desk.orders), 3) * 1e3, 1),
        "trades_page_ms": round(best_of(after_one_more(desk.trades), 3) * 1e3, 1),
    }
    ledger.close()
    return out


def run() -> list[dict[str, Any]]:
    """Run each ledger size in its own process; return one row per size."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="smbench_desk_") as tmp:
        for n in (1_000, 10_000):
            out = run_case("bench.bench_desk:case_reads", where=str(Path(tmp) / str(n)),
                           n_orders=n)  # fmt: skip
            rows.append({"case": f"{n:,} orders", "store": "sqlite", **out})
            print(f"   {n:,} orders (sqlite): {out}", flush=True)
    return rows
