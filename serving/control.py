"""Commands to a running trading loop, carried by the ledger.

The ledger is the one channel between the places a person acts (the service's
``/api/bot/*``, ``/api/kill-switch`` and ``/api/orders``, the dashboard's kill switch, the
CLI) and the trading loop, which may run in another process: :func:`request` appends a
``control`` event; the loop reads :func:`pending` with the sequence numbers it has handled
(``done``), acts, and records what it did (``halt``/``resume``, orders, fills) as ordinary
ledger events, and the numbers of the commands each bar applied in that bar's decision
(``controls``). Commands are tracked by number, not by a high-water mark: on PostgreSQL two
writers can commit commands out of sequence order (number 100 visible after 101), and the
late one is still handled, once, at the first bar after it shows.

Commands:

- ``start``: re-arm trading (after a stop, a kill or the account hard stop); the loop appends
  a ``resume`` event naming ``by``.
- ``stop``: no new entries; open positions and their exits are still managed. The loop
  appends a ``halt`` event with the reason.
- ``kill``: cancel every working order, close every position when ``flatten`` is true, halt.
- ``order``: a manual entry or exit run through the same engine (risk sizing, stops,
  protections) as a signal would be: ``action`` ``enter`` or ``exit``, ``direction``
  ``long`` or ``short``, ``symbol``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import pandas as pd

from serving.ledger.events import LedgerEvent
from serving.ledger.store import Ledger
from serving.orders import OrderError

Command = Literal["start", "stop", "kill", "order"]
COMMANDS: tuple[Command, ...] = get_args(Command)


@dataclass(frozen=True)
class Control:
    """One command as read back from the ledger."""

    seq: int
    command: Command
    by: str
    at: pd.Timestamp
    detail: Mapping[str, Any] = field(default_factory=dict)


def control_event(command: str, by: str, at: pd.Timestamp, **detail: Any) -> LedgerEvent:
    """Return the ledger event of one command (``by``: who asked, never empty)."""
    if command not in COMMANDS:
        raise OrderError(f"control.command: {command!r} is not one of {COMMANDS}")
    if not by:
        raise OrderError("control.by: say who asked")
    return LedgerEvent("control", "trading", {"command": command, "by": by, **detail}, at)


def request(
    ledger: Ledger, command: str, by: str, at: pd.Timestamp | None = None, **detail: Any
) -> int:
    """Append one command; return its sequence number."""
    at = at if at is not None else pd.Timestamp.now(tz="UTC")
    seq = ledger.append([control_event(command, by, at, **detail)])[0]
    assert seq is not None  # control events carry no dedup key
    return seq


def pending(ledger: Ledger, since: int = 0, done: Container[int] = ()) -> list[Control]:
    """Return the commands after sequence number ``since`` not in ``done``, in order."""
    out = []
    for e in ledger.events(since, kinds=("control",)):
        assert e.seq is not None
        if e.seq in done:
            continue
        body = dict(e.body)
        command, by = body.pop("command"), body.pop("by")
        out.append(Control(e.seq, command, by, e.at, body))
    return out
