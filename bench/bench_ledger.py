"""Ledger writes per second on SQLite and PostgreSQL, and the fold from events to state.

Events are a realistic order life: intent, submitted, accepted, fill, filled (5 events per
order, fills deduplicated by the venue's trade id). ``one per commit`` appends each event in
its own transaction, as the broker does around a create call (every commit durable: SQLite
WAL with ``synchronous=FULL``, PostgreSQL with its default ``synchronous_commit=on``);
``batches of 500`` appends 500 per transaction (a reconciliation writing many fills). The
fold case reads every event back from SQLite and folds it into current orders and positions
(what a restart does). Each case runs in its own subprocess (peak RSS per case).

PostgreSQL needs ``SMARTMARKET_BENCH_PG_DSN`` (default ``host=127.0.0.1 port=5432
user=postgres dbname=postgres``) able to create a throwaway database; without one those cases
are skipped with the reason. ``SMARTMARKET_BENCH_LEDGER_ORDERS`` scales the batched and fold
cases (default 20,000 orders = 100,000 events).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.bench_ingest import DEFAULT_DSN, _NoServer, throwaway_database
from bench.common import run_case
from serving.ledger import (
    FillRecord,
    LedgerConfig,
    LedgerEvent,
    OrderIntent,
    fill_event,
    fold,
    intent_event,
    open_ledger,
    state_event,
)
from serving.order_state import client_order_id

T0 = pd.Timestamp("2026-01-01", tz="UTC")
SYMBOL = "BTC/USDT:USDT"


def order_events(n_orders: int) -> list[LedgerEvent]:
    """Return the events of ``n_orders`` filled market orders, alternating buy and sell."""
    out: list[LedgerEvent] = []
    for i in range(n_orders):
        cid = client_order_id(f"bench-{i}", "entry")
        side = "buy" if i % 2 == 0 else "sell"
        at = T0 + pd.Timedelta(seconds=i)
        intent = OrderIntent(cid, f"bench-{i}", "entry", 0, SYMBOL, side, "market", 0.005, 5.0,
                             trade_id=i, slot=0, request_id=i)  # fmt: skip
        fill = FillRecord(f"T{i}", f"X{i}", cid, SYMBOL, side, 100_000.0 + i % 50, 0.005,
                          0.25, False, at)  # fmt: skip
        out += [
            intent_event(intent, at),
            state_event(cid, "new", "submitted", at),
            state_event(cid, "submitted", "accepted", at, exchange_order_id=f"X{i}"),
            fill_event(fill, at),
            state_event(cid, "accepted", "filled", at),
        ]
    return out


def case_append(backend: str, where: str, n_orders: int, batch: int) -> dict[str, Any]:
    """Time appending the events of ``n_orders`` orders, ``batch`` per transaction."""
    config = (
        LedgerConfig.build(Path(where)) if backend == "sqlite"
        else LedgerConfig.build(Path("."), dsn=where)
    )  # fmt: skip
    ledger = open_ledger(config)
    events = order_events(n_orders)
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        ledger.append(events[i : i + batch])
    elapsed = time.perf_counter() - t0
    again = ledger.append(events[3:4])  # a repeated fill is refused, not stored twice
    ledger.close()
    assert again == [None]
    return {
        "events": len(events),
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(events) / elapsed),
        "commits_per_s": round(len(events) / batch / elapsed),
    }


def case_fold(where: str, n_orders: int) -> dict[str, Any]:
    """Time reading every event back from SQLite and folding it to current state."""
    ledger = open_ledger(LedgerConfig.build(Path(where)))
    events = order_events(n_orders)
    for i in range(0, len(events), 1000):
        ledger.append(events[i : i + 1000])
    t0 = time.perf_counter()
    back = ledger.events()
    t1 = time.perf_counter()
    view = fold(back)
    t2 = time.perf_counter()
    ledger.close()
    assert len(view.orders) == n_orders
    assert all(o.state == "filled" for o in view.orders.values())
    return {
        "events": len(back),
        "read_s": round(t1 - t0, 3),
        "fold_s": round(t2 - t1, 3),
        "events_per_s": round(len(back) / (t2 - t1)),
    }


def run() -> list[dict[str, Any]]:
    """Run every ledger case; return one row per case."""
    n_orders = int(os.environ.get("SMARTMARKET_BENCH_LEDGER_ORDERS", "20000"))
    admin_dsn = os.environ.get("SMARTMARKET_BENCH_PG_DSN", DEFAULT_DSN)
    rows: list[dict[str, Any]] = []

    def record(case: str, store: str, out: dict[str, Any]) -> None:
        rows.append({"case": case, "store": store, **out})
        print(f"   {case} ({store}): {out}", flush=True)

    with tempfile.TemporaryDirectory(prefix="smbench_ledger_") as tmp:
        for batch, orders in ((1, min(n_orders, 400)), (500, n_orders)):
            where = str(Path(tmp) / f"b{batch}")
            out = run_case("bench.bench_ledger:case_append", backend="sqlite", where=where,
                           n_orders=orders, batch=batch)  # fmt: skip
            record("one per commit" if batch == 1 else "batches of 500", "sqlite", out)
        try:
            for batch, orders in ((1, min(n_orders, 400)), (500, n_orders)):
                with throwaway_database(admin_dsn) as dsn:
                    out = run_case("bench.bench_ledger:case_append", backend="postgres",
                                   where=dsn, n_orders=orders, batch=batch)  # fmt: skip
                record("one per commit" if batch == 1 else "batches of 500", "postgres", out)
        except _NoServer as exc:
            rows.append({"case": "postgres", "store": "postgres", "skipped": str(exc)})
        out = run_case("bench.bench_ledger:case_fold", where=str(Path(tmp) / "fold"),
                       n_orders=n_orders)  # fmt: skip
        record("read back + fold", "sqlite", out)
    return rows
