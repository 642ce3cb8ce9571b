"""The life of one exchange order: its states, the allowed transitions, client ids, fill sums.

Every order the trading layer sends goes through :data:`TRANSITIONS`; anything else raises
:class:`IllegalTransition` naming both states. ``unresolved`` is the state of an order whose
fate is unknown (the create call timed out, the network failed, the exchange answered 5xx or
an error we cannot read): only a lookup at the exchange moves it on. ``lost`` is an order the
exchange had and no longer shows; it is chased until it reaches a final state.

Client order ids are derived, never random: :func:`client_order_id` of the same origin, leg
and attempt is always the same string, so sending an intent again after a restart reuses the
id the exchange already knows, and only a deliberate resubmit (the next attempt) makes a new
one. Ids are at most 32 characters of ``[a-z0-9-]``: the length of the ids ccxt itself
generates for Binance (``'x-xcKtGhcu' + uuid22()``, ccxt 4.5.64 ``binance.py`` line 5292),
which Delta and Binance (36 characters, ``[.A-Z:/a-z0-9_-]``) both accept.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from serving.orders import OrderError

OrderState = Literal[
    "new",
    "submitted",
    "accepted",
    "partially_filled",
    "filled",
    "cancelled",
    "rejected",
    "expired",
    "unresolved",
    "lost",
]
STATES: tuple[OrderState, ...] = get_args(OrderState)

FINAL: frozenset[OrderState] = frozenset({"filled", "cancelled", "rejected", "expired"})
"""States an order never leaves."""

LIVE: frozenset[OrderState] = frozenset({"accepted", "partially_filled"})
"""States of an order known to be working at the exchange."""

_AFTER_SEND: frozenset[OrderState] = frozenset(
    {"accepted", "partially_filled", "filled", "cancelled", "expired"}
)

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    "new": frozenset({"submitted", "rejected"}),
    "submitted": _AFTER_SEND | {"rejected", "unresolved"},
    "unresolved": _AFTER_SEND | {"rejected", "lost"},
    "accepted": frozenset({"partially_filled", "filled", "cancelled", "expired", "lost"}),
    "partially_filled": frozenset({"partially_filled", "filled", "cancelled", "expired", "lost"}),
    "lost": _AFTER_SEND,
    "filled": frozenset(),
    "cancelled": frozenset(),
    "rejected": frozenset(),
    "expired": frozenset(),
}
"""Allowed moves: ``new -> submitted`` before the create call, then what the exchange says."""

Leg = Literal["entry", "stop", "tp1", "tp2", "tp3", "close"]
LEGS: tuple[Leg, ...] = get_args(Leg)
_LEG_CODE: dict[Leg, str] = {
    "entry": "e",
    "stop": "s",
    "tp1": "t1",
    "tp2": "t2",
    "tp3": "t3",
    "close": "c",
}
_CODE_LEG = {v: k for k, v in _LEG_CODE.items()}

CLIENT_ID_PREFIX = "sm"
MAX_CLIENT_ID_LEN = 32
MAX_ATTEMPT = 999
_CID = re.compile(r"^sm([0-9a-f]{16})-(e|s|t1|t2|t3|c)(\d{1,3})$")

QTY_TOLERANCE = 1e-9
"""Relative tolerance when fills are summed against an order's quantity."""


class IllegalTransition(OrderError):
    """An order was asked to move between two states that do not connect."""


def check_transition(client_id: str, current: OrderState, to: OrderState) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> to`` is allowed."""
    if to not in STATES:
        raise IllegalTransition(f"order {client_id}: unknown state {to!r}")
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(f"order {client_id}: cannot go from {current} to {to}")


def client_order_id(origin: str, leg: Leg, attempt: int = 0) -> str:
    """Return the deterministic client order id of an order.

    Args:
        origin: What the order comes from (a signal id, or another stable decision id).
        leg: Which order of the trade: ``entry``, ``stop``, ``tp1``..``tp3`` or ``close``.
        attempt: 0 for the first send; a resubmit after a definite "not at the exchange" uses
            the next number.
    """
    if not origin:
        raise OrderError("client_order_id.origin: an order needs the id of what it comes from")
    if leg not in _LEG_CODE:
        raise OrderError(f"client_order_id.leg: {leg!r} is not one of {', '.join(LEGS)}")
    if not 0 <= attempt <= MAX_ATTEMPT:
        raise OrderError(f"client_order_id.attempt: expected 0..{MAX_ATTEMPT}, got {attempt!r}")
    digest = hashlib.sha256(origin.encode()).hexdigest()[:16]
    return f"{CLIENT_ID_PREFIX}{digest}-{_LEG_CODE[leg]}{attempt}"


@dataclass(frozen=True)
class ClientId:
    """The parts of one of our client order ids."""

    digest: str
    leg: Leg
    attempt: int

    def next_attempt(self) -> str:
        """Return the id of the next attempt of the same order."""
        if self.attempt >= MAX_ATTEMPT:
            raise OrderError(f"client id sm{self.digest}: no attempts left")
        return f"{CLIENT_ID_PREFIX}{self.digest}-{_LEG_CODE[self.leg]}{self.attempt + 1}"


def parse_client_order_id(text: str | None) -> ClientId | None:
    """Return the parts of one of our client ids, or None for anybody else's."""
    if not text:
        return None
    m = _CID.match(text)
    if m is None:
        return None
    return ClientId(digest=m.group(1), leg=_CODE_LEG[m.group(2)], attempt=int(m.group(3)))


def is_ours(text: str | None) -> bool:
    """Whether a client order id was made by :func:`client_order_id`."""
    return parse_client_order_id(text) is not None


def fills_complete(order_qty: float, fill_qtys: Iterable[float]) -> bool:
    """Whether fills add up to the order's quantity (within :data:`QTY_TOLERANCE`)."""
    total = math.fsum(fill_qtys)
    if total > order_qty * (1.0 + QTY_TOLERANCE) + QTY_TOLERANCE:
        raise OrderError(f"fills sum to {total}, more than the order's quantity {order_qty}")
    return total >= order_qty * (1.0 - QTY_TOLERANCE)


def state_after_fills(order_qty: float, fill_qtys: Iterable[float]) -> OrderState:
    """Return ``filled`` when the fills add up to the order, ``partially_filled`` otherwise."""
    return "filled" if fills_complete(order_qty, fill_qtys) else "partially_filled"
