"""The trading endpoints: orders, positions, account, round trips, bot start/stop, kill switch.

Thin: each route validates its query or body (the typed models below, in the OpenAPI
document), asks the process's :class:`serving.desk.TradingDesk` and answers. Reads fold the
ledger; commands are appended to it for the trading loop (``serving.control``), naming the
API key that asked; they answer 202 (recorded, not yet executed). The gateway checks the
scope of each method and path (:data:`ROUTES`) and audits the mutating ones. The routes are
included in the ops app (``serving.service.ops``), which the gateway sends :data:`PATHS` to.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.control import Command
from serving.desk import MAX_PAGE, DeskInputError, TradingDesk
from serving.ledger import LedgerError
from serving.order_state import STATES, Leg, OrderState
from serving.service.errors import InvalidInput, ServiceError, Unavailable
from serving.service.wiring import HOLDER

ROUTES: dict[str, tuple[str, str, bool]] = {
    "GET /api/orders": ("orders", "read", False),
    "GET /api/positions": ("positions", "read", False),
    "GET /api/account": ("account", "read", False),
    "GET /api/trades": ("trades", "read", False),
    "POST /api/orders": ("order_command", "trade", True),
    "POST /api/bot/start": ("bot_start", "trade", True),
    "POST /api/bot/stop": ("bot_stop", "trade", True),
    "POST /api/kill-switch": ("kill_switch", "admin", True),
}
"""``METHOD path`` -> (metrics label, scope needed, mutating), read by the gateway."""
PATHS = frozenset(k.split(" ", 1)[1] for k in ROUTES)

router = APIRouter(tags=["Trading"])
TEXT = r"^[^\x00-\x1f\x7f]*$"
"""Free text without control characters (PostgreSQL's JSON refuses NUL; logs stay one line)."""
Reason = Field(min_length=1, max_length=200, pattern=TEXT)
STATE_QUERY = Query(
    None,
    max_length=32,
    description="an order state, open (not final) or final",
    json_schema_extra={"enum": ["open", "final", *STATES]},
)


class Unauthenticated(ServiceError):
    """A command without the key that the gateway verified (401)."""

    status = 401
    code = "unauthorized"


# -- models ----------------------------------------------------------------------------------


class LoopStatus(BaseModel):
    """Whether a trading loop has written to the ledger (``message`` says what that means)."""

    seen: bool
    message: str | None


class OrderRow(BaseModel):
    """One order as the ledger knows it."""

    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    leg: Leg
    side: Literal["buy", "sell"]
    order_type: str
    qty: float
    price: float | None
    stop_price: float | None
    reduce_only: bool
    state: OrderState
    reason: str
    filled_qty: float
    avg_fill_price: float | None
    attempt: int
    origin: str
    trade_key: str
    decided_at: str | None


class OrdersPage(BaseModel):
    """``GET /api/orders``: one page of orders, newest first."""

    orders: list[OrderRow]
    total: int
    limit: int
    offset: int
    loop: LoopStatus


class PositionRow(BaseModel):
    """An open position from our fills (average cost), marked at the newest candle's close."""

    symbol: str
    side: Literal["long", "short"]
    qty: float
    avg_price: float
    mark_price: float | None
    unrealized_pnl: float | None
    realized_pnl: float
    fees: float
    funding: float
    exchange_qty: float | None


class Positions(BaseModel):
    """``GET /api/positions``."""

    positions: list[PositionRow]
    loop: LoopStatus


class ControlRow(BaseModel):
    """A command as recorded in the ledger."""

    seq: int | None
    command: Command
    by: str
    at: str | None
    detail: dict[str, Any]


class BotState(BaseModel):
    """What the loop is doing as far as the ledger says."""

    state: Literal["no_loop", "running", "halted"]
    halted: bool
    halt_reason: str | None
    last_control: ControlRow | None
    awaiting_loop: bool
    loop_last_event_at: str | None
    message: str | None


class LedgerInfo(BaseModel):
    """Which ledger answered and how far it goes."""

    backend: str
    last_seq: int


class Account(BaseModel):
    """``GET /api/account``: equity is the starting cash plus the ledger's PnL."""

    equity: float | None
    start_cash: float
    realized_pnl: float
    unrealized_pnl: float | None
    unpriced_symbols: list[str]
    fees: float
    funding: float
    balances: dict[str, float]
    open_orders: int
    open_positions: int
    bot: BotState
    ledger: LedgerInfo


class TradeRow(BaseModel):
    """A closed round trip: flat to flat on one symbol."""

    symbol: str
    direction: Literal["long", "short"]
    opened_at: str | None
    closed_at: str | None
    qty: float
    entry_price: float
    exit_price: float | None
    stop_loss: float | None
    realized_pnl: float
    fees: float
    net_pnl: float
    r_multiple: float | None
    exit_legs: list[str]
    trade_keys: list[str]


class TradesPage(BaseModel):
    """``GET /api/trades``: closed round trips, newest first."""

    trades: list[TradeRow]
    total: int
    limit: int
    offset: int
    loop: LoopStatus


class OrderCommand(BaseModel):
    """``POST /api/orders``: a manual entry or exit, sized and executed by the engine."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["enter", "exit"]
    direction: Literal["long", "short"]
    symbol: str = Field(min_length=1, max_length=32, pattern=TEXT, examples=["BTC/USDT", "BTCUSDT"])
    note: str | None = Field(default=None, max_length=200, pattern=TEXT)


class BotCommand(BaseModel):
    """``POST /api/bot/start`` and ``/api/bot/stop`` (the body may be left out)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=200, pattern=TEXT)


class KillCommand(BaseModel):
    """``POST /api/kill-switch``: cancel every working order, flatten if asked, halt."""

    model_config = ConfigDict(extra="forbid")

    flatten: bool = False
    reason: str = Reason


class Receipt(BaseModel):
    """A command recorded for the trading loop (202: not executed yet)."""

    accepted: bool
    seq: int
    command: Command
    by: str
    at: str | None
    detail: dict[str, Any]
    halted_before: str | None
    loop: LoopStatus


# -- plumbing -----------------------------------------------------------------------------------


def _desk() -> TradingDesk:
    desk = getattr(HOLDER.get(), "desk", None)
    if desk is None:
        raise Unavailable("trading is not configured in this service process (no ledger)")
    return desk


def _by(request: Request) -> str:
    key = request.scope.get("state", {}).get("api_key")
    if key is None:
        raise Unauthenticated("an API key is required (X-API-Key header)")
    return f"key:{key.id} ({key.name})"


def _call(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = method(*args, **kwargs)
    except DeskInputError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    except LedgerError as exc:
        raise Unavailable(f"the trading ledger is unavailable: {exc}") from None
    return result


# -- reads ----------------------------------------------------------------------------------


@router.get("/api/orders", response_model=OrdersPage)
def list_orders(
    state: str | None = STATE_QUERY,
    symbol: str | None = Query(None, min_length=1, max_length=32),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Orders from the ledger, newest first, filtered and paged (``read`` scope)."""
    return _call(_desk().orders, state=state, symbol=symbol, limit=limit, offset=offset)


@router.get("/api/positions", response_model=Positions)
def list_positions() -> dict[str, Any]:
    """Open positions with marks and unrealized PnL (``read`` scope)."""
    return _call(_desk().positions)


@router.get("/api/account", response_model=Account)
def account() -> dict[str, Any]:
    """Equity, PnL, balances, the halt and its reason, the bot's state (``read`` scope)."""
    return _call(_desk().account)


@router.get("/api/trades", response_model=TradesPage)
def list_trades(
    symbol: str | None = Query(None, min_length=1, max_length=32),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Closed round trips with R multiples where the stop is known (``read`` scope)."""
    return _call(_desk().trades, symbol=symbol, limit=limit, offset=offset)


# -- commands ------------------------------------------------------------------------------


@router.post("/api/orders", response_model=Receipt, status_code=202)
def order_command(body: OrderCommand, request: Request) -> dict[str, Any]:
    """Record a manual entry or exit for the loop to size and execute (``trade`` scope)."""
    detail: dict[str, Any] = body.model_dump(exclude_none=True)
    return _call(_desk().command, "order", _by(request), **detail)


@router.post("/api/bot/start", response_model=Receipt, status_code=202)
def bot_start(request: Request, body: BotCommand | None = None) -> dict[str, Any]:
    """Re-arm trading after a stop, a kill or a hard stop (``trade`` scope)."""
    detail = body.model_dump(exclude_none=True) if body is not None else {}
    return _call(_desk().command, "start", _by(request), **detail)


@router.post("/api/bot/stop", response_model=Receipt, status_code=202)
def bot_stop(request: Request, body: BotCommand | None = None) -> dict[str, Any]:
    """No new entries; open positions and their exits are still managed (``trade`` scope)."""
    detail = body.model_dump(exclude_none=True) if body is not None else {}
    return _call(_desk().command, "stop", _by(request), **detail)


@router.post("/api/kill-switch", response_model=Receipt, status_code=202)
def kill_switch(body: KillCommand, request: Request) -> dict[str, Any]:
    """Cancel every working order, close positions when ``flatten``, halt (``admin`` scope)."""
    return _call(_desk().command, "kill", _by(request), **body.model_dump())
