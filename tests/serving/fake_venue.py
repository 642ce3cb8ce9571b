"""A scripted stand-in for a ccxt derivatives exchange (Delta-like): orders, fills, faults.

It speaks the ccxt methods the broker uses (``load_markets``, ``market``, ``create_order``,
``cancel_order``, ``fetch_order``, ``fetch_open_orders``, ``fetch_my_trades``,
``fetch_positions``, ``fetch_time``, ``seconds``, ``set_sandbox_mode``) and raises ccxt's own
exception classes. Amounts are whole contracts of ``contract_size`` base units.

Faults, queued per method in ``script`` (``venue.fail("create_order", "timeout_after")``):

- ``timeout_after``: do the call, then raise ``RequestTimeout`` (accepted, answer lost);
- ``timeout_before``: raise ``RequestTimeout`` without doing it;
- ``rate_limit``: raise ``RateLimitExceeded`` without doing it;
- ``down``: raise ``ExchangeNotAvailable`` (also ``venue.down = True`` for every call);
- ``crash``: do the call, then raise :class:`Crash` (the process dies before the answer);
- an exception instance: raise it.

Other behaviours: ``partial_parts`` (a market order fills in that many parts, one per
``tick``), ``reverse_lists`` (lists come back newest first), ``clock_offset_s`` (the venue's
clock runs ahead of ours; a signature older than 5 s is refused), ``margin`` (cash available
for initial margin at ``leverage``, the wallet's balance), ``refuse_exits`` (the next that
many reduce-only orders are refused), ``credentials`` (what a valid key
and secret are). :meth:`FakeVenue.pay_funding` charges a funding payment as a wallet
transaction (``fetch_ledger``, as Delta reports funding).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import ccxt


class Crash(BaseException):
    """The trading process died (kill -9) in the middle of a call."""


@dataclass
class FakeVenue:
    """A Delta-like venue in memory."""

    symbol: str = "BTC/USDT:USDT"
    contract_size: float = 0.001
    price: float = 100_000.0
    margin: float = 10_000.0
    leverage: float = 10.0
    id: str = "delta"
    apiKey: str = "key-AAAA"
    secret: str = "secret-BBBB"
    credentials: tuple[str, str] = ("key-AAAA", "secret-BBBB")
    partial_parts: int = 1
    refuse_exits: int = 0  # the next this many reduce-only creates are refused
    reverse_lists: bool = False
    clock_offset_s: float = 0.0
    down: bool = False
    script: dict[str, list[Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    position: float = 0.0  # contracts, signed
    calls: list[str] = field(default_factory=list)
    creates: list[dict[str, Any]] = field(default_factory=list)
    dead_man: list[str] = field(default_factory=list)
    wallet: list[dict[str, Any]] = field(default_factory=list)  # Delta's wallet transactions
    sandbox: bool = False
    now_ms: int = 1_767_225_600_000  # 2026-01-01
    _next: int = 1

    # -- controls ---------------------------------------------------------------------------

    def fail(self, method: str, *actions: Any) -> None:
        """Queue what the next calls of ``method`` do first."""
        self.script.setdefault(method, []).extend(actions)

    def _fault(self, method: str) -> Any:
        self.calls.append(method)
        if self.down:
            raise ccxt.ExchangeNotAvailable(f"{self.id} GET 503 Service Unavailable")
        queue = self.script.get(method) or []
        action = queue.pop(0) if queue else None
        if isinstance(action, BaseException):
            raise action
        if action == "timeout_before":
            raise ccxt.RequestTimeout(f"{self.id} POST https://api.delta.exchange request timeout")
        if action == "rate_limit":
            raise ccxt.RateLimitExceeded(f'{self.id} 429 {{"error":{{"code":"rate_limited"}}}}')
        if action == "down":
            raise ccxt.ExchangeNotAvailable(f"{self.id} 503 Service Unavailable")
        return action

    def _after(self, action: Any) -> None:
        if action == "timeout_after":
            raise ccxt.RequestTimeout(f"{self.id} POST https://api.delta.exchange read timeout")
        if action == "crash":
            raise Crash("killed between submit and acknowledgement")

    def _auth(self) -> None:
        if (self.apiKey, self.secret) != self.credentials:
            raise ccxt.AuthenticationError(f'{self.id} {{"error":{{"code":"invalid_api_key"}}}}')
        if abs(self.seconds() - (time.time() + self.clock_offset_s)) > 5.0:
            raise ccxt.ExchangeError(
                f'{self.id} {{"error":{{"code":"expired_signature","context":{{}}}}}}'
            )

    def _list(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [dict(r) for r in rows]
        return rows[::-1] if self.reverse_lists else rows

    def set_price(self, price: float) -> None:
        """Move the market; resting orders that the price reaches fill."""
        self.price = price
        self.tick()

    def tick(self) -> None:
        """Advance one step: partial market fills continue, triggered orders fill."""
        self.now_ms += 1000
        for o in list(self.orders.values()):
            if o["status"] != "open":
                continue
            kind = o["type"]
            if kind == "market" and o["stop_price"] is None:
                self._fill(o, o["parts_left"])
            elif o["stop_price"] is not None:
                hit = (
                    self.price <= o["stop_price"] if o["side"] == "sell"
                    else self.price >= o["stop_price"]
                )  # fmt: skip
                if hit:
                    self._fill(o, 1)
            elif kind == "limit":
                hit = self.price >= o["price"] if o["side"] == "sell" else self.price <= o["price"]
                if hit:
                    self._fill(o, 1, maker=True)

    def _fill(self, o: dict[str, Any], parts: int, maker: bool = False) -> None:
        remaining = o["amount"] - o["filled"]
        size = remaining if parts <= 1 else float(max(1, int(remaining // parts)))
        if o["reduce_only"]:
            size = min(size, abs(self.position))
            if size <= 0:
                o["status"] = "canceled"
                return
        o["filled"] += size
        o["parts_left"] = max(1, parts - 1)
        if o["filled"] >= o["amount"]:
            o["status"] = "closed"
        self.position += size if o["side"] == "buy" else -size
        self.trades.append({
            "id": f"T{len(self.trades) + 1}", "order": o["id"], "symbol": self.symbol,
            "side": o["side"], "price": o["price"] or self.price, "amount": size,
            "timestamp": self.now_ms, "takerOrMaker": "maker" if maker else "taker",
            "fee": {"cost": round(size * self.contract_size * self.price * 0.0005, 8),
                    "currency": "USDT"},
        })  # fmt: skip

    # -- the ccxt interface ------------------------------------------------------------------

    def set_sandbox_mode(self, enabled: bool) -> None:
        self.sandbox = enabled

    def seconds(self) -> int:
        return int(time.time())

    def fetch_time(self, params: dict | None = None) -> int:
        self._fault("fetch_time")
        return int((time.time() + self.clock_offset_s) * 1000)

    def load_markets(self, reload: bool = False, params: dict | None = None) -> dict:
        self._fault("load_markets")
        return {self.symbol: self.market(self.symbol)}

    def market(self, symbol: str) -> dict[str, Any]:
        if symbol != self.symbol:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        base, quote = symbol.split(":")[0].split("/")
        return {
            "symbol": symbol, "id": f"{base}{quote}", "settle": quote, "quote": quote,
            "contract": True, "linear": True, "contractSize": self.contract_size,
            "precision": {"amount": 1.0, "price": 0.5}, "limits": {"amount": {"min": 1.0}},
        }  # fmt: skip

    def create_order(
        self, symbol: str, type: str, side: str, amount: float, price: float | None = None,
        params: dict | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        action = self._fault("create_order")
        self._auth()
        p = dict(params or {})
        self.market(symbol)
        if amount != int(amount) or amount < 1:
            raise ccxt.InvalidOrder(
                f'{self.id} {{"error":{{"code":"bad_schema","size":{amount}}}}}'
            )
        cid = p.get("clientOrderId")
        if cid and any(o["clientOrderId"] == cid for o in self.orders.values()):
            raise ccxt.DuplicateOrderId(f"{self.id} duplicate client_order_id {cid}")
        reduce_only = bool(p.get("reduceOnly"))
        if reduce_only and self.refuse_exits > 0:
            self.refuse_exits -= 1
            raise ccxt.InvalidOrder(f'{self.id} {{"error":{{"code":"bad_stop_price"}}}}')
        if not reduce_only:
            need = amount * self.contract_size * self.price / self.leverage
            if need > self.margin:
                raise ccxt.InsufficientFunds(
                    f'{self.id} {{"error":{{"code":"insufficient_margin","context":'
                    f'{{"required_additional_balance":"{need - self.margin:.2f}"}}}}}}'
                )
        self.creates.append({"symbol": symbol, "type": type, "side": side, "amount": amount,
                             "price": price, "params": p})  # fmt: skip
        xid = str(self._next)
        self._next += 1
        stop = p.get("stop_price")
        o = {
            "id": xid, "clientOrderId": cid, "symbol": symbol, "type": type, "side": side,
            "amount": float(amount), "filled": 0.0, "price": price, "status": "open",
            "stop_price": float(stop) if stop is not None else None, "reduce_only": reduce_only,
            "parts_left": self.partial_parts, "timestamp": self.now_ms,
        }  # fmt: skip
        self.orders[xid] = o
        if type == "market" and stop is None:
            self._fill(o, self.partial_parts)
        self._after(action)
        return self._order(o)

    def _order(self, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": o["id"], "clientOrderId": o["clientOrderId"], "symbol": o["symbol"],
            "status": o["status"], "amount": o["amount"], "filled": o["filled"],
            "remaining": o["amount"] - o["filled"], "side": o["side"], "type": o["type"],
            "price": o["price"], "timestamp": o["timestamp"],
        }  # fmt: skip

    def cancel_order(self, id: str, symbol: str | None = None, params: dict | None = None) -> dict:
        action = self._fault("cancel_order")
        o = self.orders.get(id)
        if o is None or o["status"] != "open":
            raise ccxt.OrderNotFound(f'{self.id} {{"error":{{"code":"open_order_not_found"}}}}')
        o["status"] = "canceled"
        self._after(action)
        return self._order(o)

    def fetch_order(self, id: str | None, symbol: str | None = None, params: dict | None = None):
        self._fault("fetch_order")
        cid = (params or {}).get("clientOrderId")
        for o in self.orders.values():
            if (cid is not None and o["clientOrderId"] == cid) or (cid is None and o["id"] == id):
                return self._order(o)
        raise ccxt.OrderNotFound(f'{self.id} {{"error":{{"code":"order_not_found"}}}}')

    def fetch_open_orders(self, symbol=None, since=None, limit=None, params=None) -> list[dict]:
        self._fault("fetch_open_orders")
        return self._list([self._order(o) for o in self.orders.values() if o["status"] == "open"])

    def fetch_my_trades(self, symbol=None, since=None, limit=None, params=None) -> list[dict]:
        self._fault("fetch_my_trades")
        return self._list([t for t in self.trades if since is None or t["timestamp"] >= since])

    def fetch_positions(self, symbols=None, params=None) -> list[dict]:
        self._fault("fetch_positions")
        if not self.position:
            return []
        side = "long" if self.position > 0 else "short"
        return [{"symbol": self.symbol, "contracts": abs(self.position), "side": side,
                 "contractSize": self.contract_size}]  # fmt: skip

    def fetch_balance(self, params: dict | None = None) -> dict[str, Any]:
        self._fault("fetch_balance")
        code = self.symbol.split(":")[1]
        return {"total": {code: self.margin}, "free": {code: self.margin}, "used": {code: 0.0}}

    def fetch_ledger(self, code=None, since=None, limit=None, params=None) -> list[dict]:
        self._fault("fetch_ledger")
        return self._list([t for t in self.wallet if since is None or t["timestamp"] >= since])

    def private_post_orders_cancel_after(self, params: dict) -> dict:
        self._fault("cancel_after")
        self.dead_man.append(params["cancel_after"])
        return {"success": True}

    # -- test helpers ------------------------------------------------------------------------

    def placed(self, cid_prefix: str = "") -> list[dict[str, Any]]:
        """Return the orders placed whose client id starts with ``cid_prefix``."""
        return [
            o for o in self.orders.values() if (o["clientOrderId"] or "").startswith(cid_prefix)
        ]

    def pay_funding(self, rate: float, product: str | None = None) -> float:
        """Charge funding on the position at ``rate`` (longs pay a positive rate); return it.

        ``product``: the contract the wallet transaction names (another one's: not ours).
        """
        self.now_ms += 1000
        amount = -self.position * self.contract_size * self.price * rate
        self.margin += amount
        code = self.symbol.split(":")[1]
        name = product or self.market(self.symbol)["id"]
        self.wallet.append({
            "id": f"W{len(self.wallet) + 1}", "amount": amount, "currency": code,
            "timestamp": self.now_ms, "type": "perpetual_futures_funding",
            "info": {"transaction_type": "perpetual_futures_funding", "amount": str(amount),
                     "meta_data": {"product_symbol": name}},
        })  # fmt: skip
        return amount

    def place_external(self, side: str, amount: float, price: float) -> str:
        """Place a resting limit order by someone else (no client id of ours)."""
        xid = str(self._next)
        self._next += 1
        self.orders[xid] = {
            "id": xid, "clientOrderId": "web_3f6286480b194b079870ac75fb6978b7",
            "symbol": self.symbol, "type": "limit", "side": side, "amount": amount,
            "filled": 0.0, "price": price, "status": "open", "stop_price": None,
            "reduce_only": False, "parts_left": 1, "timestamp": self.now_ms,
        }  # fmt: skip
        return xid
