"""Typed orders at the broker boundary, and the one bridge between them and the engine's rows.

The engine decides in float64 rows (``serving.engine.layout``, private to the engine); brokers,
ledgers and people speak these frozen objects:

- :class:`OrderRequest`: what the engine asks of the exchange at a bar's close (a new bracket,
  a stop amendment, a cancel, a market close);
- :class:`Ack`: the exchange took a request (with its own order id);
- :class:`Fill`: an execution, possibly partial (``leaves_qty`` > 0 while more is to come);
- :class:`Rejection`: a definite refusal of a request, with the exchange's reason.

Exchange order ids, venue trade ids and client order ids are strings; every time is a UTC
``pd.Timestamp``. :func:`request_rows`, :func:`requests_from_rows`, :func:`fill_rows` and
:func:`fills_from_rows` are the only conversions between the two worlds; a round trip through
them returns the same rows bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from serving.engine import layout as L

Action = Literal["new", "amend_stop", "cancel", "close"]
OrderType = Literal["market", "limit", "stop"]
FillKind = Literal["entry", "stop", "tp1", "tp2", "tp3", "close"]
Side = Literal["buy", "sell"]

_ACTIONS: tuple[Action, ...] = get_args(Action)
_ORDER_TYPES: tuple[OrderType, ...] = get_args(OrderType)
_FILL_KINDS: tuple[FillKind, ...] = get_args(FillKind)


class OrderError(ValueError):
    """A typed order object was built with an impossible value."""


def _utc(owner: str, name: str, value: pd.Timestamp) -> None:
    if not isinstance(value, pd.Timestamp) or value.tz is None or value.utcoffset():
        raise OrderError(f"{owner}.{name}: expected a UTC pd.Timestamp, got {value!r}")


def _choice(owner: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OrderError(f"{owner}.{name}: {value!r} is not one of {', '.join(allowed)}")


def _positive(owner: str, name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0.0):
        raise OrderError(f"{owner}.{name}: expected a positive number, got {value!r}")


def _stamp(ns: float) -> pd.Timestamp:
    return pd.Timestamp(int(ns), tz="UTC")


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass(frozen=True)
class OrderRequest:
    """One request of the engine to the exchange, decided at a bar's close.

    Attributes:
        request_id: The engine's request number (unique within a run).
        trade_id: The engine's trade the request belongs to.
        slot: The engine's slot of that trade; the paper broker files the bracket under it, a
            venue broker only carries it back in the trade's fills.
        action: ``new`` (a bracket: entry plus stop and take-profits), ``amend_stop``,
            ``cancel`` (a pending entry) or ``close`` (the position, at market).
        direction: The trade's direction: +1 long, -1 short.
        decided_at: Close time of the bar the engine decided at (UTC).
        order_type: Entry order type (``new`` only).
        price: Limit or stop price of the entry (``new`` with a limit or stop entry).
        qty: Entry quantity in base units (``new`` only).
        stop: Protective stop (``new``; the new stop of ``amend_stop``).
        tp1: First take-profit level (``new``; None: not used).
        tp2: Second take-profit level.
        tp3: Final take-profit level.
        tp1_fraction: Share of the entry quantity taken at ``tp1``.
        tp2_fraction: Share taken at ``tp2``.
        client_order_id: The id the exchange will know the order by (set by the trading layer;
            None until then).
    """

    request_id: int
    trade_id: int
    slot: int
    action: Action
    direction: int
    decided_at: pd.Timestamp
    order_type: OrderType | None = None
    price: float | None = None
    qty: float | None = None
    stop: float | None = None
    tp1: float | None = None
    tp2: float | None = None
    tp3: float | None = None
    tp1_fraction: float | None = None
    tp2_fraction: float | None = None
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        owner = "OrderRequest"
        _choice(owner, "action", self.action, _ACTIONS)
        if self.direction not in (1, -1):
            raise OrderError(f"{owner}.direction: expected +1 or -1, got {self.direction!r}")
        _utc(owner, "decided_at", self.decided_at)
        _positive(owner, "qty", self.qty)
        if self.action == "new":
            if self.order_type is None or self.qty is None or self.stop is None:
                raise OrderError(f"{owner}: a new bracket needs order_type, qty and stop")
            _choice(owner, "order_type", self.order_type, _ORDER_TYPES)
            if self.order_type != "market" and self.price is None:
                raise OrderError(f"{owner}.price: a {self.order_type} entry needs a price")
        if self.action == "amend_stop" and self.stop is None:
            raise OrderError(f"{owner}.stop: an amend_stop request needs the new stop")

    @property
    def side(self) -> Side:
        """Side of the order this request places: the entry's for ``new``, the exit's else."""
        buys = self.direction > 0 if self.action == "new" else self.direction < 0
        return "buy" if buys else "sell"

    def take_profits(self) -> list[tuple[float, float]]:
        """The bracket's take-profit ladder: (level, share of the entry), the rest at ``tp3``."""
        tps: list[tuple[float, float]] = []
        left = 1.0
        for price, frac in ((self.tp1, self.tp1_fraction), (self.tp2, self.tp2_fraction)):
            if price is not None and frac:
                tps.append((price, frac))
                left -= frac
        if self.tp3 is not None and left > 1e-12:
            tps.append((self.tp3, left))
        return tps


@dataclass(frozen=True)
class Ack:
    """The exchange accepted a request.

    Attributes:
        request: The request it accepted.
        exchange_order_id: The exchange's id of the order.
        at: When the exchange accepted it (UTC).
    """

    request: OrderRequest
    exchange_order_id: str
    at: pd.Timestamp

    def __post_init__(self) -> None:
        _utc("Ack", "at", self.at)


@dataclass(frozen=True)
class Rejection:
    """The exchange definitely refused a request (a timeout is not a rejection).

    Attributes:
        request: The request it refused.
        reason: The exchange's reason, in words.
        at: When the refusal was received (UTC).
        exchange_order_id: The exchange's id, when the order got one before being refused.
    """

    request: OrderRequest
    reason: str
    at: pd.Timestamp
    exchange_order_id: str | None = None

    def __post_init__(self) -> None:
        _utc("Rejection", "at", self.at)
        if not self.reason:
            raise OrderError("Rejection.reason: say why the request was refused")


@dataclass(frozen=True)
class Fill:
    """One execution, whole or partial.

    Attributes:
        trade_id: The engine's trade it belongs to.
        slot: The engine's slot of that trade (as in its request).
        kind: ``entry``, ``stop``, ``tp1``, ``tp2``, ``tp3`` or ``close``.
        side: ``buy`` or ``sell``.
        price: Execution price.
        qty: Executed quantity of this fill (base units).
        fee: Fee paid, in the quote currency (negative: a rebate).
        maker: Whether the fill rested on the book (maker) or took liquidity (taker).
        closes_position: Whether this fill closed the trade's position (the last exit fill).
        filled_at: When it executed (UTC); the paper broker, which matches whole bars, reports
            the open time of the bar it matched.
        leaves_qty: Quantity of the order still working after this fill (0: the order is done).
        exchange_order_id: The exchange's id of the order that filled.
        exchange_trade_id: The venue's id of this execution (what deduplicates fills).
        client_order_id: The client order id of the order that filled.
    """

    trade_id: int
    slot: int
    kind: FillKind
    side: Side
    price: float
    qty: float
    fee: float
    maker: bool
    closes_position: bool
    filled_at: pd.Timestamp
    leaves_qty: float = 0.0
    exchange_order_id: str | None = None
    exchange_trade_id: str | None = None
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        owner = "Fill"
        _choice(owner, "kind", self.kind, _FILL_KINDS)
        _choice(owner, "side", self.side, ("buy", "sell"))
        _positive(owner, "price", self.price)
        _positive(owner, "qty", self.qty)
        _utc(owner, "filled_at", self.filled_at)
        if not (math.isfinite(self.leaves_qty) and self.leaves_qty >= 0.0):
            raise OrderError(f"{owner}.leaves_qty: expected >= 0, got {self.leaves_qty!r}")
        if self.closes_position and self.leaves_qty > 0.0:
            raise OrderError(f"{owner}: a fill that closes the position leaves nothing working")

    @property
    def partial(self) -> bool:
        """Whether more of the order is still working after this fill."""
        return self.leaves_qty > 0.0


BrokerAnswer = Ack | Rejection
"""What a broker answers to a submitted request."""

BrokerEvent = Fill | Rejection
"""What a broker reports from a bar: executions, and refusals that came later."""


# -- the bridge to the engine's rows ---------------------------------------------------------------


def request_from_row(row: np.ndarray) -> OrderRequest:
    """Return the typed request of one engine request row."""
    action = _ACTIONS[int(row[L.R_ACTION])]
    new = action == "new"
    return OrderRequest(
        request_id=int(row[L.R_REQ]),
        trade_id=int(row[L.R_ID]),
        slot=int(row[L.R_SLOT]),
        action=action,
        direction=int(row[L.R_DIR]),
        decided_at=_stamp(row[L.R_TS]),
        order_type=_ORDER_TYPES[int(row[L.R_TYPE])] if new else None,
        price=_opt(row[L.R_PRICE]),
        qty=_opt(row[L.R_QTY]),
        stop=_opt(row[L.R_STOP]),
        tp1=_opt(row[L.R_TP1]),
        tp2=_opt(row[L.R_TP2]),
        tp3=_opt(row[L.R_TP3]),
        tp1_fraction=_opt(row[L.R_F1]),
        tp2_fraction=_opt(row[L.R_F2]),
    )


def requests_from_rows(rows: np.ndarray) -> list[OrderRequest]:
    """Return the typed requests of engine request rows."""
    return [request_from_row(r) for r in np.asarray(rows).reshape(-1, L.NR)]


def request_rows(requests: Sequence[OrderRequest]) -> np.ndarray:
    """Return the engine rows of typed requests (``len(requests) x`` the request width)."""
    rows = np.full((len(requests), L.NR), np.nan)
    for row, q in zip(rows, requests, strict=True):
        row[L.R_TS] = float(q.decided_at.value)
        row[L.R_REQ] = q.request_id
        row[L.R_ID] = q.trade_id
        row[L.R_SLOT] = q.slot
        row[L.R_ACTION] = _ACTIONS.index(q.action)
        row[L.R_DIR] = q.direction
        if q.order_type is not None:
            row[L.R_TYPE] = _ORDER_TYPES.index(q.order_type)
        row[L.R_PRICE] = _nan(q.price)
        row[L.R_QTY] = _nan(q.qty)
        row[L.R_STOP] = _nan(q.stop)
        row[L.R_TP1] = _nan(q.tp1)
        row[L.R_TP2] = _nan(q.tp2)
        row[L.R_TP3] = _nan(q.tp3)
        row[L.R_F1] = _nan(q.tp1_fraction)
        row[L.R_F2] = _nan(q.tp2_fraction)
    return rows


def fills_from_rows(rows: np.ndarray) -> list[Fill]:
    """Return the typed fills of engine fill rows (``filled_at``: the row's bar open time)."""
    return [
        Fill(
            trade_id=int(r[L.F_ID]),
            slot=int(r[L.F_SLOT]),
            kind=_FILL_KINDS[int(r[L.F_KIND])],
            side="buy" if r[L.F_SIDE] > 0 else "sell",
            price=float(r[L.F_PRICE]),
            qty=float(r[L.F_QTY]),
            fee=float(r[L.F_FEE]),
            maker=bool(r[L.F_MAKER] > 0.5),
            closes_position=bool(r[L.F_CLOSED] > 0.5),
            filled_at=_stamp(r[L.F_TS]),
        )
        for r in np.asarray(rows).reshape(-1, L.NF)
    ]


def fill_rows(fills: Sequence[Fill], bar_open: pd.Timestamp) -> np.ndarray:
    """Return the engine rows of fills booked in the bar opening at ``bar_open``.

    The engine books every fill in the bar it happened during and stamps it with that bar's
    open time (it measures holding times and timeouts in bars), whatever the fill's own time.
    """
    _utc("fill_rows", "bar_open", bar_open)
    rows = np.empty((len(fills), L.NF))
    for row, f in zip(rows, fills, strict=True):
        row[L.F_TS] = float(bar_open.value)
        row[L.F_ID] = f.trade_id
        row[L.F_SLOT] = f.slot
        row[L.F_KIND] = _FILL_KINDS.index(f.kind)
        row[L.F_SIDE] = 1.0 if f.side == "buy" else -1.0
        row[L.F_PRICE] = f.price
        row[L.F_QTY] = f.qty
        row[L.F_FEE] = f.fee
        row[L.F_MAKER] = 1.0 if f.maker else 0.0
        row[L.F_CLOSED] = 1.0 if f.closes_position else 0.0
    return rows


def fill_buffer() -> np.ndarray:
    """Return a scratch array for the fill rows of one bar (what ``match_bar`` writes)."""
    return np.empty((L.MAX_FILLS_PER_BAR, L.NF))
