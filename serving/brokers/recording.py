"""The paper broker's orders and fills as ledger events: the same events a live venue leaves.

:class:`LedgerPaperBroker` wraps :class:`~serving.brokers.paper.PaperBroker` (the backtest's
execution model, which writes nothing) and records what a venue broker records
(``docs/trading.md``): per order an ``intent`` with its deterministic client id, its state
moves (``new -> submitted -> accepted -> filled``/``cancelled``) and its ``fill`` events, the
protective stop and take-profits placed once the entry fills (reduce-only), a new stop before
the old one is cancelled, the other legs cancelled when the trade closes. So the dashboard and
the service read paper and live trading from one ledger with one fold.

The events are not written here: they are buffered (:meth:`LedgerPaperBroker.drain`) so the
trading loop appends a bar's events in one transaction. Every event carries a deduplication
key derived from the order and its move, so appending the same bar again after a crash stores
nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from serving.brokers.ccxt import request_origin
from serving.brokers.paper import PaperBroker
from serving.ledger.events import FillRecord, LedgerEvent, OrderIntent, fill_event, intent_event
from serving.ledger.events import state_event as _state_event
from serving.order_state import FINAL, QTY_TOLERANCE, Leg, OrderState, client_order_id
from serving.orders import BrokerAnswer, BrokerEvent, Fill, OrderRequest
from serving.runtime.clock import Clock


@dataclass
class _Order:
    intent: OrderIntent
    state: OrderState = "new"
    filled: float = 0.0
    moves: int = 0


@dataclass
class _Trade:
    key: str
    legs: dict[Leg, str] = field(default_factory=dict)  # the current order of each leg
    stop: float | None = None
    open_qty: float = 0.0


class LedgerPaperBroker:
    """A :class:`PaperBroker` whose orders and fills become ledger events (buffered)."""

    def __init__(self, inner: PaperBroker, symbol: str, clock: Clock, session: str = "paper"):
        """Wrap ``inner``; ``session`` keeps the client ids of different paper runs apart."""
        self.inner = inner
        self.symbol = symbol
        self.clock = clock
        self.session = session
        self._orders: dict[str, _Order] = {}
        self._trades: dict[int, _Trade] = {}
        self._events: list[LedgerEvent] = []

    # -- events -------------------------------------------------------------------------------

    def drain(self) -> list[LedgerEvent]:
        """Return the events recorded since the last call, in order."""
        out, self._events = self._events, []
        return out

    def _move(self, cid: str, to: OrderState, reason: str = "") -> None:
        o = self._orders[cid]
        at = self.clock.now()
        xid = f"paper-{cid}" if to == "accepted" else None
        e = _state_event(cid, o.state, to, at, reason=reason, exchange_order_id=xid)
        o.moves += 1
        self._events.append(replace(e, dedup=f"state:{cid}:{o.moves}"))
        o.state = to

    def _place(self, intent: OrderIntent) -> str:
        cid = intent.client_order_id
        self._orders[cid] = _Order(intent)
        self._events.append(intent_event(intent, self.clock.now()))
        self._move(cid, "submitted")
        self._move(cid, "accepted", "paper: accepted")
        return cid

    def _cancel(self, cid: str | None, why: str) -> None:
        if cid is None or cid not in self._orders:
            return
        o = self._orders[cid]
        if o.state not in FINAL:
            self._move(cid, "cancelled", why)

    def _intent(
        self, q: OrderRequest | OrderIntent, trade: _Trade, origin: str, leg: Leg, **kw: Any
    ) -> OrderIntent:
        """Return an intent of ``trade`` for the engine's request (or entry) ``q``."""
        decided = q.decided_at if isinstance(q, OrderIntent) else int(q.decided_at.value)
        return OrderIntent(
            client_order_id=client_order_id(origin, leg, 0), origin=origin, leg=leg, attempt=0,
            symbol=self.symbol, trade_id=q.trade_id, slot=q.slot, request_id=q.request_id,
            decided_at=decided, trade_key=trade.key, **kw,
        )  # fmt: skip

    # -- the broker interface -----------------------------------------------------------------

    def submit(self, requests: Sequence[OrderRequest]) -> list[BrokerAnswer]:
        """Accept the requests (the paper broker) and record their orders."""
        answers = self.inner.submit(requests)
        for q in requests:
            getattr(self, f"_on_{q.action}")(q)
        return answers

    def _origin(self, q: OrderRequest) -> str:
        return request_origin(f"{self.session}|{self.symbol}", q)

    def _on_new(self, q: OrderRequest) -> None:
        origin = self._origin(q)
        trade = self._trades[q.trade_id] = _Trade(key=origin, stop=q.stop)
        tps = q.take_profits()
        kind = q.order_type or "market"
        assert q.qty is not None  # a new bracket has its quantity
        intent = self._intent(
            q, trade, origin, "entry", side=q.side, order_type=kind, qty=q.qty, amount=q.qty,
            price=q.price if kind == "limit" else None,
            stop_price=q.price if kind == "stop" else None,
            stop_loss=q.stop, take_profits=tuple(tps),
        )  # fmt: skip
        trade.legs["entry"] = self._place(intent)

    def _on_amend_stop(self, q: OrderRequest) -> None:
        trade = self._trades.get(q.trade_id)
        if trade is None:
            return
        trade.stop = q.stop
        old = trade.legs.get("stop")
        if old is None or trade.open_qty <= 0.0:
            return  # not protected yet: the protection will use the new stop
        side = self._orders[old].intent.side
        intent = self._intent(
            q, trade, self._origin(q), "stop", side=side, order_type="stop",
            qty=trade.open_qty, amount=trade.open_qty, stop_price=q.stop, reduce_only=True,
        )  # fmt: skip
        trade.legs["stop"] = self._place(intent)  # the new stop first: never unprotected
        self._cancel(old, f"replaced by {trade.legs['stop']}")

    def _on_cancel(self, q: OrderRequest) -> None:
        trade = self._trades.get(q.trade_id)
        if trade is not None:
            self._cancel(trade.legs.get("entry"), "the engine cancelled the pending entry")

    def _on_close(self, q: OrderRequest) -> None:
        trade = self._trades.get(q.trade_id)
        if trade is None:
            return
        for leg, cid in trade.legs.items():
            if leg != "entry":
                self._cancel(cid, "the engine closes the trade")
        if trade.open_qty <= 0.0:
            return
        intent = self._intent(
            q, trade, self._origin(q), "close", side=q.side, order_type="market",
            qty=trade.open_qty, amount=trade.open_qty, reduce_only=True,
        )  # fmt: skip
        trade.legs["close"] = self._place(intent)

    def _protect(self, trade: _Trade, entry: OrderIntent) -> None:
        """Place the stop and take-profits of a filled entry (reduce-only)."""
        qty = trade.open_qty
        side = "sell" if entry.side == "buy" else "buy"
        base = {"side": side, "reduce_only": True}
        if trade.stop is not None:
            trade.legs["stop"] = self._place(self._intent(
                entry, trade, entry.origin, "stop", order_type="stop", qty=qty, amount=qty,
                stop_price=trade.stop, **base,
            ))  # fmt: skip
        left = qty
        for i, (price, frac) in enumerate(entry.take_profits):
            last = i == len(entry.take_profits) - 1
            part = left if last else qty * frac
            left -= part
            leg: Leg = "tp3" if last else ("tp1", "tp2")[min(i, 1)]
            trade.legs[leg] = self._place(self._intent(
                entry, trade, entry.origin, leg, order_type="limit", qty=part, amount=part,
                price=price, **base,
            ))  # fmt: skip

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[BrokerEvent]:
        """Match the bar (the paper broker) and record each fill with its order."""
        out: list[BrokerEvent] = []
        for f in self.inner.poll(bar, sub_bars):
            out.append(self._book(f) if isinstance(f, Fill) else f)
        return out

    def _book(self, f: Fill) -> Fill:
        trade = self._trades.get(f.trade_id)
        cid = trade.legs.get(f.kind) if trade is not None else None
        if trade is None or cid is None:
            return f  # not ours to record (cannot happen with requests sent through here)
        o = self._orders[cid]
        o.filled += f.qty
        tid = f"{cid}-f{o.moves}"  # unique: each fill moves its order once
        record = FillRecord(
            venue_trade_id=tid, exchange_order_id=f"paper-{cid}", client_order_id=cid,
            symbol=self.symbol, side=f.side, price=f.price, qty=f.qty, fee=f.fee,
            maker=f.maker, filled_at=f.filled_at,
        )  # fmt: skip
        self._events.append(fill_event(record, self.clock.now()))
        adds_up = o.filled >= o.intent.qty * (1.0 - QTY_TOLERANCE)
        self._move(cid, "filled" if adds_up else "partially_filled", "paper fill")
        if f.kind == "entry":
            trade.open_qty += f.qty
            if adds_up:
                self._protect(trade, o.intent)
        else:
            trade.open_qty = max(trade.open_qty - f.qty, 0.0)
        if f.closes_position:
            trade.open_qty = 0.0
            for other in trade.legs.values():
                self._cancel(other, "the trade is closed")
            self._trades.pop(f.trade_id, None)
        return replace(f, exchange_order_id=f"paper-{cid}", exchange_trade_id=tid,
                       client_order_id=cid)  # fmt: skip
