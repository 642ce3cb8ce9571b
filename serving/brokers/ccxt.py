"""A broker for ccxt venues (Delta Exchange first, Binance USDT-M second, others generic).

Submission discipline: every order is first written to the ledger as an intent with its
deterministic client id and marked ``submitted``, in one transaction; then ``create_order``
is called once. A definite refusal (invalid order, insufficient funds, bad symbol,
authentication) is a ``rejected`` order and a :class:`~serving.orders.Rejection`; anything
else that goes wrong (timeout, network, 5xx, rate limit, an error ccxt cannot map) leaves the
order ``unresolved`` and nothing is retried blindly: :meth:`CcxtBroker.poll` and
:meth:`CcxtBroker.start` reconcile (``serving.reconcile``), looking unresolved orders up by
client id. An intent already in the ledger is never sent again: the same request after a
restart finds its client id there. Exits (stops, take-profits, closes) are reduce-only.
Exception texts are scrubbed of the API key and secret before they are stored or raised.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from serving.brokers.venues.base import VenueQuirks, WeightedWindow, quirks_for, settle_currency
from serving.ledger.events import (
    FillRecord,
    LedgerEvent,
    OrderIntent,
    balance_event,
    correction_event,
    funding_event,
    halt_event,
    intent_event,
    resume_event,
    state_event,
)
from serving.ledger.fold import LedgerView, OrderView, fold
from serving.ledger.store import Ledger
from serving.order_state import LIVE, TRANSITIONS, Leg, OrderState, client_order_id
from serving.orders import Ack, BrokerAnswer, BrokerEvent, Fill, OrderRequest, Rejection
from serving.reconcile import (
    ReconcileConfig,
    Reconciliation,
    VenueOrder,
    VenueSnapshot,
    reconcile,
)
from serving.runtime.clock import Clock

log = logging.getLogger(__name__)

_ORIGINS = uuid.UUID("6f1d8c3e-2b7a-4c55-9e0f-5a1b2c3d4e5f")
_EXITS: tuple[Leg, ...] = ("stop", "tp1", "tp2", "tp3", "close")
_AT_ONCE: dict[str, OrderState] = {
    "canceled": "cancelled",
    "expired": "expired",
    "rejected": "rejected",
}


class BrokerConfigError(ValueError):
    """The broker was configured with something that cannot work (unknown venue, no keys)."""


class VenueUnavailable(RuntimeError):
    """The exchange could not be reached; nothing was sent."""


class TradingHalted(RuntimeError):
    """Reconciliation found the books disagree; trading stays halted until a person re-arms it."""


def make_exchange(
    venue: str, api_key: str | None, secret: str | None, *, testnet: bool = True
) -> Any:
    """Return a ccxt exchange object for ``venue`` (its testnet unless ``testnet`` is False).

    Nothing is sent until the broker starts. The credentials live only in the returned
    object; errors name the missing field, never its value.
    """
    import ccxt

    if venue not in ccxt.exchanges:
        raise BrokerConfigError(
            f"venue: {venue!r} is not a ccxt exchange id (e.g. delta, binanceusdm)"
        )
    missing = [name for name, value in (("api_key", api_key), ("secret", secret)) if not value]
    if missing:
        raise BrokerConfigError(f"{', '.join(missing)}: needed to trade on {venue}")
    exchange = getattr(ccxt, venue)(
        {"apiKey": api_key, "secret": secret, "enableRateLimit": True, "timeout": 10_000}
    )
    if testnet:
        exchange.set_sandbox_mode(True)
    return exchange


def request_origin(symbol: str, request: OrderRequest) -> str:
    """Return the stable id of the decision behind a request.

    The signal id names a bar's decision for a symbol; one bar may also amend or close other
    trades, so an order's origin adds the engine's trade and the action. The same bar decided
    again (a replay after a restart) gives the same origin, hence the same client ids.
    """
    key = f"{symbol}|{request.decided_at.value}|{request.trade_id}|{request.action}"
    return str(uuid.uuid5(_ORIGINS, key))


@dataclass(frozen=True)
class CcxtBrokerConfig:
    """Settings of one broker (one symbol on one venue).

    Attributes:
        symbol: Unified market symbol (``BTC/USDT:USDT`` on Delta).
        reconcile: Reconciliation thresholds.
        dead_man_s: Arm the venue's cancel-after switch for this long at every poll (0: off).
        entry_resubmit_s: An entry that never reached the exchange is sent again only this
            soon after it was decided; later, the engine gets a rejection.
        fills_lookback_s: How far back each poll reads our fills (further when the newest
            fill on record is older: the gap of a restart).
        account_every_s: Read the venue's balance and funding payments at most this often
            (0: at every reconciliation).
        funding_lookback_s: How far back the first read of funding payments goes (later
            reads start at the newest payment on record).
    """

    symbol: str
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    dead_man_s: float = 0.0
    entry_resubmit_s: float = 300.0
    fills_lookback_s: float = 3600.0
    account_every_s: float = 0.0
    funding_lookback_s: float = 86_400.0


class CcxtBroker:
    """Send the engine's requests to a ccxt exchange, with the ledger as the source of truth."""

    def __init__(
        self,
        exchange: Any,
        ledger: Ledger,
        clock: Clock,
        config: CcxtBrokerConfig,
        quirks: VenueQuirks | None = None,
        origin: Callable[[str, OrderRequest], str] = request_origin,
        limiter: WeightedWindow | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap an exchange object (ccxt's, or a fake with its interface); read the ledger.

        ``limiter`` keeps a weighted call budget (Delta's 5-minute window); ``sleep`` and
        ``monotonic`` are injected so tests need not wait.
        """
        self.x = exchange
        self.ledger = ledger
        self.clock = clock
        self.config = config
        self.quirks = quirks or quirks_for(str(getattr(exchange, "id", "")))
        self._origin = origin
        events = ledger.events()
        self.view: LedgerView = fold(events)
        paid = [int(e.body["paid_at"]) // 1_000_000 for e in events
                if e.kind == "funding" and e.body.get("symbol") == config.symbol]  # fmt: skip
        self._funding_ms: int | None = max(paid, default=None)  # the newest payment on record
        self._balance: tuple[float, float | None, float | None] | None = None
        self._account_at: float | None = None
        # while the loop re-runs recorded bars: hand the engine only the fills booked by the
        # time the bar was first handled, and ask the venue nothing (start() reconciled)
        self.hand_until: pd.Timestamp | None = None
        self._requests: dict[str, OrderRequest] = {}
        # fills booked before this process started belong to the previous process's engine
        # (unless :meth:`restore` says which of them the engine has seen)
        self._emitted: set[str] = set(self.view.fills)
        self._engine_trades: set[str] = set()  # the trades the engine asked for
        self._gated = False
        self._stops: dict[str, float] = {}
        self._market: Mapping[str, Any] | None = None
        self.limiter = limiter
        self._sleep = sleep
        self._monotonic = monotonic

    # -- plumbing -----------------------------------------------------------------------------

    def _scrub(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in (getattr(self.x, "apiKey", None), getattr(self.x, "secret", None)):
            if secret:
                text = text.replace(str(secret), "***")
        return text[:500]

    def _call(self, method: str, *args: Any) -> Any:
        """Call the exchange, first waiting until the call fits the venue's weighted budget."""
        if self.limiter is not None:
            wait = self.limiter.wait_s(method, self._monotonic())
            if wait > 0.0:
                self._sleep(wait)
            self.limiter.spend(method, self._monotonic())
        return getattr(self.x, method)(*args)

    def _record(self, events: Sequence[LedgerEvent]) -> list[int | None]:
        seqs = self.ledger.append(events)
        fold([replace(e, seq=s) for e, s in zip(events, seqs, strict=True) if s is not None],
             self.view)  # fmt: skip
        return seqs

    @property
    def market(self) -> Mapping[str, Any]:
        """The symbol's market (loaded at start)."""
        if self._market is None:
            self._market = self.x.market(self.config.symbol)
        return self._market

    def _now(self) -> pd.Timestamp:
        return self.clock.now()

    # -- start-up -----------------------------------------------------------------------------

    def start(self) -> Reconciliation:
        """Load the market, align the clock, reconcile with the exchange; send nothing new.

        Raises:
            VenueUnavailable: The exchange does not answer (nothing was sent or changed).
            TradingHalted: The exchange's position differs from the ledger's.
        """
        try:
            self._call("load_markets")
            self._market = self.x.market(self.config.symbol)
            self.quirks.sync_clock(self.x)
        except Exception as exc:
            if self.quirks.classify(exc) == "rejected":
                raise VenueUnavailable(
                    f"{self.quirks.name}: {self._scrub(exc)}; check the symbol and credentials"
                ) from None
            raise VenueUnavailable(
                f"{self.quirks.name} is not answering ({self._scrub(exc)}); nothing was sent"
            ) from None
        rec = self.reconcile()
        if rec.halt:
            raise TradingHalted(rec.halt)
        return rec

    @property
    def handed(self) -> frozenset[str]:
        """The venue trade ids of the fills handed to the engine (or booked before start)."""
        return frozenset(self._emitted)

    @property
    def engine_trades(self) -> frozenset[str]:
        """The keys of the trades the engine has sent requests for."""
        return frozenset(self._engine_trades)

    def restore(self, handed: Iterable[str] = (), trades: Iterable[str] = ()) -> None:
        """Take up an engine rebuilt from a checkpoint or the ledger: hand it what it missed.

        ``handed`` and ``trades`` are :attr:`handed` and :attr:`engine_trades` as the
        checkpoint saved them (none: an engine rebuilt from the ledger's bars alone). Every
        other fill the ledger holds (booked by the process that died, or by :meth:`start`'s
        reconciliation) goes to the engine at a poll, once the engine knows its trade (at
        once for a trade it knew at the checkpoint, after a re-run bar asks for it again for
        one decided later) and, while bars are re-run, once the re-run reaches its time
        (:attr:`hand_until`).
        """
        self._emitted = set(handed)
        self._engine_trades |= set(trades)
        self._gated = True

    # -- submit ------------------------------------------------------------------------------

    def submit(self, requests: Sequence[OrderRequest]) -> list[BrokerAnswer]:
        """Send the engine's requests; return acks and definite refusals (not unresolved)."""
        answers: list[BrokerAnswer] = []
        for q in requests:
            answer = getattr(self, f"_on_{q.action}")(q)
            if answer is not None:
                answers.append(answer)
        return answers

    def _make(
        self, origin: str, leg: Leg, qty: float, trade_id: int, slot: int, request_id: int,
        **kw: Any,
    ) -> OrderIntent:  # fmt: skip
        """Return an intent (attempt 0) for ``qty`` rounded down to what the venue can trade."""
        amount = self.quirks.amount(self.market, qty)
        if amount > 0.0:
            qty = self.quirks.base_qty(self.market, amount)
        return OrderIntent(
            client_order_id=client_order_id(origin, leg, 0), origin=origin, leg=leg, attempt=0,
            symbol=self.config.symbol, qty=qty, amount=amount, trade_id=trade_id, slot=slot,
            request_id=request_id, **kw,
        )  # fmt: skip

    def _intent(self, q: OrderRequest, leg: Leg, origin: str, **kw: Any) -> OrderIntent:
        qty = float(kw.pop("qty"))
        kw.setdefault("decided_at", int(q.decided_at.value))
        return self._make(origin, leg, qty, q.trade_id, q.slot, q.request_id, **kw)

    def _refuse(self, intent: OrderIntent, q: OrderRequest, reason: str) -> Rejection:
        now = self._now()
        self._record([
            intent_event(intent, now),
            state_event(intent.client_order_id, "new", "rejected", now, reason=reason),
        ])  # fmt: skip
        return Rejection(request=q, reason=reason, at=now)

    def _check(self, intent: OrderIntent, q: OrderRequest) -> str | None:
        amount = self.quirks.amount(self.market, intent.qty)
        least = self.quirks.min_amount(self.market)
        if amount <= 0.0 or amount < least:
            unit = self.quirks.base_qty(self.market, max(least, 1e-12))
            return (
                f"qty {intent.qty:g} is below {self.quirks.name}'s minimum order of "
                f"{least:g} (= {unit:g} {self.config.symbol.split('/')[0]}); nothing sent"
            )
        entry = q.price
        if q.action == "new" and entry is not None and q.stop is not None:
            wrong = q.stop >= entry if q.direction > 0 else q.stop <= entry
            if wrong:
                side = "below" if q.direction > 0 else "above"
                return f"stop {q.stop:g} must be {side} the entry {entry:g}; nothing sent"
        return None

    def _send(self, intent: OrderIntent, q: OrderRequest | None) -> BrokerAnswer | None:
        cid = intent.client_order_id
        if q is not None:
            self._requests[cid] = q
            self._engine_trades.add(intent.trade_key)
        known = self.view.orders.get(cid)
        if known is not None:  # sent before (a replay after a restart): never twice
            return self._answer(known, q)
        problem = self._check(intent, q) if q is not None else None
        if problem is not None and q is not None:
            self._requests.pop(cid, None)
            return self._refuse(intent, q, problem)
        now = self._now()
        amount = self.quirks.amount(self.market, intent.qty)
        intent = replace(intent, amount=amount)
        stored = self._record([intent_event(intent, now),
                               state_event(cid, "new", "submitted", now)])  # fmt: skip
        if stored[0] is None:
            return None
        kind, price, params = self.quirks.create_args(intent, amount)
        try:
            order = self._call(
                "create_order", self.config.symbol, kind, intent.side, amount, price, params
            )
        except Exception as exc:
            reason = self._scrub(exc)
            if self.quirks.clock_error(exc):
                self._resync()
            outcome = self.quirks.classify(exc)
            at = self._now()
            self._record([state_event(cid, "submitted", outcome, at, reason=reason)])
            log.warning("order %s %s: %s", cid, outcome, reason)
            if outcome == "rejected" and q is not None:
                self._requests.pop(cid, None)
                return Rejection(request=q, reason=reason, at=at)
            return None
        xid = str(order["id"])
        status = str(order.get("status") or "open")
        to: OrderState = _AT_ONCE.get(status, "accepted")
        at = self._now()
        self._record([state_event(cid, "submitted", to, at, reason=f"create answered {status}",
                                  exchange_order_id=xid)])  # fmt: skip
        if q is None:
            return None
        if to == "accepted":
            return Ack(request=q, exchange_order_id=xid, at=at)
        self._requests.pop(cid, None)
        return Rejection(request=q, reason=f"the exchange {status} it at once", at=at,
                         exchange_order_id=xid)  # fmt: skip

    def _answer(self, order: OrderView, q: OrderRequest | None) -> BrokerAnswer | None:
        if q is None:
            return None
        at = self._now()
        if order.state == "rejected":
            self._requests.pop(order.client_order_id, None)
            return Rejection(request=q, reason=order.reason or "rejected", at=at)
        if order.exchange_order_id and order.state not in ("unresolved", "submitted", "new"):
            return Ack(request=q, exchange_order_id=order.exchange_order_id, at=at)
        return None

    def _resync(self) -> None:
        try:
            offset = self.quirks.sync_clock(self.x)
            self._record([correction_event("clock", f"clock resynchronized ({offset:+.3f} s)",
                                           self._now())])  # fmt: skip
        except Exception as exc:
            log.warning("clock sync failed: %s", self._scrub(exc))

    # -- the engine's actions ---------------------------------------------------------------

    def _on_new(self, q: OrderRequest) -> BrokerAnswer | None:
        if self.view.halted:
            return Rejection(
                request=q, reason=f"trading halted: {self.view.halted}", at=self._now()
            )
        tps = q.take_profits()
        kind = q.order_type or "market"
        origin = self._origin(self.config.symbol, q)
        intent = self._intent(
            q, "entry", origin, trade_key=origin, qty=q.qty, side=q.side,
            order_type=kind, price=q.price if kind == "limit" else None,
            stop_price=q.price if kind == "stop" else None, stop_loss=q.stop,
            take_profits=tuple(tps),
        )  # fmt: skip
        return self._send(intent, q)

    def _trade_key(self, trade_id: int) -> str:
        """Return the key of the engine's trade ``trade_id`` (its latest entry's origin)."""
        key = ""
        for o in self.view.orders.values():  # in ledger order: the latest entry wins
            if o.intent.leg == "entry" and o.intent.trade_id == trade_id:
                key = o.intent.trade_key
        return key

    def _open_keys(self) -> set[str]:
        """Return the keys of this symbol's trades with an open quantity (one pass)."""
        net: dict[str, float] = {}
        for o in self.view.orders.values():
            if o.fills and o.intent.symbol == self.config.symbol:
                sign = 1.0 if o.intent.leg == "entry" else -1.0
                key = o.intent.trade_key
                net[key] = net.get(key, 0.0) + sign * o.filled_qty
        return {key for key, qty in net.items() if qty > 1e-12}

    def _trade_orders(self, key: str) -> list[OrderView]:
        return [o for o in self.view.orders.values() if key and o.intent.trade_key == key]

    def _open_qty(self, key: str, until: tuple[int, str] | None = None) -> float:
        """Return the trade's open quantity, from every fill or from those up to ``until``."""
        net = 0.0
        for o in self._trade_orders(key):
            sign = 1.0 if o.intent.leg == "entry" else -1.0
            for f in o.fills.values():
                if until is None or (f.filled_at.value, f.venue_trade_id) <= until:
                    net += sign * f.qty
        return max(net, 0.0) if net > 1e-12 else 0.0

    def _cancel(self, order: OrderView, why: str) -> None:
        if order.final or not order.exchange_order_id:
            return
        try:
            self._call(
                "cancel_order",
                order.exchange_order_id,
                self.config.symbol,
                self.quirks.cancel_params(order.client_order_id),
            )
        except Exception as exc:  # OrderNotFound: it filled or went; reconciliation decides
            log.warning("cancel %s: %s", order.client_order_id, self._scrub(exc))
            return
        if "cancelled" in TRANSITIONS[order.state]:
            self._record([state_event(order.client_order_id, order.state, "cancelled",
                                      self._now(), reason=why)])  # fmt: skip

    def _on_cancel(self, q: OrderRequest) -> BrokerAnswer | None:
        for o in self._trade_orders(self._trade_key(q.trade_id)):
            if o.intent.leg == "entry":
                self._cancel(o, "the engine cancelled the pending entry")
                if o.filled_qty > 0.0:
                    self._protect(o)  # what did fill is protected
        return None

    def _on_amend_stop(self, q: OrderRequest) -> BrokerAnswer | None:
        assert q.stop is not None  # OrderRequest refuses an amend without a stop
        key = self._trade_key(q.trade_id)
        self._stops[key] = q.stop
        qty = self._open_qty(key)
        old = [o for o in self._trade_orders(key) if o.intent.leg == "stop" and not o.final]
        if qty <= 0.0 or not old:
            return None  # the entry has not filled: its protection will use the new stop
        side = old[0].intent.side
        new = self._intent(q, "stop", self._origin(self.config.symbol, q), qty=qty, side=side,
                           order_type="stop", stop_price=q.stop, reduce_only=True,
                           trade_key=key)  # fmt: skip
        answer = self._send(new, q)  # the new stop first: never unprotected
        for o in old:
            self._cancel(o, f"replaced by {new.client_order_id}")
        return answer

    def _on_close(self, q: OrderRequest) -> BrokerAnswer | None:
        key = self._trade_key(q.trade_id)
        for o in self._trade_orders(key):
            if o.intent.leg in _EXITS or (o.intent.leg == "entry" and o.state in LIVE):
                self._cancel(o, "the engine closes the trade")
        qty = self._open_qty(key)
        if qty <= 0.0:
            return None
        intent = self._intent(q, "close", self._origin(self.config.symbol, q), qty=qty,
                              side=q.side, order_type="market", reduce_only=True,
                              trade_key=key)  # fmt: skip
        return self._send(intent, q)

    def _protect(self, entry: OrderView) -> None:
        """Keep what an entry has filled protected (reduce-only orders).

        A stop covers the filled quantity while the entry is still working too: when more
        fills, a stop for the new quantity goes out first and the smaller one is cancelled
        (never unprotected). The take-profits go out once the entry is done (filled, or
        cancelled with fills), split over its whole filled quantity.
        """
        key = entry.intent.trade_key
        orders = self._trade_orders(key)
        if any(o.intent.leg == "close" or (o.intent.leg in _EXITS and o.fills) for o in orders):
            return  # being closed, or closing already
        qty = entry.filled_qty
        e = entry.intent
        side = "sell" if e.side == "buy" else "buy"
        base = {"side": side, "reduce_only": True, "trade_key": key, "decided_at": e.decided_at}
        todo: list[tuple[str, Leg, float, dict[str, Any]]] = []
        stops = [o for o in orders if o.intent.leg == "stop"]
        live = [o for o in stops if not o.final]
        # the engine's latest stop: amended in this process, else the newest placed (an
        # amendment before a restart), else the entry's own
        stop = self._stops.get(key, live[-1].intent.stop_price if live else e.stop_loss)
        covered = max((o.intent.qty for o in live), default=0.0)
        grown = self.quirks.amount(self.market, qty) > self.quirks.amount(self.market, covered)
        if stop is not None and (not stops or (live and grown)):
            amount = self.quirks.amount(self.market, qty)
            # the first stop of a done entry keeps the entry's origin (its id before partial
            # protection existed); a stop for part of it, or a bigger one, is named by size
            origin = e.origin if not stops and entry.final else f"{e.origin}|cover|{amount:g}"
            todo.append((origin, "stop", qty, {**base, "order_type": "stop", "stop_price": stop}))
        if entry.final and not any(o.intent.leg in ("tp1", "tp2", "tp3") for o in orders):
            left = qty
            tps = e.take_profits
            for i, (price, frac) in enumerate(tps):
                part = left if i == len(tps) - 1 else qty * frac
                part = self.quirks.base_qty(self.market, self.quirks.amount(self.market, part))
                if part <= 0.0:
                    continue
                left -= part
                leg: Leg = "tp3" if i == len(tps) - 1 else ("tp1", "tp2")[min(i, 1)]
                todo.append((e.origin, leg, part, {**base, "order_type": "limit", "price": price}))
        q = self._requests.get(entry.client_order_id)
        for origin, leg, part, kw in todo:
            intent = self._make(origin, leg, part, e.trade_id, e.slot, e.request_id, **kw)
            self._send(intent, None)
            if q is not None:
                self._requests.setdefault(intent.client_order_id, q)
            placed = self.view.orders.get(intent.client_order_id)
            if leg == "stop" and placed is not None and placed.state == "rejected":
                break  # no take-profits for a trade about to close (``_escalate``)
            if leg == "stop":
                for old in live:
                    self._cancel(old, f"replaced by {intent.client_order_id} ({part:g} filled)")

    def _escalate(self, key: str) -> None:
        """Act on a protective stop the venue refused: close at market; a refused close halts.

        A refusal is a definite answer (the price is already through the stop, the venue's
        limits, margin), so the same stop is not sent again: a market close does what the
        stop was there to do. When the venue refuses that close too, trading halts with the
        reason: the position is open and unprotected, and a person must act.
        """
        orders = self._trade_orders(key)
        stops = [o for o in orders if o.intent.leg == "stop"]
        if not stops or stops[-1].state not in ("rejected", "expired"):
            return
        qty = self._open_qty(key)
        if qty <= 0.0:
            return
        refused = stops[-1]
        closes = [o for o in orders if o.intent.leg == "close"]
        at = self._now()
        if not closes:
            e = refused.intent
            intent = self._make(
                f"{e.origin}|unprotected", "close", qty, e.trade_id, e.slot, e.request_id,
                side=e.side, order_type="market", reduce_only=True, trade_key=key,
                decided_at=e.decided_at,
            )  # fmt: skip
            self._record([correction_event(
                "protective stop refused",
                f"stop {refused.client_order_id} {refused.state} ({refused.reason}); closing "
                f"{qty:g} at market with {intent.client_order_id}", at,
                ref=refused.client_order_id,
            )])  # fmt: skip
            log.warning("stop %s %s: closing at market", refused.client_order_id, refused.state)
            self._send(intent, None)
            sent = self.view.orders.get(intent.client_order_id)
            closes = [sent] if sent is not None else []
        if closes and all(o.state == "rejected" for o in closes) and not self.view.halted:
            why = (
                f"position unprotected: the stop {refused.client_order_id} and the market "
                f"close {closes[-1].client_order_id} were refused ({closes[-1].reason}); "
                "close it by hand, then resume"
            )
            self._record([halt_event(why, self._now())])
            log.error(why)

    # -- control ------------------------------------------------------------------------------

    def kill(self, reason: str, flatten: bool = False) -> None:
        """The kill switch: halt, cancel every working order of ours, optionally flatten.

        The halt is recorded first, so nothing new goes out meanwhile; orders whose fate is
        still unknown are cancelled as soon as reconciliation finds them working. With
        ``flatten`` the position on record is closed with one reduce-only market order.
        Trading stays halted until :meth:`resume`.
        """
        at = self._now()
        self._record([halt_event(f"kill switch: {reason}", at)])
        for o in self.view.open_orders():
            self._cancel(o, f"kill switch: {reason}")
        held = self.view.positions.get(self.config.symbol)
        if flatten and held is not None and held.qty != 0.0:
            origin = f"kill|{self.config.symbol}|{at.value}"
            intent = self._make(
                origin, "close", abs(held.qty), -1, -1, -1, side="sell" if held.qty > 0 else "buy",
                order_type="market", reduce_only=True, trade_key=origin, decided_at=at.value,
            )  # fmt: skip
            self._send(intent, None)

    def resume(self, by: str) -> None:
        """Re-arm trading after a halt (a person's decision, recorded with their name)."""
        self._record([resume_event(by, self._now())])

    # -- poll and reconcile -------------------------------------------------------------------

    def _venue_order(self, o: Mapping[str, Any]) -> VenueOrder:
        amount = float(o.get("amount") or 0.0)
        filled = o.get("filled")
        if filled is None:
            filled = amount - float(o.get("remaining") or 0.0)
        return VenueOrder(
            exchange_order_id=str(o["id"]),
            client_order_id=o.get("clientOrderId"),
            status=str(o.get("status") or "open"),
            qty=self.quirks.base_qty(self.market, amount),
            filled=self.quirks.base_qty(self.market, float(filled)),
            symbol=str(o.get("symbol") or self.config.symbol),
        )

    def _fill_record(self, t: Mapping[str, Any]) -> FillRecord:
        fee = t.get("fee") or {}
        return FillRecord(
            venue_trade_id=str(t["id"]),
            exchange_order_id=str(t["order"]) if t.get("order") is not None else None,
            client_order_id=None,
            symbol=str(t.get("symbol") or self.config.symbol),
            side=str(t["side"]),
            price=float(t["price"]),
            qty=self.quirks.base_qty(self.market, float(t["amount"])),
            fee=float(fee.get("cost") or 0.0),
            maker=t.get("takerOrMaker") == "maker",
            filled_at=pd.Timestamp(int(t["timestamp"]), unit="ms", tz="UTC"),
        )

    def snapshot(self) -> VenueSnapshot:
        """Read the exchange: open orders, recent fills, positions, lookups by client id."""
        now = self._now()
        symbol = self.config.symbol
        open_orders: tuple[VenueOrder, ...] = ()
        read_open = True
        try:
            open_orders = tuple(
                self._venue_order(o) for o in self._call("fetch_open_orders", symbol)
            )
        except Exception as exc:
            read_open = False
            log.warning("open orders: %s", self._scrub(exc))
        positions: dict[str, float] = {}
        try:
            qty = 0.0
            for p in self._call("fetch_positions", [symbol]):
                if p.get("symbol") == symbol:
                    sign = 1.0 if p.get("side") == "long" else -1.0
                    qty += sign * self.quirks.base_qty(self.market, float(p.get("contracts") or 0))
            positions[symbol] = qty
        except Exception as exc:
            log.warning("positions: %s", self._scrub(exc))
        # fills after positions: every fill a position reflects is in the list
        fills: tuple[FillRecord, ...] = ()
        since = int((now.value // 1_000_000) - self.config.fills_lookback_s * 1000)
        if self.view.fills:  # reach back to the newest fill on record (a restart's gap)
            newest = max(f.filled_at for f in self.view.fills.values())
            since = min(since, int(newest.value // 1_000_000))
        read_fills = True
        try:
            fills = tuple(
                self._fill_record(t) for t in self._call("fetch_my_trades", symbol, since)
            )
        except Exception as exc:
            read_fills = False
            log.warning("fills: %s", self._scrub(exc))
        showing = {o.client_order_id for o in open_orders} | {
            o.exchange_order_id for o in open_orders
        }
        lookups: dict[str, VenueOrder | None] = {}
        for o in self.view.open_orders():
            cid = o.client_order_id
            if cid in showing or o.exchange_order_id in showing:
                continue
            if o.state in LIVE and not read_open:
                continue
            try:
                lookups[cid] = self._venue_order(
                    self._call("fetch_order", None, symbol, self.quirks.lookup_params(cid))
                )
            except Exception as exc:
                if type(exc).__name__ == "OrderNotFound":
                    lookups[cid] = None
                else:
                    log.warning("lookup %s: %s", cid, self._scrub(exc))
        return VenueSnapshot(
            at=now, open_orders=open_orders, fills=fills, positions=positions, lookups=lookups,
            open_orders_read=read_open, fills_read=read_fills,
        )  # fmt: skip

    def reconcile(self) -> Reconciliation:
        """Take a snapshot, record the corrections, send what must be sent again."""
        rec = reconcile(self.view, self.snapshot(), self.config.reconcile)
        resubmit = list(rec.resubmit)
        if rec.halt and not self.view.halted:
            # a fill may land between the position and fill reads: confirm with a fresh read
            self._record([e for e in rec.events if e.kind != "halt"])
            rec = reconcile(self.view, self.snapshot(), self.config.reconcile)
            resubmit += rec.resubmit
        self._record(rec.events)
        for intent in resubmit:
            q = self._requests.get(intent.replaces or "")
            if intent.leg == "entry":
                decided = intent.decided_at or (q.decided_at.value if q is not None else 0)
                age = (self._now().value - decided) / 1e9 if decided else math.inf
                if age > self.config.entry_resubmit_s:
                    self._record([correction_event(
                        "not resubmitted", f"entry {intent.replaces} is {age:.0f} s old",
                        self._now(), ref=intent.replaces or "",
                    )])  # fmt: skip
                    continue
            if q is not None:
                self._requests[intent.client_order_id] = q
            self._send(intent, None)
        if self.config.dead_man_s > 0:
            try:
                self.quirks.arm_dead_man(self.x, self.config.dead_man_s)
            except Exception as exc:
                log.warning("dead-man switch: %s", self._scrub(exc))
        now = self._monotonic()
        if self._account_at is None or now - self._account_at >= self.config.account_every_s:
            self._account_at = now
            self.poll_account()
        return rec

    def poll_account(self) -> None:
        """Record the venue's balance when it changed, and the funding payments not on record.

        A payment is stored once (by the venue's id), however often it is read; a read that
        fails is logged and read again at the next poll (the next read starts at the newest
        payment on record, so none is skipped).
        """
        now = self._now()
        code = settle_currency(self.market)
        source = str(getattr(self.x, "id", "") or self.quirks.name)
        events: list[LedgerEvent] = []
        try:
            b = self._call("fetch_balance")
            total = (b.get("total") or {}).get(code)
            if total is not None:
                free, used = (b.get("free") or {}).get(code), (b.get("used") or {}).get(code)
                seen = (float(total), free, used)
                if seen != self._balance:
                    events.append(balance_event(code, float(total), now, source=source,
                                                free=free, used=used))  # fmt: skip
                    self._balance = seen
        except Exception as exc:
            log.warning("balance: %s", self._scrub(exc))
        since = self._funding_ms
        if since is None:
            since = int(now.value // 1_000_000 - self.config.funding_lookback_s * 1000)
        newest = self._funding_ms
        try:
            for pay in self.quirks.funding(self.x, self.market, since):
                paid_at = pd.Timestamp(pay.paid_ms, unit="ms", tz="UTC")
                events.append(funding_event(pay.venue_id, self.config.symbol, pay.amount,
                                            pay.currency, paid_at, now, source=source))  # fmt: skip
                newest = max(newest or 0, pay.paid_ms)
        except Exception as exc:
            log.warning("funding: %s", self._scrub(exc))
        if events:
            self._record(events)
        self._funding_ms = newest  # only once recorded: a failed write reads them again

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[BrokerEvent]:
        """Reconcile with the exchange and return new fills and late refusals, in time order."""
        until = self.hand_until
        rec = self.reconcile() if until is None else Reconciliation([], [], None)
        out: list[BrokerEvent] = []
        fills = [
            (f, o) for o in self.view.orders.values() for f in o.fills.values()
            if f.venue_trade_id not in self._emitted
            and (not self._gated or o.intent.trade_key in self._engine_trades)
            and (until is None or f.filled_at <= until)
        ]  # fmt: skip
        fills.sort(key=lambda fo: (fo[0].filled_at.value, fo[0].venue_trade_id))
        for f, o in fills:
            self._emitted.add(f.venue_trade_id)
            out.append(self._engine_fill(f, o))
        if self.view.halted and self.view.halted.startswith("kill switch"):
            for o in self.view.in_state(*LIVE):  # found working after the switch: cancel
                if o.intent.leg == "entry":
                    self._cancel(o, self.view.halted)
        moved = [self.view.orders[e.ref] for e in rec.events if e.kind == "state"]
        touched = {o.intent.trade_key for _, o in fills} | {o.intent.trade_key for o in moved}
        # every open trade too: a process that died between a fill and its stop (or a refused
        # stop and its close) left work that no new event points at
        for key in sorted(touched | self._open_keys()):
            for o in self._trade_orders(key):
                if o.intent.leg == "entry" and o.fills:
                    self._protect(o)
            self._escalate(key)
            orders = self._trade_orders(key)
            if self._open_qty(key) <= 0.0 and any(
                o.intent.leg in _EXITS and o.fills for o in orders
            ):
                for other in self._trade_orders(key):
                    if other.intent.leg in _EXITS and not other.final:
                        self._cancel(other, "the trade is closed")
        for cid, q in list(self._requests.items()):
            late = self.view.orders.get(cid)
            if (
                late is not None
                and late.state == "rejected"
                and late.intent.leg in ("entry", "close")
            ):
                if not any(x.intent.replaces == cid for x in self.view.orders.values()):
                    out.append(Rejection(request=q, reason=late.reason, at=self._now()))
                del self._requests[cid]
        return out

    def _engine_fill(self, f: FillRecord, o: OrderView) -> Fill:
        before = [x for x in o.fills.values() if (x.filled_at.value, x.venue_trade_id)
                  <= (f.filled_at.value, f.venue_trade_id)]  # fmt: skip
        leaves = max(o.intent.qty - math.fsum(x.qty for x in before), 0.0)
        when = (f.filled_at.value, f.venue_trade_id)
        closes = o.intent.leg in _EXITS and self._open_qty(o.intent.trade_key, when) <= 0.0
        return Fill(
            trade_id=o.intent.trade_id, slot=o.intent.slot, kind=o.intent.leg, side=f.side,  # type: ignore[arg-type]
            price=f.price, qty=f.qty, fee=f.fee, maker=f.maker, closes_position=closes,
            filled_at=f.filled_at, leaves_qty=0.0 if closes else leaves,
            exchange_order_id=f.exchange_order_id, exchange_trade_id=f.venue_trade_id,
            client_order_id=o.client_order_id,
        )  # fmt: skip
