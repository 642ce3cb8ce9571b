"""Reconciliation: the ledger's view against what the exchange shows, as pure decisions.

:func:`reconcile` takes the folded ledger (:class:`~serving.ledger.LedgerView`) and one
:class:`VenueSnapshot` (open orders, recent fills, positions, and the answers to lookups by
client id) and returns the ledger events that correct the view, the intents to send again,
and a halt reason when the books disagree on a position. The broker gathers the snapshot and
applies the result; nothing here talks to an exchange or a database.

Rules (``docs/trading.md``):

1. A fill the ledger lacks is recorded (once, by venue trade id) and linked to its order.
2. An order of ours that the exchange shows moves to the state the exchange reports; a
   ``closed`` order is ``filled`` only when its fills add up, ``partially_filled`` until then.
3. An ``unresolved`` (or ``submitted``, after a restart) order that a lookup by client id
   does not find, that is not among the open orders and has no fill, counts a miss; after
   ``misses_to_reject`` misses it is ``rejected`` (it never reached the exchange) and sent
   again with the next attempt number. A failed lookup decides nothing.
4. A working order (``accepted``, ``partially_filled``) the exchange no longer shows counts a
   miss; after ``misses_to_lost`` it is ``lost``, and lost orders are looked up every time
   until the exchange reports them final.
5. An open order at the exchange that is not ours is tagged ``external`` and left alone.
6. A position that differs from the ledger's (fills read in the same snapshot) halts trading
   with the reason; the broker confirms it with a second read first.

Every change is an event: state changes carry the reason, misses and resolutions are
``correction`` events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pandas as pd

from serving.ledger.events import (
    FillRecord,
    LedgerEvent,
    OrderIntent,
    correction_event,
    fill_event,
    halt_event,
    state_event,
)
from serving.ledger.fold import LedgerView, OrderView
from serving.order_state import (
    LIVE,
    TRANSITIONS,
    OrderState,
    is_ours,
    parse_client_order_id,
)


@dataclass(frozen=True)
class VenueOrder:
    """One order as the exchange shows it (quantities in base units).

    Attributes:
        exchange_order_id: The exchange's id.
        client_order_id: The client id it was sent with (None: none).
        status: ccxt's unified status: ``open``, ``closed``, ``canceled``, ``expired``,
            ``rejected``.
        qty: Ordered quantity.
        filled: Executed quantity.
        symbol: Unified market symbol.
    """

    exchange_order_id: str
    client_order_id: str | None
    status: str
    qty: float
    filled: float
    symbol: str = ""


@dataclass(frozen=True)
class VenueSnapshot:
    """What the exchange showed at one time.

    Attributes:
        at: When it was taken (UTC).
        open_orders: Its open orders.
        fills: Its recent fills (the window must reach back past the last recorded fill).
        positions: Net position per symbol (base units); a symbol left out was not read.
        lookups: Answers to lookups by client id: the order, or None for a definite "no such
            order"; a client id left out was not looked up or the lookup failed.
        open_orders_read: Whether ``open_orders`` was read (False: the call failed, so an
            order missing from it proves nothing).
        fills_read: Whether ``fills`` was read (False: positions cannot be compared).
    """

    at: pd.Timestamp
    open_orders: tuple[VenueOrder, ...] = ()
    fills: tuple[FillRecord, ...] = ()
    positions: Mapping[str, float] = field(default_factory=dict)
    lookups: Mapping[str, VenueOrder | None] = field(default_factory=dict)
    open_orders_read: bool = True
    fills_read: bool = True


@dataclass(frozen=True)
class ReconcileConfig:
    """Thresholds of reconciliation.

    Attributes:
        misses_to_reject: Definite "not found" answers before an unresolved order is declared
            rejected and resubmitted.
        misses_to_lost: Times a working order may be missing before it is ``lost``.
        position_tolerance: Relative difference of positions taken as equal.
    """

    misses_to_reject: int = 3
    misses_to_lost: int = 3
    position_tolerance: float = 1e-9


@dataclass(frozen=True)
class Reconciliation:
    """What reconciliation decided.

    Attributes:
        events: Ledger events to append, in order.
        resubmit: Intents to send again (next attempt number).
        halt: Why trading must stop (None: books agree).
    """

    events: list[LedgerEvent]
    resubmit: list[OrderIntent]
    halt: str | None


_STATUS: dict[str, OrderState] = {
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "expired": "expired",
    "rejected": "rejected",
}


def _target(order: OrderView, venue: VenueOrder, filled_qty: float) -> OrderState:
    if venue.status in _STATUS:
        return _STATUS[venue.status]
    done = filled_qty >= order.intent.qty * (1.0 - 1e-9)
    if venue.status == "closed":
        return "filled" if done else "partially_filled"
    return "partially_filled" if filled_qty > 0.0 else "accepted"


def _move(
    events: list[LedgerEvent],
    order: OrderView,
    current: OrderState,
    to: OrderState,
    at: pd.Timestamp,
    reason: str,
    xid: str | None,
) -> OrderState:
    new_xid = xid is not None and xid != order.exchange_order_id
    if to == current and not (new_xid and to in TRANSITIONS[current]):
        return current
    events.append(state_event(order.client_order_id, current, to, at, reason=reason,
                              exchange_order_id=xid))  # fmt: skip
    return to


def reconcile(
    view: LedgerView, snapshot: VenueSnapshot, config: ReconcileConfig | None = None
) -> Reconciliation:
    """Return the corrections that make the ledger agree with ``snapshot``."""
    cfg = config or ReconcileConfig()
    at = snapshot.at
    events: list[LedgerEvent] = []
    resubmit: list[OrderIntent] = []
    by_cid = {o.client_order_id: o for o in snapshot.open_orders if o.client_order_id}
    by_xid = {o.exchange_order_id: o for o in snapshot.open_orders}
    for v in snapshot.lookups.values():
        if v is not None:
            by_xid.setdefault(v.exchange_order_id, v)
    xid_to_cid = dict(view.by_exchange_id)
    for o in list(snapshot.open_orders) + [v for v in snapshot.lookups.values() if v]:
        if o.client_order_id in view.orders:
            xid_to_cid[o.exchange_order_id] = o.client_order_id

    # 1: fills the ledger lacks
    new_fills: dict[str, list[FillRecord]] = {}
    fresh: dict[str, FillRecord] = {}
    for f in snapshot.fills:  # a venue may list a fill twice (pages overlap): once here
        if f.venue_trade_id not in view.fills:
            fresh.setdefault(f.venue_trade_id, f)
    for f in fresh.values():
        cid = f.client_order_id or xid_to_cid.get(f.exchange_order_id or "")
        f = replace(f, client_order_id=cid)
        events.append(fill_event(f, at))
        if cid:
            new_fills.setdefault(cid, []).append(f)

    # 2-4: our orders that are not final
    for order in view.open_orders():
        cid = order.client_order_id
        filled = order.filled_qty + math.fsum(f.qty for f in new_fills.get(cid, []))
        venue = snapshot.lookups.get(cid) or by_cid.get(cid)
        if venue is None and order.exchange_order_id:
            venue = by_xid.get(order.exchange_order_id)
        state = order.state
        if state == "submitted":
            state = _move(events, order, state, "unresolved", at,
                          "no answer to the create call on record", None)  # fmt: skip
        if venue is not None:
            to = _target(order, venue, filled)
            before = state
            if to in TRANSITIONS[state] or to == state:
                reason = f"exchange reports it {venue.status}"
                state = _move(events, order, state, to, at, reason, venue.exchange_order_id)
            if before in ("unresolved", "lost") and state != before:
                events.append(correction_event(
                    "resolved", f"{before} order found at the exchange: {state}", at, ref=cid,
                ))  # fmt: skip
            continue
        if filled >= order.intent.qty * (1.0 - 1e-9):
            _move(events, order, state, "filled", at, "its fills add up", None)
            continue
        if filled > 0.0 and state == "unresolved":
            # fills prove it reached the exchange even though no lookup found it yet
            state = _move(events, order, state, "partially_filled", at,
                          "fills found for it", None)  # fmt: skip
            continue
        looked_up = cid in snapshot.lookups  # present with None: a definite "not found"
        if state == "unresolved" and looked_up:
            misses = order.misses + 1
            if misses < cfg.misses_to_reject:
                events.append(correction_event(
                    "miss", f"not at the exchange (lookup {misses} of "
                    f"{cfg.misses_to_reject})", at, ref=cid,
                ))  # fmt: skip
                continue
            _move(events, order, state, "rejected", at,
                  f"not at the exchange after {misses} lookups by client id", None)  # fmt: skip
            parts = parse_client_order_id(cid)
            if parts is not None:
                nxt = parts.next_attempt()
                resubmit.append(replace(
                    order.intent, client_order_id=nxt, attempt=parts.attempt + 1, replaces=cid
                ))  # fmt: skip
                events.append(correction_event(
                    "resubmit", f"{cid} never reached the exchange; sent again as {nxt}", at,
                    ref=cid,
                ))  # fmt: skip
        elif state in LIVE and (looked_up or (
            snapshot.open_orders_read and order.exchange_order_id not in by_xid
        )):  # fmt: skip
            misses = order.misses + 1
            if misses < cfg.misses_to_lost:
                events.append(correction_event(
                    "miss", f"working order missing at the exchange ({misses} of "
                    f"{cfg.misses_to_lost})", at, ref=cid,
                ))  # fmt: skip
            else:
                _move(events, order, state, "lost", at,
                      f"missing at the exchange {misses} times in a row", None)  # fmt: skip

    # 5: orders at the exchange that are not ours
    for o in snapshot.open_orders:
        known = o.client_order_id in view.orders or o.exchange_order_id in view.by_exchange_id
        if known or o.exchange_order_id in view.external:
            continue
        note = "our id format but not in the ledger" if is_ours(o.client_order_id) else "not ours"
        events.append(LedgerEvent("external", o.exchange_order_id, {
            "client_order_id": o.client_order_id, "symbol": o.symbol, "status": o.status,
            "qty": o.qty, "note": note,
        }, at))  # fmt: skip

    # 6: positions
    halt = None
    ours: dict[str, float] = {s: p.qty for s, p in view.positions.items()}
    for f in fresh.values():
        ours[f.symbol] = ours.get(f.symbol, 0.0) + (f.qty if f.side == "buy" else -f.qty)
    for symbol, theirs in snapshot.positions.items():
        if view.exchange_positions.get(symbol) != theirs:
            events.append(LedgerEvent("position", symbol, {"symbol": symbol, "qty": theirs}, at))
        if not snapshot.fills_read:
            continue  # without the fills, the ledger's position is not up to date
        mine = ours.get(symbol, 0.0)
        scale = max(abs(mine), abs(theirs), 1e-12)
        if abs(mine - theirs) > cfg.position_tolerance * scale + 1e-12:
            halt = (
                f"position mismatch on {symbol}: ledger {mine:g}, exchange {theirs:g}; "
                "trading halted until a person checks it"
            )
    if halt is not None and view.halted != halt:
        events.append(halt_event(halt, at))
    return Reconciliation(events=events, resubmit=resubmit, halt=halt)
