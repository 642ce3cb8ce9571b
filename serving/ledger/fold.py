"""Current orders, positions and equity, derived from the ledger's events (a pure fold).

Nothing in the ledger is current state: :func:`fold` reads the events in order and returns a
:class:`LedgerView`. Fills are counted once per venue trade id and linked to their order by
client id or, for a fill that arrived before its order's acknowledgement, by the exchange's
order id once a later event names it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from serving.ledger.events import FillRecord, LedgerEvent, OrderIntent
from serving.order_state import FINAL, QTY_TOLERANCE, OrderState


@dataclass
class OrderView:
    """One order as the ledger knows it now.

    Attributes:
        intent: What we meant to send.
        state: Its current state.
        exchange_order_id: The exchange's id, once known.
        fills: Its executions, by venue trade id.
        reason: Why it is in its state (the last state event's reason).
        misses: Reconciliation lookups that did not find it since its last state change.
        history: The states it went through, in order.
    """

    intent: OrderIntent
    state: OrderState = "new"
    exchange_order_id: str | None = None
    fills: dict[str, FillRecord] = field(default_factory=dict)
    reason: str = ""
    misses: int = 0
    history: list[OrderState] = field(default_factory=lambda: ["new"])

    @property
    def client_order_id(self) -> str:
        """Our id of the order."""
        return self.intent.client_order_id

    @property
    def filled_qty(self) -> float:
        """Executed quantity so far (base units)."""
        return math.fsum(f.qty for f in self.fills.values())

    @property
    def avg_price(self) -> float | None:
        """Volume-weighted execution price (None before any fill)."""
        q = self.filled_qty
        if q <= 0.0:
            return None
        return math.fsum(f.qty * f.price for f in self.fills.values()) / q

    @property
    def fills_add_up(self) -> bool:
        """Whether its fills add up to its quantity."""
        return self.filled_qty >= self.intent.qty * (1.0 - QTY_TOLERANCE)

    @property
    def final(self) -> bool:
        """Whether it can change no more."""
        return self.state in FINAL


@dataclass
class PositionView:
    """Net position of one symbol from our fills (base units, signed) and its realized PnL."""

    qty: float = 0.0
    avg_price: float = 0.0
    realized: float = 0.0
    fees: float = 0.0
    funding: float = 0.0

    def apply(self, side: str, qty: float, price: float, fee: float) -> None:
        """Apply one execution (average-cost accounting)."""
        signed = qty if side == "buy" else -qty
        self.fees += fee
        if self.qty == 0.0 or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg_price = (self.avg_price * self.qty + price * signed) / total
            self.qty = total
            return
        closing = min(abs(signed), abs(self.qty))
        direction = 1.0 if self.qty > 0 else -1.0
        self.realized += closing * (price - self.avg_price) * direction
        rest = self.qty + signed
        if abs(rest) <= QTY_TOLERANCE * max(abs(self.qty), 1.0):
            self.qty, self.avg_price = 0.0, 0.0
        elif (rest > 0) != (self.qty > 0):  # flipped through zero
            self.qty, self.avg_price = rest, price
        else:
            self.qty = rest


@dataclass
class LedgerView:
    """Everything current, derived from the events.

    Attributes:
        orders: Our orders by client id.
        by_exchange_id: Client id by the exchange's order id.
        fills: Every fill by venue trade id (linked or not).
        unlinked: Venue trade ids of fills whose order is not known yet.
        positions: Our net position per symbol.
        balances: The exchange's last reported balance per currency (total).
        exchange_positions: The exchange's last reported position per symbol (base units).
        external: Orders at the exchange that are not ours, by exchange order id.
        corrections: Bodies of the correction events, in order.
        halted: Why trading is halted (None: not halted).
        last_seq: Sequence number of the last event folded.
    """

    orders: dict[str, OrderView] = field(default_factory=dict)
    by_exchange_id: dict[str, str] = field(default_factory=dict)
    fills: dict[str, FillRecord] = field(default_factory=dict)
    unlinked: list[str] = field(default_factory=list)
    positions: dict[str, PositionView] = field(default_factory=dict)
    balances: dict[str, float] = field(default_factory=dict)
    exchange_positions: dict[str, float] = field(default_factory=dict)
    external: dict[str, dict[str, Any]] = field(default_factory=dict)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    halted: str | None = None
    last_seq: int = 0

    def open_orders(self) -> list[OrderView]:
        """Return the orders that are not final, in the order they were intended."""
        return [o for o in self.orders.values() if not o.final]

    def in_state(self, *states: OrderState) -> list[OrderView]:
        """Return the orders in any of ``states``."""
        return [o for o in self.orders.values() if o.state in states]

    def equity(self, start_cash: float, marks: dict[str, float] | None = None) -> float:
        """Return cash plus realized and (with ``marks``) unrealized PnL, less fees."""
        total = start_cash
        for symbol, p in self.positions.items():
            total += p.realized - p.fees + p.funding
            if marks and symbol in marks and p.qty:
                total += p.qty * (marks[symbol] - p.avg_price)
        return total


def _link(view: LedgerView, fill: FillRecord) -> bool:
    cid = fill.client_order_id or view.by_exchange_id.get(fill.exchange_order_id or "")
    order = view.orders.get(cid or "")
    if order is None:
        return False
    order.fills[fill.venue_trade_id] = fill
    return True


def fold(events: Iterable[LedgerEvent], view: LedgerView | None = None) -> LedgerView:
    """Return the current view after ``events`` (continuing ``view`` when given, in place)."""
    v = view if view is not None else LedgerView()
    for e in events:
        b = e.body
        if e.kind == "intent":
            intent = OrderIntent.from_body(b)
            v.orders.setdefault(intent.client_order_id, OrderView(intent=intent))
        elif e.kind == "state" and e.ref in v.orders:
            o = v.orders[e.ref]
            o.state = b["to"]
            o.history.append(b["to"])
            o.reason = b.get("reason", "")
            o.misses = 0
            xid = b.get("exchange_order_id")
            if xid:
                o.exchange_order_id = xid
                v.by_exchange_id[xid] = e.ref
                still = []
                for tid in v.unlinked:
                    if not _link(v, v.fills[tid]):
                        still.append(tid)
                v.unlinked = still
        elif e.kind == "correction":
            v.corrections.append(dict(b))
            if b.get("what") == "miss" and e.ref in v.orders:
                v.orders[e.ref].misses += 1
        elif e.kind == "fill":
            fill = FillRecord.from_body(b)
            if fill.venue_trade_id in v.fills:
                continue  # the store refuses duplicates; a merged ledger may not
            v.fills[fill.venue_trade_id] = fill
            v.positions.setdefault(fill.symbol, PositionView()).apply(
                fill.side, fill.qty, fill.price, fill.fee
            )
            if not _link(v, fill):
                v.unlinked.append(fill.venue_trade_id)
        elif e.kind == "funding":
            v.positions.setdefault(b["symbol"], PositionView()).funding += float(b["amount"])
        elif e.kind == "balance":
            v.balances[b["currency"]] = float(b["total"])
        elif e.kind == "position":
            v.exchange_positions[b["symbol"]] = float(b["qty"])
        elif e.kind == "external":
            v.external[e.ref] = dict(b)
        elif e.kind == "halt":
            v.halted = b["reason"]
        elif e.kind == "resume":
            v.halted = None
        if e.seq is not None:
            v.last_seq = max(v.last_seq, e.seq)
    return v
