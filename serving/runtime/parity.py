"""The parity report: each trade of a paper or live session next to the backtest's.

The ledger holds every bar a session handled (in its decision events) and the model's size
of each bar, so the backtest of exactly those candles with exactly those sizes can be run
again (``run_fast``) and set against what the ledger says happened: per trade, the intended
price (the deciding bar's close for a market entry, the order's price otherwise), the fill
prices, the slippage against the intended price, the delay from the decision to the first
fill, the fees and the funding. A person reads from it why live differs from the backtest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, Timeframe
from serving.backtest.fast import prepare, run_fast
from serving.backtest.main import with_sizes
from serving.engine.config import BacktestConfig
from serving.engine.strategy import Strategy
from serving.ledger.events import LedgerEvent
from serving.ledger.fold import LedgerView, OrderView, fold
from serving.ledger.store import Ledger

COLUMNS: tuple[str, ...] = (
    "decided_at", "direction", "in_backtest", "in_session", "intended_price",
    "backtest_entry", "session_entry", "backtest_slippage_bps", "session_slippage_bps",
    "session_delay_s", "backtest_exit", "session_exit", "backtest_exit_kind", "session_exit_leg",
    "qty_backtest", "qty_session", "backtest_fees", "session_fees", "backtest_funding",
    "session_funding", "backtest_net_pnl",
)  # fmt: skip


def session_bars(events: Sequence[LedgerEvent], session: str) -> tuple[pd.DataFrame, pd.Series]:
    """Return the candles a session handled and the model's size per decision time."""
    rows, sizes, index = [], [], []
    for e in events:
        b = e.body
        if e.kind != "decision" or b.get("session") != session or "bar" not in b:
            continue
        bar = b["bar"]
        index.append(int(bar["ts"]))
        rows.append([float(bar[c]) for c in OHLCV])
        sizes.append(b.get("size"))
    ts = pd.DatetimeIndex(pd.to_datetime(np.asarray(index, dtype=np.int64), utc=True), name="ts")
    candles = pd.DataFrame(rows, columns=list(OHLCV), index=ts, dtype=np.float64)
    return candles, pd.Series(sizes, index=ts, dtype="float64")


def _vwap(orders: Sequence[OrderView]) -> tuple[float, float]:
    fills = [f for o in orders for f in o.fills.values()]
    qty = math.fsum(f.qty for f in fills)
    if qty <= 0.0:
        return math.nan, 0.0
    return math.fsum(f.qty * f.price for f in fills) / qty, qty


def funding_payments(events: Sequence[LedgerEvent], symbol: str) -> list[tuple[int, float]]:
    """Return the ledger's funding payments on ``symbol``: (paid at, ns; amount received)."""
    return [
        (int(e.body.get("paid_at", e.at.value)), float(e.body["amount"]))
        for e in events
        if e.kind == "funding" and e.body.get("symbol") == symbol
    ]


def _funding_paid(
    trades: Sequence[Sequence[OrderView]], payments: Sequence[tuple[int, float]]
) -> list[float]:
    """Return the funding each trade paid: each payment split by the trades' signed open size.

    A venue charges funding on the position, not per trade; a trade's share of a payment is
    its signed quantity open just before the payment over the position's (the engine's rule).
    """
    paid = [0.0] * len(trades)
    fills = [
        [(f.filled_at.value, f.qty if f.side == "buy" else -f.qty)
         for o in t for f in o.fills.values()]
        for t in trades
    ]  # fmt: skip
    for when, amount in payments:
        held = [math.fsum(q for at, q in rows if at < when) for rows in fills]
        total = math.fsum(held)
        if abs(total) <= 1e-12:
            continue
        for i, q in enumerate(held):
            paid[i] -= amount * q / total
    return paid


def session_trades(
    view: LedgerView,
    symbol: str,
    tf: Timeframe,
    closes: pd.Series,
    funding: Sequence[tuple[int, float]] = (),
) -> pd.DataFrame:
    """Return the trades the ledger shows for ``symbol``: one row per entry order that filled.

    ``closes`` maps a bar's close time to its close price (the intended price of a market
    entry decided at that close); ``funding`` is :func:`funding_payments`.
    """
    by_key: dict[str, list[OrderView]] = {}
    for o in view.orders.values():
        if o.intent.symbol == symbol:
            by_key.setdefault(o.intent.trade_key, []).append(o)
    trades = [t for t in by_key.values() if any(o.intent.leg == "entry" and o.fills for o in t)]
    paid = _funding_paid(trades, funding)
    rows = []
    for orders, funding_paid in zip(trades, paid, strict=True):
        entries = [o for o in orders if o.intent.leg == "entry" and o.fills]
        e = entries[-1].intent
        decided = pd.Timestamp(e.decided_at, tz="UTC")
        direction = 1 if e.side == "buy" else -1
        intended = e.price if e.order_type == "limit" else e.stop_price
        if intended is None:
            intended = float(closes.get(decided, math.nan))
        entry, qty = _vwap(entries)
        exits = [o for o in orders if o.intent.leg != "entry" and o.fills]
        exit_price, _ = _vwap(exits)
        first = min(f.filled_at for o in entries for f in o.fills.values())
        fills = [f for o in orders for f in o.fills.values()]
        last_exit = max(exits, key=lambda o: max(f.filled_at for f in o.fills.values()),
                        default=None)  # fmt: skip
        rows.append({
            "decided_at": decided, "direction": "long" if direction > 0 else "short",
            "intended_price": intended, "session_entry": entry,
            "session_slippage_bps": direction * (entry - intended) / intended * 1e4,
            "session_delay_s": (first - decided).total_seconds(),
            "session_exit": exit_price,
            "session_exit_leg": last_exit.intent.leg if last_exit else None,
            "qty_session": qty, "session_fees": math.fsum(f.fee for f in fills),
            "session_funding": funding_paid,
        })  # fmt: skip
    return pd.DataFrame(rows)


def parity_report(
    ledger: Ledger,
    session: str,
    symbol: str,
    timeframe: str | Timeframe,
    config: BacktestConfig,
    strategy: Strategy | None = None,
) -> pd.DataFrame:
    """Return the per-trade comparison of a session with the backtest of its own candles.

    The session's funding per trade is the ledger's funding payments (the venue's, or what
    the paper engine charged) split over the trades open when each was paid.
    """
    tf = Timeframe.parse(timeframe)
    events = ledger.events()
    candles, sizes = session_bars(events, session)
    closes = pd.Series(candles["close"].to_numpy(), index=candles.index + tf.delta)
    prepared = prepare(candles, tf, config, symbol=symbol, strategy=strategy)
    if sizes.notna().any():
        prepared = with_sizes(prepared, sizes.set_axis(candles.index + tf.delta).dropna())
    bt = run_fast(prepared).trades
    backtest = pd.DataFrame({
        "decided_at": bt["decided_at"], "direction": bt["direction"],
        "backtest_entry": bt["entry_price"], "backtest_exit": bt["exit_price"],
        "backtest_exit_kind": bt["exit_kind"], "qty_backtest": bt["qty"],
        "backtest_fees": bt["fees"], "backtest_funding": bt["funding"],
        "backtest_net_pnl": bt["net_pnl"],
    })  # fmt: skip
    dirs = np.where(backtest["direction"] == "long", 1.0, -1.0)
    intended = backtest["decided_at"].map(closes)
    backtest["backtest_slippage_bps"] = (
        dirs * (backtest["backtest_entry"] - intended) / intended * 1e4
    )
    ours = session_trades(fold(events), symbol, tf, closes, funding_payments(events, symbol))
    if ours.empty:
        ours = pd.DataFrame(columns=["decided_at", "direction"])
    out = backtest.assign(in_backtest=True).merge(
        ours.assign(in_session=True), on=["decided_at", "direction"], how="outer"
    )
    out["in_backtest"] = out["in_backtest"].eq(True)
    out["in_session"] = out["in_session"].eq(True)
    out["intended_price"] = out["intended_price"].fillna(out["decided_at"].map(closes))
    return out.reindex(columns=list(COLUMNS)).sort_values("decided_at").reset_index(drop=True)
