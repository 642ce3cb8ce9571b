"""Ledger events: what happened, appended once, never changed.

Every fact the trading layer learns or decides is one :class:`LedgerEvent`: a ``kind``, the
id it is about (``ref``: a client order id, a signal id, a symbol), a JSON body and the time
it was recorded. An event with a ``dedup`` key is stored at most once (an intent by its client
order id, a fill by the venue's trade id), so writing it again after a restart or a repeated
poll is harmless. Corrections are new events, never edits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

import pandas as pd

from serving.order_state import Leg, OrderState, check_transition
from serving.orders import OrderError

EventKind = Literal[
    "signal",  # a signal record (Signal.to_dict)
    "decision",  # what the engine decided on a signal: model version, feature snapshot ref
    "intent",  # an order we mean to send, with its client order id (before sending)
    "state",  # an order moved to another state
    "fill",  # an execution (deduplicated by the venue's trade id)
    "funding",  # a funding payment (+ received, - paid)
    "balance",  # the exchange's account balance
    "position",  # the exchange's position
    "external",  # an order at the exchange that is not ours (left alone)
    "correction",  # what reconciliation changed, and why
    "halt",  # trading stopped, with the reason
    "resume",  # a person re-armed trading
    "control",  # a command to the running loop (serving.control): start, stop, kill, order
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


def _utc(value: pd.Timestamp) -> pd.Timestamp:
    if not isinstance(value, pd.Timestamp) or value.tz is None or value.utcoffset():
        raise OrderError(f"LedgerEvent.at: expected a UTC pd.Timestamp, got {value!r}")
    return value


@dataclass(frozen=True)
class LedgerEvent:
    """One appended fact.

    Attributes:
        kind: What sort of fact (:data:`EventKind`).
        ref: The id it is about (client order id, signal id, symbol, venue trade id).
        body: JSON-ready details.
        at: When it was recorded (UTC).
        dedup: A key stored at most once; None: no deduplication.
        seq: Position in the ledger (set when read back; None before it is appended).
    """

    kind: EventKind
    ref: str
    body: Mapping[str, Any]
    at: pd.Timestamp
    dedup: str | None = None
    seq: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise OrderError(f"LedgerEvent.kind: {self.kind!r} is not one of {EVENT_KINDS}")
        _utc(self.at)

    def body_json(self) -> str:
        """Return the body as JSON (finite numbers only)."""
        return json.dumps(self.body, sort_keys=True, allow_nan=False, separators=(",", ":"))


def load_body(text: str | Mapping[str, Any]) -> dict[str, Any]:
    """Return a stored body (JSON text, or a mapping from a JSON column) as a dict."""
    return dict(json.loads(text)) if isinstance(text, str) else dict(text)


# -- builders: one per kind, so every writer fills the same fields ------------------------------


@dataclass(frozen=True)
class OrderIntent:
    """An order we mean to send (stored before it is sent).

    Attributes:
        client_order_id: The deterministic id the exchange will know it by.
        origin: What it comes from (signal id or another decision id).
        leg: Which order of the trade.
        attempt: 0, or the resubmit number.
        symbol: Unified market symbol.
        side: ``buy`` or ``sell``.
        order_type: ``market``, ``limit`` or ``stop`` (a stop-market trigger).
        qty: Quantity in base units (what the engine thinks in).
        amount: Quantity in the venue's units (whole contracts on Delta); 0 when ``qty`` is
            below one step (such an intent is refused before anything is sent).
        price: Limit price (limit orders).
        stop_price: Trigger price (stop orders).
        reduce_only: Whether it may only reduce a position (every exit).
        trade_id: The engine's trade it belongs to.
        slot: The engine's slot of that trade.
        request_id: The engine's request it came from.
        decided_at: When the engine decided it (epoch nanoseconds, UTC; 0: not known).
        trade_key: The trade it belongs to across restarts: its entry's origin (the engine's
            trade ids start again with every process).
        replaces: The client id of the attempt it replaces, if any.
        stop_loss: For an entry: the protective stop placed once it fills.
        take_profits: For an entry: ``(price, fraction of the entry)`` per take-profit, placed
            once it fills (the last takes what is left).
    """

    client_order_id: str
    origin: str
    leg: Leg
    attempt: int
    symbol: str
    side: str
    order_type: str
    qty: float
    amount: float
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    trade_id: int = -1
    slot: int = -1
    request_id: int = -1
    decided_at: int = 0
    trade_key: str = ""
    replaces: str | None = None
    stop_loss: float | None = None
    take_profits: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise OrderError(f"OrderIntent.side: {self.side!r} is not buy or sell")
        if self.order_type not in ("market", "limit", "stop"):
            raise OrderError(f"OrderIntent.order_type: {self.order_type!r} is not supported")
        if not (math.isfinite(self.qty) and self.qty > 0.0):
            raise OrderError(f"OrderIntent.qty: expected a positive number, got {self.qty}")
        if not (math.isfinite(self.amount) and self.amount >= 0.0):
            raise OrderError(f"OrderIntent.amount: expected >= 0, got {self.amount}")
        if self.order_type == "limit" and self.price is None:
            raise OrderError("OrderIntent.price: a limit order needs a price")
        if self.order_type == "stop" and self.stop_price is None:
            raise OrderError("OrderIntent.stop_price: a stop order needs a trigger price")

    def to_body(self) -> dict[str, Any]:
        """Return the intent as a JSON-ready dict."""
        body = {k: getattr(self, k) for k in self.__dataclass_fields__}
        body["take_profits"] = [list(tp) for tp in self.take_profits]
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> OrderIntent:
        """Return the intent stored in an event body."""
        values = {k: body[k] for k in cls.__dataclass_fields__ if k in body}
        values["take_profits"] = tuple(tuple(tp) for tp in values.get("take_profits", ()))
        return cls(**values)


def intent_event(intent: OrderIntent, at: pd.Timestamp) -> LedgerEvent:
    """Return the event that records an intent (stored once per client id)."""
    cid = intent.client_order_id
    return LedgerEvent("intent", cid, intent.to_body(), at, dedup=f"intent:{cid}")


def state_event(
    client_order_id: str,
    current: OrderState,
    to: OrderState,
    at: pd.Timestamp,
    *,
    reason: str = "",
    exchange_order_id: str | None = None,
) -> LedgerEvent:
    """Return the event that moves an order from ``current`` to ``to`` (checked here)."""
    check_transition(client_order_id, current, to)
    body: dict[str, Any] = {"from": current, "to": to, "reason": reason}
    if exchange_order_id is not None:
        body["exchange_order_id"] = exchange_order_id
    return LedgerEvent("state", client_order_id, body, at)


@dataclass(frozen=True)
class FillRecord:
    """One execution as the venue reported it.

    Attributes:
        venue_trade_id: The venue's id of the execution (the dedup key).
        exchange_order_id: The venue's id of the order that filled.
        client_order_id: Our id of that order, once known (None: not linked yet).
        symbol: Unified market symbol.
        side: ``buy`` or ``sell``.
        price: Execution price.
        qty: Quantity in base units.
        fee: Fee in the quote/settle currency (negative: a rebate).
        maker: Whether it rested on the book.
        filled_at: When it executed (UTC).
    """

    venue_trade_id: str
    exchange_order_id: str | None
    client_order_id: str | None
    symbol: str
    side: str
    price: float
    qty: float
    fee: float
    maker: bool
    filled_at: pd.Timestamp

    def to_body(self) -> dict[str, Any]:
        """Return the fill as a JSON-ready dict (time as epoch nanoseconds)."""
        body = {k: getattr(self, k) for k in self.__dataclass_fields__}
        body["filled_at"] = int(self.filled_at.value)
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> FillRecord:
        """Return the fill stored in an event body."""
        values = {k: body[k] for k in cls.__dataclass_fields__}
        values["filled_at"] = pd.Timestamp(int(body["filled_at"]), tz="UTC")
        return cls(**values)


def fill_event(fill: FillRecord, at: pd.Timestamp) -> LedgerEvent:
    """Return the event that records a fill (stored once per venue trade id)."""
    return LedgerEvent(
        "fill",
        fill.client_order_id or fill.exchange_order_id or fill.venue_trade_id,
        fill.to_body(),
        at,
        dedup=f"fill:{fill.venue_trade_id}",
    )


def funding_event(
    venue_id: str,
    symbol: str,
    amount: float,
    currency: str,
    paid_at: pd.Timestamp,
    at: pd.Timestamp,
    *,
    source: str,
) -> LedgerEvent:
    """Return the event that records one funding payment (stored once per ``venue_id``).

    Args:
        venue_id: The payment's id at its source (the venue's, or the paper session's).
        symbol: The contract it was paid on.
        amount: What the account got (+) or paid (-), in ``currency``.
        currency: The settlement currency.
        paid_at: When it was paid (UTC).
        at: When it was recorded (UTC).
        source: Who reported it (``delta``, ``paper:<session>``, ...).
    """
    if not math.isfinite(amount):
        raise OrderError(f"funding_event.amount: expected a finite number, got {amount}")
    body = {
        "symbol": symbol, "amount": float(amount), "currency": currency,
        "paid_at": int(_utc(paid_at).value), "source": source, "venue_id": venue_id,
    }  # fmt: skip
    return LedgerEvent("funding", symbol, body, at, dedup=f"funding:{source}:{venue_id}")


def balance_event(
    currency: str,
    total: float,
    at: pd.Timestamp,
    *,
    source: str,
    free: float | None = None,
    used: float | None = None,
    dedup: str | None = None,
    **extra: Any,
) -> LedgerEvent:
    """Return the event that records an account balance as its source reported it.

    ``total`` is the equity in ``currency`` (the fold keeps the latest per currency);
    ``free`` and ``used`` the venue's split when it gives one; ``extra`` anything else
    worth keeping (the paper account's cash and position).
    """
    if not math.isfinite(total):
        raise OrderError(f"balance_event.total: expected a finite number, got {total}")
    body = {"currency": currency, "total": float(total), "source": source, **extra}
    if free is not None:
        body["free"] = float(free)
    if used is not None:
        body["used"] = float(used)
    return LedgerEvent("balance", currency, body, at, dedup=dedup)


def correction_event(
    what: str, detail: str, at: pd.Timestamp, ref: str = "", **extra: Any
) -> LedgerEvent:
    """Return the event that records what reconciliation corrected and why."""
    return LedgerEvent("correction", ref or what, {"what": what, "detail": detail, **extra}, at)


def halt_event(reason: str, at: pd.Timestamp) -> LedgerEvent:
    """Return the event that halts trading, with the reason a person reads."""
    return LedgerEvent("halt", "trading", {"reason": reason}, at)


def resume_event(by: str, at: pd.Timestamp) -> LedgerEvent:
    """Return the event that re-arms trading after a halt, naming who did it."""
    if not by:
        raise OrderError("resume_event.by: say who re-armed trading")
    return LedgerEvent("resume", "trading", {"by": by}, at)


class SignalRecord(Protocol):
    """What a signal record offers the ledger (``serving.signals.Signal`` does)."""

    signal_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values."""
        ...


def signal_event(signal: SignalRecord, at: pd.Timestamp) -> LedgerEvent:
    """Return the event that records a signal (stored once per signal id)."""
    sid = signal.signal_id
    return LedgerEvent("signal", sid, signal.to_dict(), at, dedup=f"signal:{sid}")


def decision_event(
    signal_id: str,
    at: pd.Timestamp,
    *,
    decision: str,
    model_version: str | None,
    feature_snapshot: str | None,
    detail: Mapping[str, Any] | None = None,
) -> LedgerEvent:
    """Return the event that records what was decided on a signal and from what.

    Args:
        signal_id: The signal decided on.
        at: When (UTC).
        decision: What was decided (``enter``, ``skip``, ``exit``, ...).
        model_version: The model that scored it (None: the rule alone).
        feature_snapshot: Where the features it saw are kept (a snapshot id or path).
        detail: Anything else worth keeping (risk numbers, the refusal's reason).
    """
    body = {
        "decision": decision,
        "model_version": model_version,
        "feature_snapshot": feature_snapshot,
        **(detail or {}),
    }
    return LedgerEvent("decision", signal_id, body, at)
