"""The Trading page's numbers, derived from the ledger's events (pure: no Streamlit, no I/O).

Everything starts from ``serving.ledger.fold``: positions, orders and equity are the fold's,
never recomputed another way. What this module adds is the shape a person reads: tables of
positions, working orders and trades (with R multiples as the engine defines them:
net PnL over ``qty * |entry - stop|``), the account, the halt history and the commands sent,
and the equity curve over the stored candles.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from serving.ledger.events import FillRecord, LedgerEvent
from serving.ledger.fold import LedgerView, OrderView, PositionView, fold
from serving.order_state import QTY_TOLERANCE

EXIT_LEGS = ("stop", "tp1", "tp2", "tp3", "close")
QUOTES = ("USDT", "USD", "USDC")


@dataclass(frozen=True)
class Trading:
    """The ledger read once: the fold and the events the page lists.

    Attributes:
        view: The fold of every event.
        events: Every event, in order.
        start_cash: The account's starting cash (see :func:`start_cash`).
        start_cash_from: Where ``start_cash`` comes from (shown on the page).
    """

    view: LedgerView
    events: list[LedgerEvent] = field(default_factory=list)
    start_cash: float = 10_000.0
    start_cash_from: str = "the engine's default initial_cash"

    def extend(self, events: Sequence[LedgerEvent]) -> Trading:
        """A new ``Trading`` with ``events`` (appended after these) folded in; self unchanged."""
        everything = [*self.events, *events]
        if self.start_cash_from.startswith("the engine's default") and any(
            e.kind == "balance" for e in events
        ):  # the first reported balance sets the starting cash: fold again from the start
            return read(everything, self.start_cash)
        view = fold(events, copy.deepcopy(self.view))
        return Trading(view, everything, self.start_cash, self.start_cash_from)


def read(events: Sequence[LedgerEvent], default_cash: float) -> Trading:
    """Fold ``events`` and find the starting cash."""
    cash, source = start_cash(events, default_cash)
    return Trading(fold(events), list(events), cash, source)


def start_cash(events: Sequence[LedgerEvent], default: float) -> tuple[float, str]:
    """The first reported balance of a quote currency, else ``default``; and where it came from."""
    for e in events:
        if e.kind == "balance" and str(e.body.get("currency", "")).upper() in QUOTES:
            return float(e.body["total"]), f"the first reported {e.body['currency']} balance"
    return default, "the engine's default initial_cash (no balance reported in the ledger)"


def market_symbol(symbol: str) -> str:
    """The candle store's name of a venue symbol (``BTC/USDT:USDT`` -> ``BTC/USDT``)."""
    return symbol.split(":", 1)[0]


def positions_table(view: LedgerView, marks: Mapping[str, float]) -> pd.DataFrame:
    """Open positions: side, quantity, average price, mark and unrealized PnL (our fills)."""
    rows = []
    for symbol, p in sorted(view.positions.items()):
        if not p.qty:
            continue
        mark = marks.get(symbol)
        rows.append(
            {
                "symbol": symbol,
                "side": "long" if p.qty > 0 else "short",
                "qty": abs(p.qty),
                "avg_price": p.avg_price,
                "mark": mark,
                "unrealized": p.qty * (mark - p.avg_price) if mark is not None else math.nan,
                "realized": p.realized,
                "fees": p.fees,
                "exchange_qty": view.exchange_positions.get(symbol),
            }
        )
    columns = ["symbol", "side", "qty", "avg_price", "mark", "unrealized", "realized", "fees",
               "exchange_qty"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _ts(ns: int) -> pd.Timestamp | None:
    return pd.Timestamp(ns, tz="UTC") if ns else None


def orders_table(orders: Sequence[OrderView]) -> pd.DataFrame:
    """Orders as rows: leg, side, type, prices, state and why, filled quantity."""
    rows = [
        {
            "client_order_id": o.client_order_id,
            "symbol": o.intent.symbol,
            "leg": o.intent.leg,
            "side": o.intent.side,
            "type": o.intent.order_type,
            "qty": o.intent.qty,
            "price": o.intent.price,
            "stop_price": o.intent.stop_price,
            "state": o.state,
            "filled_qty": o.filled_qty,
            "avg_fill": o.avg_price,
            "reduce_only": o.intent.reduce_only,
            "decided_at": _ts(o.intent.decided_at),
            "reason": o.reason,
        }
        for o in orders
    ]
    columns = ["client_order_id", "symbol", "leg", "side", "type", "qty", "price",
               "stop_price", "state", "filled_qty", "avg_fill", "reduce_only", "decided_at",
               "reason"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _fills(orders: Sequence[OrderView]) -> list[FillRecord]:
    return [f for o in orders for f in o.fills.values()]


def _avg(fills: Sequence[FillRecord]) -> tuple[float, float]:
    qty = math.fsum(f.qty for f in fills)
    return qty, (math.fsum(f.qty * f.price for f in fills) / qty if qty > 0 else math.nan)


def trades_table(view: LedgerView) -> pd.DataFrame:
    """One row per trade (its orders share a ``trade_key``), with the engine's R multiple.

    ``r_multiple`` = net PnL / (entry quantity x |entry price - the entry's stop loss|), as
    ``serving.engine.portfolio`` computes it; funding is not split per trade and is left out
    of ``net_pnl`` (the account counts it). Only trades with a filled entry are listed.
    """
    groups: dict[str, list[OrderView]] = {}
    for o in view.orders.values():
        groups.setdefault(o.intent.trade_key or o.intent.origin, []).append(o)
    rows = []
    for key, orders in groups.items():
        entries = [o for o in orders if o.intent.leg == "entry"]
        exits = [o for o in orders if o.intent.leg in EXIT_LEGS]
        entry_fills, exit_fills = _fills(entries), _fills(exits)
        if not entry_fills:
            continue
        qty, entry_price = _avg(entry_fills)
        exited, exit_price = _avg(exit_fills)
        direction = 1.0 if entries[0].intent.side == "buy" else -1.0
        stop = entries[0].intent.stop_loss
        gross = direction * (exit_price - entry_price) * exited if exited > 0 else 0.0
        fees = math.fsum(f.fee for f in (*entry_fills, *exit_fills))
        net = gross - fees
        risk = qty * abs(entry_price - stop) if stop is not None else math.nan
        closed = exited >= qty * (1.0 - QTY_TOLERANCE)
        rows.append(
            {
                "trade": key,
                "symbol": entries[0].intent.symbol,
                "direction": "long" if direction > 0 else "short",
                "status": "closed" if closed else "open",
                "entry_bar": min(f.filled_at for f in entry_fills),
                "exit_bar": max(f.filled_at for f in exit_fills) if closed else pd.NaT,
                "qty": qty,
                "entry_price": entry_price,
                "stop": stop,
                "exit_price": exit_price if exited > 0 else math.nan,
                "exited_qty": exited,
                "exits": "+".join(sorted({o.intent.leg for o in exits if o.fills})),
                "gross_pnl": gross,
                "fees": fees,
                "net_pnl": net,
                "r_multiple": net / risk if closed and risk > 0 else math.nan,
            }
        )
    columns = ["trade", "symbol", "direction", "status", "entry_bar", "exit_bar", "qty",
               "entry_price", "stop", "exit_price", "exited_qty", "exits", "gross_pnl", "fees",
               "net_pnl", "r_multiple"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("entry_bar", ascending=False).reset_index(drop=True)


def account(trading: Trading, marks: Mapping[str, float]) -> dict[str, float]:
    """Equity (``LedgerView.equity``), cash balance, realized/unrealized PnL, fees, funding."""
    view = trading.view
    positions = view.positions.values()
    realized = math.fsum(p.realized for p in positions)
    fees = math.fsum(p.fees for p in positions)
    funding = math.fsum(p.funding for p in positions)
    unrealized = math.fsum(
        p.qty * (marks[s] - p.avg_price) for s, p in view.positions.items() if p.qty and s in marks
    )
    unmarked = [s for s, p in view.positions.items() if p.qty and s not in marks]
    return {
        "equity": view.equity(trading.start_cash, dict(marks)),
        "balance": trading.start_cash + realized - fees + funding,
        "realized": realized,
        "unrealized": unrealized,
        "fees": fees,
        "funding": funding,
        "start_cash": trading.start_cash,
        "unmarked_positions": float(len(unmarked)),
    }


def protections(events: Sequence[LedgerEvent], limit: int = 20) -> pd.DataFrame:
    """The newest halts, resumes, control commands and corrections: when, what, who, why."""
    rows = []
    for e in reversed(events):
        if e.kind not in ("halt", "resume", "control", "correction"):
            continue
        body = dict(e.body)
        if e.kind == "halt":
            what, who, why = "halt", "", str(body.get("reason", ""))
        elif e.kind == "resume":
            what, who, why = "resume", str(body.get("by", "")), ""
        elif e.kind == "control":
            what, who = f"command: {body.pop('command', '')}", str(body.pop("by", ""))
            why = ", ".join(f"{k}={v}" for k, v in sorted(body.items()))
        else:
            what, who, why = f"correction: {body.get('what', '')}", "", str(body.get("detail", ""))
        rows.append({"at": e.at, "seq": e.seq, "event": what, "by": who, "detail": why})
        if len(rows) >= limit:
            break
    return pd.DataFrame(rows, columns=["at", "seq", "event", "by", "detail"])


def equity_curve(
    trading: Trading, closes: Mapping[str, pd.Series], timeframe_delta: pd.Timedelta
) -> pd.DataFrame:
    """Equity at every candle close from the first fill on, with buy-and-hold and drawdown.

    ``closes`` holds each traded symbol's closes indexed by bar *open* time (the candle
    store's index); a fill changes the position from the first close at or after its
    ``filled_at``. Between fills the equity moves only with the marks:
    ``LedgerView.equity(cash, marks=0)`` is the part that does not (cash, realized, fees,
    funding, minus the cost of what is held), and quantity x close is added per bar.
    Buy-and-hold puts ``start_cash`` equally into every traded symbol at the first fill.
    Returns ``equity``, ``buy_and_hold`` and ``drawdown`` indexed by close time (empty
    without fills or candles).
    """
    from serving.engine.metrics import drawdown

    fills = sorted(trading.view.fills.values(), key=lambda f: f.filled_at)
    symbols = sorted({f.symbol for f in fills})
    series = {s: closes[s] for s in symbols if s in closes and len(closes[s])}
    if not fills or len(series) < len(symbols):
        return pd.DataFrame(columns=["equity", "buy_and_hold", "drawdown"])
    start = fills[0].filled_at
    grid = functools.reduce(
        pd.DatetimeIndex.union,
        [pd.DatetimeIndex(c.index + timeframe_delta) for c in series.values()],
    )
    grid = grid[grid >= start]
    if grid.empty:
        return pd.DataFrame(columns=["equity", "buy_and_hold", "drawdown"])
    price = {
        s: pd.Series(c.to_numpy(np.float64), index=c.index + timeframe_delta)
        .reindex(grid, method="ffill")
        .to_numpy()
        for s, c in series.items()
    }
    base = np.empty(len(grid))
    qty = {s: np.zeros(len(grid)) for s in symbols}
    at = grid.searchsorted(pd.DatetimeIndex([f.filled_at for f in fills]), side="left")
    view = LedgerView()
    zero = dict.fromkeys(symbols, 0.0)
    bounds = [0, *sorted(set(at.tolist()) - {0}), len(grid)]
    k = 0
    for lo, hi in itertools.pairwise(bounds):
        while k < len(fills) and at[k] <= lo:
            _apply(view, fills[k])
            k += 1
        base[lo:hi] = view.equity(trading.start_cash, zero)
        for s, p in view.positions.items():
            qty[s][lo:hi] = p.qty
    _add_funding(base, grid, trading.events)
    equity = base + sum(qty[s] * np.nan_to_num(price[s]) for s in symbols)
    growth = np.mean([price[s] / price[s][0] for s in symbols], axis=0)
    frame = pd.DataFrame(
        {"equity": equity, "buy_and_hold": trading.start_cash * growth}, index=grid
    )
    frame["drawdown"] = drawdown(frame["equity"])
    return frame


def _apply(view: LedgerView, fill: FillRecord) -> None:
    view.positions.setdefault(fill.symbol, PositionView()).apply(
        fill.side, fill.qty, fill.price, fill.fee
    )


def _add_funding(base: np.ndarray, grid: pd.DatetimeIndex, events: Sequence[LedgerEvent]) -> None:
    for e in events:
        if e.kind == "funding":
            base[grid.searchsorted(e.at, side="left") :] += float(e.body["amount"])


def marks_of(closes: Mapping[str, pd.Series]) -> dict[str, float]:
    """The last close of each symbol (the mark of its position)."""
    return {s: float(c.iloc[-1]) for s, c in closes.items() if len(c)}


def summary(trades: pd.DataFrame, curve: pd.DataFrame, start_cash: float) -> dict[str, Any]:
    """Risk figures: ``trade_metrics`` of the closed trades and ``curve_metrics`` of the curve."""
    from serving.engine.metrics import curve_metrics, trade_metrics

    closed = trades[trades["status"] == "closed"] if len(trades) else trades
    out: dict[str, Any] = dict(trade_metrics(closed)) if len(closed) else {"n_trades": 0}
    if len(curve):
        out.update(curve_metrics(curve["equity"], start_cash, curve.index[0]))
    return out
