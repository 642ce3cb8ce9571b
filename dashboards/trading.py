"""The Trading page's numbers, from the trading desk over the ledger (pure: no Streamlit).

The desk (``serving.desk``: the service's ``/api/orders|positions|account|trades`` read the
same) folds the ledger with ``serving.ledger.fold`` and continues its fold between reads;
positions, the account, orders and round trips (with the R multiple) are its answers, never
recomputed here. What this module adds is what the desk does not keep: the halt, resume,
command and correction history, the equity curve over the stored candles, the risk figures
and the tables' shape for the page.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from serving.ledger.events import EventKind, FillRecord, LedgerEvent
from serving.ledger.fold import LedgerView, PositionView

if TYPE_CHECKING:
    from serving.desk import Snapshot, TradingDesk

SIDE_KINDS: tuple[EventKind, ...] = ("halt", "resume", "control", "correction", "funding")


@dataclass(frozen=True)
class Trading:
    """The ledger read once through a desk.

    Attributes:
        desk: The desk (its fold is continued on the next read).
        snap: The desk's snapshot (``view``: the fold of every event).
        events: The halt, resume, control, correction and funding events, in order.
        start_cash: The account's starting cash (the desk's).
    """

    desk: TradingDesk
    snap: Snapshot
    events: list[LedgerEvent] = field(default_factory=list)

    @property
    def view(self) -> LedgerView:
        """The fold of every event."""
        return self.snap.view

    @property
    def start_cash(self) -> float:
        """The starting cash the desk counts equity from."""
        return float(self.desk.config.start_cash)


def market_symbol(symbol: str) -> str:
    """The candle store's name of a venue symbol (``BTC/USDT:USDT`` -> ``BTC/USDT``)."""
    return symbol.split(":", 1)[0]


def orders_table(trading: Trading, which: str = "open") -> pd.DataFrame:
    """The desk's orders (``open`` or ``final``) as a table, newest intent last."""
    from serving.desk import order_row

    orders = trading.view.open_orders() if which == "open" else trading.view.in_state(
        "filled", "cancelled", "rejected", "expired")  # fmt: skip
    return pd.DataFrame([order_row(o) for o in orders])


def trades_table(view: LedgerView) -> pd.DataFrame:
    """Every round trip (``serving.desk.round_trips``), newest first, with ``status``.

    ``r_multiple`` is the desk's: net PnL (realized less fees; funding stays with the
    position) over entry quantity x |entry - the first entry's stop loss|, the engine's
    definition. ``entry_bar``/``exit_bar`` are the opening and closing fills' times (the names
    ``serving.engine.metrics.trade_metrics`` reads). An open trade has no R yet.
    """
    from serving.desk import round_trips

    rows = []
    for rt in round_trips(view):
        row = rt.row()
        row["status"] = "closed" if rt.closed_at is not None else "open"
        if rt.closed_at is None:  # an open trade's PnL so far is not its R
            row["r_multiple"] = None
        row["entry_bar"], row["exit_bar"] = rt.opened_at, rt.closed_at
        row["exit_legs"] = "+".join(row["exit_legs"])
        row["trade_keys"] = ", ".join(row["trade_keys"])
        rows.append(row)
    columns = ["symbol", "direction", "status", "entry_bar", "exit_bar", "qty", "entry_price",
               "stop_loss", "exit_price", "exit_legs", "realized_pnl", "fees", "net_pnl",
               "r_multiple", "trade_keys"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["r_multiple"] = pd.to_numeric(frame["r_multiple"], errors="coerce")
    frame["exit_bar"] = pd.to_datetime(frame["exit_bar"], utc=True)
    return frame.iloc[::-1].reset_index(drop=True)


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
