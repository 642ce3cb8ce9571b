"""The trading desk: what a person reads of the trading loop, and the commands they give it.

Every answer is derived from the ledger by :func:`serving.ledger.fold` (the one derivation of
current orders, positions and the halt); the desk keeps no book of its own, only the fold
continued with the events appended since the last answer (:class:`TradingDesk` says when
it folds everything again). Commands are appended with :func:`serving.control.request` for
the trading loop to execute.

Nothing here knows HTTP: ``serving.service.trading`` turns :class:`DeskInputError` into a
422 naming its field and :class:`~serving.ledger.LedgerError` into a 503.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import pandas as pd

from serving.control import COMMANDS, request
from serving.ledger import LedgerConfig, LedgerError, LedgerView, fold, open_ledger
from serving.ledger.events import LedgerEvent
from serving.ledger.fold import OrderView, PositionView
from serving.ledger.store import Ledger
from serving.order_state import STATES
from serving.service.journal import is_service_signal

if TYPE_CHECKING:
    from features.candles.store.base import CandleStore

NO_LOOP = (
    "no trading loop has written to this ledger yet: there are no orders, fills or positions, "
    "and commands wait here until one starts (`smartmarket trade`)"
)
Action = Literal["enter", "exit"]
Direction = Literal["long", "short"]
OrderFilter = Literal["open", "final"]
MAX_PAGE = 500
_M = TypeVar("_M", bound=Callable[..., Any])


class DeskInputError(ValueError):
    """A request the desk cannot take; ``field`` names the part at fault."""

    def __init__(self, message: str, field: str) -> None:
        """Keep the message (never a secret) and the field."""
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DeskConfig:
    """What the desk serves.

    Attributes:
        symbols: Symbols the trading loop trades (a request may spell them ``BTCUSDT``,
            ``btc/usdt`` or with the settle currency, ``BTC/USDT:USDT``).
        start_cash: Cash the account started with (equity = this plus the ledger's PnL).
    """

    symbols: tuple[str, ...]
    start_cash: float = 10_000.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise DeskInputError("DeskConfig.symbols: list at least one symbol", "symbols")
        if not (math.isfinite(self.start_cash) and self.start_cash > 0):
            raise DeskInputError(
                f"DeskConfig.start_cash: expected > 0, got {self.start_cash}", "start_cash"
            )


def _pair(symbol: str) -> str:
    """Return ``BASE/QUOTE`` of any spelling (``BTCUSDT``, ``btc/usdt``, ``BTC/USDT:USDT``)."""
    from features.mtf.analysis import canonical_symbol

    return canonical_symbol(symbol).split(":")[0]


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ns_iso(ns: int) -> str | None:
    return _iso(pd.Timestamp(ns, tz="UTC")) if ns else None


def _control(e: LedgerEvent) -> dict[str, Any]:
    body = dict(e.body)
    return {
        "seq": e.seq,
        "command": body.pop("command"),
        "by": body.pop("by"),
        "at": _iso(e.at),
        "detail": body,
    }


@dataclass
class Snapshot:
    """The ledger folded now, with what the fold does not keep: who wrote what, when.

    Attributes:
        view: :func:`fold` of every event.
        loop_events: Events written by a trading loop (every kind but ``control``).
        last_loop_event: The newest of them.
        controls: The ``control`` events, oldest first.
    """

    view: LedgerView
    loop_events: int = 0
    last_loop_event: LedgerEvent | None = None
    controls: list[LedgerEvent] = field(default_factory=list)

    @property
    def loop_seen(self) -> bool:
        """Whether any trading loop has written to the ledger."""
        return self.loop_events > 0


def extend(snap: Snapshot, events: Iterable[LedgerEvent]) -> Snapshot:
    """Fold ``events`` into ``snap`` (in place) and note the loop's and the commands' events."""
    events = list(events)
    fold(events, snap.view)
    for e in events:
        if e.kind == "control":
            snap.controls.append(e)
        elif is_service_signal(e):
            continue  # the signal service's record, not the loop's
        else:
            snap.loop_events += 1
            snap.last_loop_event = e
    return snap


def snapshot(events: Iterable[LedgerEvent]) -> Snapshot:
    """Fold ``events`` from nothing."""
    return extend(Snapshot(view=LedgerView()), events)


def young_gaps(
    after: int, events: Iterable[LedgerEvent], now: pd.Timestamp, young_s: float
) -> bool:
    """Return whether a sequence number after ``after`` is missing before a young event.

    A young event was recorded under ``young_s`` before ``now``; a number missing before it
    may belong to a transaction still in flight.
    """
    expected = after + 1
    for e in events:
        seq = e.seq or 0
        if seq > expected and (now - e.at).total_seconds() < young_s:
            return True
        expected = seq + 1
    return False


def order_row(o: OrderView) -> dict[str, Any]:
    """Return one order as JSON-ready values."""
    i = o.intent
    return {
        "client_order_id": o.client_order_id,
        "exchange_order_id": o.exchange_order_id,
        "symbol": i.symbol,
        "leg": i.leg,
        "side": i.side,
        "order_type": i.order_type,
        "qty": i.qty,
        "price": i.price,
        "stop_price": i.stop_price,
        "reduce_only": i.reduce_only,
        "state": o.state,
        "reason": o.reason,
        "filled_qty": o.filled_qty,
        "avg_fill_price": o.avg_price,
        "attempt": i.attempt,
        "origin": i.origin,
        "trade_key": i.trade_key,
        "decided_at": _ns_iso(i.decided_at),
    }


def select_orders(
    view: LedgerView,
    *,
    state: str | None = None,
    symbol: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OrderView], int]:
    """Return one page of orders, newest intent first, and how many match in all.

    Args:
        view: The folded ledger.
        state: An order state, ``open`` (not final) or ``final``; None: every order.
        symbol: Any spelling of a symbol; None: every symbol.
        limit: Page size (1 to :data:`MAX_PAGE`).
        offset: Orders to skip.

    Raises:
        DeskInputError: An unknown state, a bad symbol or page.
    """
    if state is not None and state not in ("open", "final", *STATES):
        raise DeskInputError(
            f"state: {state!r} is not open, final or one of {list(STATES)}", "state"
        )
    if not 1 <= limit <= MAX_PAGE:
        raise DeskInputError(f"limit: expected 1 to {MAX_PAGE}, got {limit}", "limit")
    if offset < 0:
        raise DeskInputError(f"offset: expected >= 0, got {offset}", "offset")
    pair = _symbol_pair(symbol) if symbol is not None else None
    chosen = []
    for o in reversed(list(view.orders.values())):
        if pair is not None and _pair(o.intent.symbol) != pair:
            continue
        if (state == "open" and o.final) or (state == "final" and not o.final):
            continue
        if state not in (None, "open", "final") and o.state != state:
            continue
        chosen.append(o)
    return chosen[offset : offset + limit], len(chosen)


def _symbol_pair(symbol: str) -> str:
    try:
        return _pair(symbol)
    except ValueError as exc:
        raise DeskInputError(str(exc), "symbol") from None


@dataclass
class RoundTrip:
    """One round trip of a symbol: from flat to flat again, from the fills in time order.

    Attributes:
        symbol: The market.
        direction: ``long`` or ``short``.
        opened_at: First fill.
        closed_at: The fill that made it flat again (None while open).
        entry_qty: Quantity bought (long) or sold (short) to open and add.
        entry_notional: Sum of quantity x price of those fills.
        exit_qty: Quantity that reduced it.
        exit_notional: Sum of quantity x price of those fills.
        stop_loss: The protective stop of its first entry order, when the ledger has one.
        position: Its accounting (average cost, realized PnL, fees), the ledger's own rule.
        legs: The legs of the orders that reduced it (``stop``, ``tp1``, ``close``, ...).
        trade_keys: The engine trades it contains.
    """

    symbol: str
    direction: Direction
    opened_at: pd.Timestamp
    closed_at: pd.Timestamp | None = None
    entry_qty: float = 0.0
    entry_notional: float = 0.0
    exit_qty: float = 0.0
    exit_notional: float = 0.0
    stop_loss: float | None = None
    position: PositionView = field(default_factory=PositionView)
    legs: list[str] = field(default_factory=list)
    trade_keys: list[str] = field(default_factory=list)

    @property
    def entry_price(self) -> float:
        """Average entry price."""
        return self.entry_notional / self.entry_qty

    @property
    def exit_price(self) -> float | None:
        """Average exit price (None before any exit)."""
        return self.exit_notional / self.exit_qty if self.exit_qty else None

    @property
    def net_pnl(self) -> float:
        """Realized PnL less fees (funding is kept per position, not per round trip)."""
        return self.position.realized - self.position.fees

    @property
    def r_multiple(self) -> float | None:
        """Net PnL over the risk at entry (quantity x distance to the stop); None: no stop."""
        if self.stop_loss is None:
            return None
        risk = self.entry_qty * abs(self.entry_price - self.stop_loss)
        return self.net_pnl / risk if risk > 0 else None

    def row(self) -> dict[str, Any]:
        """Return it as JSON-ready values."""
        return {
            "symbol": self.symbol,
            "direction": self.direction,
            "opened_at": _iso(self.opened_at),
            "closed_at": _iso(self.closed_at),
            "qty": self.entry_qty,
            "entry_price": self.entry_price,
            "exit_price": self.exit_price,
            "stop_loss": self.stop_loss,
            "realized_pnl": self.position.realized,
            "fees": self.position.fees,
            "net_pnl": self.net_pnl,
            "r_multiple": self.r_multiple,
            "exit_legs": sorted(set(self.legs)),
            "trade_keys": self.trade_keys,
        }


def round_trips(view: LedgerView) -> list[RoundTrip]:
    """Return every round trip in the ledger (closed and open), in the order they opened.

    A fill that reverses the position closes the round trip at its price and opens the next
    with the rest (its fee split in proportion).
    """
    fills = sorted(view.fills.values(), key=lambda f: (f.filled_at.value, f.venue_trade_id))
    owner = {tid: o for o in view.orders.values() for tid in o.fills}  # the fold's links
    open_: dict[str, RoundTrip] = {}
    out: list[RoundTrip] = []
    for f in fills:
        order = owner.get(f.venue_trade_id)
        left, fee = f.qty, f.fee
        while left > 0:
            rt = open_.get(f.symbol)
            if rt is None:
                rt = RoundTrip(f.symbol, "long" if f.side == "buy" else "short", f.filled_at)
                if order is not None and order.intent.stop_loss is not None:
                    rt.stop_loss = order.intent.stop_loss
                open_[f.symbol] = rt
                out.append(rt)
            adds = (f.side == "buy") == (rt.direction == "long")
            part = left if adds else min(left, abs(rt.position.qty))
            if part <= 0.0:  # nothing left to reduce: never loop on a zero part
                break
            part_fee = fee * part / f.qty if f.qty else 0.0
            rt.position.apply(f.side, part, f.price, part_fee)
            entry_key = order.intent.trade_key if order and order.intent.leg == "entry" else ""
            if adds and entry_key and entry_key not in rt.trade_keys:
                rt.trade_keys.append(entry_key)
            if adds:
                rt.entry_qty += part
                rt.entry_notional += part * f.price
            else:
                rt.exit_qty += part
                rt.exit_notional += part * f.price
                rt.legs.append(order.intent.leg if order is not None else "external")
            left = left - part if left - part > f.qty * 1e-9 else 0.0
            if rt.position.qty == 0.0:
                rt.closed_at = f.filled_at
                del open_[f.symbol]
    return out


def bot_state(snap: Snapshot) -> dict[str, Any]:
    """Return what the loop is doing as far as the ledger says.

    ``state``: ``no_loop`` (no loop has written yet), ``halted`` (with ``halt_reason``: a
    stop, a kill switch, a protection or a reconciliation mismatch) or ``running``.
    ``awaiting_loop``: a command is newer than anything the loop wrote since.
    """
    view = snap.view
    state = "no_loop" if not snap.loop_seen else ("halted" if view.halted else "running")
    last = snap.controls[-1] if snap.controls else None
    loop_seq = snap.last_loop_event.seq if snap.last_loop_event is not None else 0
    return {
        "state": state,
        "halted": view.halted is not None,
        "halt_reason": view.halted,
        "last_control": _control(last) if last is not None else None,
        "awaiting_loop": last is not None and (last.seq or 0) > (loop_seq or 0),
        "loop_last_event_at": _iso(snap.last_loop_event.at) if snap.last_loop_event else None,
        "message": None if snap.loop_seen else NO_LOOP,
    }


@contextlib.contextmanager
def _ledger_errors(verb: str) -> Iterator[None]:
    """Turn a failed ledger ``verb`` into a :class:`LedgerError` naming only the error's class.

    A driver's text may quote the DSN; it is never shown.
    """
    try:
        yield
    except LedgerError:
        raise
    except Exception as exc:
        raise LedgerError(f"could not {verb} the ledger ({type(exc).__name__})") from None


def _serialized(method: _M) -> _M:
    """Run a desk method under the desk's lock (one fold at a time, rows built from it)."""

    @functools.wraps(method)
    def wrapper(self: TradingDesk, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_M, wrapper)


class TradingDesk:
    """Reads and commands over one ledger, opened on first use (and again after a failure).

    The fold is kept between calls and continued with the events appended since. SQLite
    makes sequence numbers visible in order, so that is exact. PostgreSQL may commit a lower
    sequence number after a higher one is visible. A gap in the numbers read before an event
    recorded less than ``young_s`` ago (a transaction still in flight, or a number burned by
    a refused duplicate or a rollback) makes the desk fold the whole ledger again every
    ``settle_s`` until no such gap is left; and it does so at least every ``refold_s`` while
    events arrive.

    Args:
        ledger: The ledger's settings (the DSN is never shown), or an open ledger.
        config: The symbols traded and the starting cash.
        marks: The latest price of a symbol, or None when unknown (unrealized PnL needs it).
        clock: The time commands are stamped with.
        settle_s: Time between whole folds while young gaps remain (PostgreSQL).
        refold_s: Longest time between two whole folds while events arrive (PostgreSQL).
        young_s: How long a gap may be a transaction in flight (after that: a burned number).
    """

    def __init__(
        self,
        ledger: LedgerConfig | Ledger,
        config: DeskConfig,
        marks: Callable[[str], float | None] | None = None,
        clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
        *,
        settle_s: float = 5.0,
        refold_s: float = 60.0,
        young_s: float = 60.0,
    ) -> None:
        """Keep the settings; nothing is opened yet."""
        self._config_or_ledger = ledger
        self._ledger: Ledger | None = None if isinstance(ledger, LedgerConfig) else ledger
        self.config = config
        self.marks = marks or (lambda _symbol: None)
        self.clock = clock
        self.settle_s = settle_s
        self.refold_s = refold_s
        self._lock = threading.RLock()
        self._pairs = {_pair(s): s for s in config.symbols}
        self._snap: Snapshot | None = None
        self.young_s = young_s
        self._full_at = 0.0
        self._gaps = False
        self._since_full = False

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgres``."""
        src = self._config_or_ledger
        if isinstance(src, LedgerConfig):
            return src.backend
        return str(getattr(src, "dialect", "unknown"))

    def ledger(self) -> Ledger:
        """Return the open ledger, opening it now if needed.

        Raises:
            LedgerError: It cannot be opened (the message names no credential).
        """
        with self._lock:
            if self._ledger is None:
                src = self._config_or_ledger
                assert isinstance(src, LedgerConfig)
                self._ledger = open_ledger(src)
            return self._ledger

    def _read(self, since: int) -> list[LedgerEvent]:
        with _ledger_errors("read"):
            return self.ledger().events(since)

    def _whole_fold_due(self, now: float) -> bool:
        if self.backend != "postgres":
            return False
        if self._gaps and now - self._full_at >= self.settle_s:
            return True
        return self._since_full and now - self._full_at >= self.refold_s

    @_serialized
    def snapshot(self) -> Snapshot:
        """Return the ledger folded now (continuing the last fold; see the class)."""
        now, wall = time.monotonic(), self.clock()
        postgres = self.backend == "postgres"
        snap = self._snap
        if snap is None or self._whole_fold_due(now):
            events = self._read(0)
            fresh = snapshot(events)
            self._snap, self._full_at, self._since_full = fresh, now, False
            self._gaps = postgres and young_gaps(0, events, wall, self.young_s)
            return fresh
        new = self._read(snap.view.last_seq)
        if new:
            self._since_full = True
            if postgres and young_gaps(snap.view.last_seq, new, wall, self.young_s):
                self._gaps = True
        return extend(snap, new)

    def close(self) -> None:
        """Close the ledger if the desk opened it."""
        with self._lock:
            if self._ledger is not None and isinstance(self._config_or_ledger, LedgerConfig):
                self._ledger.close()
                self._ledger = None

    # -- reads ---------------------------------------------------------------------------------

    def _loop(self, snap: Snapshot) -> dict[str, Any]:
        return {"seen": snap.loop_seen, "message": None if snap.loop_seen else NO_LOOP}

    @_serialized
    def orders(
        self, state: str | None = None, symbol: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """Return a page of orders (see :func:`select_orders`)."""
        snap = self.snapshot()
        page, total = select_orders(snap.view, state=state, symbol=symbol, limit=limit,
                                    offset=offset)  # fmt: skip
        return {
            "orders": [order_row(o) for o in page],
            "total": total,
            "limit": limit,
            "offset": offset,
            "loop": self._loop(snap),
        }

    def _mark(self, symbol: str) -> float | None:
        try:
            mark = self.marks(symbol)
        except Exception:  # a price source that fails leaves the PnL unknown, not the answer
            return None
        return float(mark) if mark is not None and math.isfinite(mark) else None

    @_serialized
    def positions(self) -> dict[str, Any]:
        """Return the open positions with their marks and unrealized PnL where a mark is known."""
        snap = self.snapshot()
        rows = []
        for symbol, p in snap.view.positions.items():
            if p.qty == 0.0:
                continue
            mark = self._mark(symbol)
            rows.append({
                "symbol": symbol,
                "side": "long" if p.qty > 0 else "short",
                "qty": p.qty,
                "avg_price": p.avg_price,
                "mark_price": mark,
                "unrealized_pnl": None if mark is None else p.qty * (mark - p.avg_price),
                "realized_pnl": p.realized,
                "fees": p.fees,
                "funding": p.funding,
                "exchange_qty": snap.view.exchange_positions.get(symbol),
            })  # fmt: skip
        return {"positions": rows, "loop": self._loop(snap)}

    @_serialized
    def account(self) -> dict[str, Any]:
        """Return equity, PnL, balances, the halt and the bot's state."""
        snap = self.snapshot()
        view = snap.view
        realized = math.fsum(p.realized for p in view.positions.values())
        fees = math.fsum(p.fees for p in view.positions.values())
        funding = math.fsum(p.funding for p in view.positions.values())
        marks: dict[str, float] = {}
        unknown = []
        for symbol, p in view.positions.items():
            if p.qty == 0.0:
                continue
            mark = self._mark(symbol)
            if mark is None:
                unknown.append(symbol)
            else:
                marks[symbol] = mark
        unrealized = None
        equity = None
        if not unknown:
            equity = view.equity(self.config.start_cash, marks)
            unrealized = equity - view.equity(self.config.start_cash)
        return {
            "equity": equity,
            "start_cash": self.config.start_cash,
            "realized_pnl": realized,
            "unrealized_pnl": unrealized,
            "unpriced_symbols": unknown,
            "fees": fees,
            "funding": funding,
            "balances": dict(view.balances),
            "open_orders": len(view.open_orders()),
            "open_positions": sum(1 for p in view.positions.values() if p.qty != 0.0),
            "bot": bot_state(snap),
            "ledger": {"backend": self.backend, "last_seq": view.last_seq},
        }

    @_serialized
    def trades(self, symbol: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Return closed round trips, newest first, one page."""
        if not 1 <= limit <= MAX_PAGE:
            raise DeskInputError(f"limit: expected 1 to {MAX_PAGE}, got {limit}", "limit")
        if offset < 0:
            raise DeskInputError(f"offset: expected >= 0, got {offset}", "offset")
        pair = _symbol_pair(symbol) if symbol is not None else None
        snap = self.snapshot()
        closed = [
            rt for rt in round_trips(snap.view)
            if rt.closed_at is not None and (pair is None or _pair(rt.symbol) == pair)
        ]  # fmt: skip
        closed.reverse()
        return {
            "trades": [rt.row() for rt in closed[offset : offset + limit]],
            "total": len(closed),
            "limit": limit,
            "offset": offset,
            "loop": self._loop(snap),
        }

    # -- commands ------------------------------------------------------------------------------

    def symbol(self, symbol: str) -> str:
        """Return the traded symbol a request names.

        Raises:
            DeskInputError: Not a symbol, or not one the loop trades (field ``symbol``).
        """
        found = self._pairs.get(_symbol_pair(symbol))
        if found is None:
            raise DeskInputError(
                f"symbol: {symbol!r} is not traded; traded symbols are {list(self.config.symbols)}",
                "symbol",
            )
        return found

    @_serialized
    def record(self, events: Sequence[LedgerEvent]) -> None:
        """Append ``events`` in one transaction (the service's signal journal).

        Raises:
            LedgerError: The ledger cannot be written.
        """
        with _ledger_errors("write"):
            self.ledger().append(events)

    @_serialized
    def command(self, command: str, by: str, **detail: Any) -> dict[str, Any]:
        """Append one command for the loop; return what was recorded and whether a loop is seen.

        Raises:
            DeskInputError: An unknown command or symbol.
            LedgerError: The ledger cannot be written.
        """
        if command not in COMMANDS:
            raise DeskInputError(f"command: {command!r} is not one of {COMMANDS}", "command")
        if command == "order":
            detail["symbol"] = self.symbol(str(detail.get("symbol", "")))
        snap = self.snapshot()
        at = self.clock()
        with _ledger_errors("write"):
            seq = request(self.ledger(), command, by, at, **detail)
        return {
            "accepted": True,
            "seq": seq,
            "command": command,
            "by": by,
            "at": _iso(at),
            "detail": detail,
            "halted_before": snap.view.halted,
            "loop": self._loop(snap),
        }


def candle_marks(
    store: CandleStore, symbols: Iterable[str], timeframe: str
) -> Callable[[str], float | None]:
    """Return a mark source: the close of the newest stored candle of a symbol's pair.

    ``symbols`` are the stored symbols; a position in ``BTC/USDT:USDT`` is marked with the
    candles of ``BTC/USDT``. None for a symbol with no candles.
    """
    from features.candles.schema import Timeframe

    tf = Timeframe.parse(timeframe)
    stored = {_pair(s): s for s in symbols}

    def mark(symbol: str) -> float | None:
        name = stored.get(_pair(symbol))
        if name is None:
            return None
        last = store.last_timestamp(name, tf)
        if last is None:
            return None
        frame = store.read(name, tf, start=last)
        return float(frame["close"].iloc[-1]) if len(frame) else None

    return mark
