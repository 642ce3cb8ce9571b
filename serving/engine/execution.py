"""The execution model: a simulated exchange matching bracket orders against each bar.

Each slot of the ``book`` holds one bracket: an entry order (market, limit or stop) and, once
it fills, a protective stop and up to three take-profit limits (one-cancels-other: the stop
closes whatever the take-profits left). :func:`match_bar` runs one bar against every bracket:

- orders placed at a bar's close are matchable from the next bar's open (``B_ACTIVE_TS``);
- market orders fill at the open; a limit fills at its price when the bar trades through it
  (or touches it, ``limit_fill="touch"``), at the open when the bar opens beyond it; a stop
  order (entry, protective stop) triggers when the bar reaches it, at the open on a gap;
- taker fills (market, stop) pay the taker fee and slippage: ``slippage_bps`` of the price plus
  ``slippage_range`` of the bar's high-low range, against the trader; maker fills (resting
  limits) pay the maker fee and no slippage;
- every fill price is clipped into the bar's ``[low, high]``: nothing fills at a price the bar
  never traded;
- when a bar reaches both the stop and a take-profit, the stop is taken first (the worst case),
  unless lower-timeframe bars replay the bar (``intrabar="replay"``); take-profits are not
  filled in the bar an entry filled inside (the path after the fill is unknown).

The same compiled functions serve the backtest kernel and the paper broker of the live runner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from serving.engine import layout as L
from serving.engine import params as P
from serving.engine.layout import NO_REFCOUNT
from serving.engine.validation import ConfigError, choice, duration_ns, in_range

MARKETS = ("perpetual", "spot")
LIMIT_FILLS = ("through", "touch")
INTRABAR = ("worst", "replay")


@dataclass(frozen=True)
class ExecutionConfig:
    """Costs and fill rules of the simulated exchange (Binance USD-M futures fees by default).

    Attributes:
        market: ``perpetual`` (funding is paid) or ``spot`` (no funding, no shorts).
        taker_fee: Fee of market and stop fills, as a fraction of notional.
        maker_fee: Fee of resting limit fills.
        slippage_bps: Fixed slippage of taker fills, basis points of the price.
        slippage_range: Volatility slippage of taker fills, a fraction of the bar's range.
        limit_fill: ``through`` (price must trade beyond a limit) or ``touch``.
        intrabar: ``worst`` (stop first when a bar reaches stop and target) or ``replay``
            (match on lower-timeframe bars where they are given; worst case elsewhere).
        funding_rate: Funding per interval (longs pay a positive rate, shorts receive it).
        funding_interval: Time between funding payments on the UTC epoch grid.
    """

    market: str = "perpetual"
    taker_fee: float = 0.0005
    maker_fee: float = 0.0002
    slippage_bps: float = 1.0
    slippage_range: float = 0.05
    limit_fill: str = "through"
    intrabar: str = "worst"
    funding_rate: float = 0.0001
    funding_interval: str = "8h"

    def __post_init__(self) -> None:
        owner = "ExecutionConfig"
        choice(owner, "market", self.market, MARKETS)
        in_range(owner, "taker_fee", self.taker_fee, 0.0, 0.01)
        in_range(owner, "maker_fee", self.maker_fee, -0.001, 0.01)
        in_range(owner, "slippage_bps", self.slippage_bps, 0.0, 500.0)
        in_range(owner, "slippage_range", self.slippage_range, 0.0, 1.0)
        choice(owner, "limit_fill", self.limit_fill, LIMIT_FILLS)
        choice(owner, "intrabar", self.intrabar, INTRABAR)
        in_range(owner, "funding_rate", self.funding_rate, -0.01, 0.01)
        duration_ns(owner, "funding_interval", self.funding_interval, allow_none=False)
        if self.market == "spot" and self.funding_rate != 0.0:
            object.__setattr__(self, "funding_rate", 0.0)

    @property
    def funding_interval_ns(self) -> int:
        """The funding interval in nanoseconds."""
        return duration_ns("ExecutionConfig", "funding_interval", self.funding_interval)

    def fill(self, vector: np.ndarray) -> None:
        """Write this config's values into the engine parameter vector."""
        vector[P.P_TAKER_FEE] = self.taker_fee
        vector[P.P_MAKER_FEE] = self.maker_fee
        vector[P.P_SLIP_BPS] = self.slippage_bps
        vector[P.P_SLIP_RANGE] = self.slippage_range
        vector[P.P_LIMIT_THROUGH] = 1.0 if self.limit_fill == "through" else 0.0
        vector[P.P_REPLAY] = 1.0 if self.intrabar == "replay" else 0.0


def funding_rates(
    ts_ns: np.ndarray, timeframe_ns: int, config: ExecutionConfig, rates: np.ndarray | None = None
) -> np.ndarray:
    """Return the funding rate charged at each bar's close (0 where no funding time falls).

    A funding time ``T`` (a multiple of the interval) is charged at the bar with
    ``open < T <= close``, on the position held at that close. ``rates`` optionally gives the
    rate per bar (e.g. recorded funding) instead of the constant rate.
    """
    interval = config.funding_interval_ns
    if config.market == "spot" or (config.funding_rate == 0.0 and rates is None):
        return np.zeros(ts_ns.shape[0])
    opens = ts_ns.astype(np.int64)
    crossings = (opens + timeframe_ns) // interval - opens // interval
    base = np.asarray(rates, dtype=np.float64) if rates is not None else config.funding_rate
    if rates is not None and np.shape(base) != opens.shape:
        raise ConfigError(f"funding rates: {np.shape(base)} values for {opens.shape[0]} bars")
    return np.asarray(crossings * base, dtype=np.float64)


@njit(cache=True, **NO_REFCOUNT)
def _taker_price(side: float, price: float, low: float, high: float, p: np.ndarray) -> float:
    """Return a taker fill price: ``price`` moved against the trader, clipped into the bar."""
    slip = price * p[P.P_SLIP_BPS] * 1e-4 + p[P.P_SLIP_RANGE] * (high - low)
    return min(max(price + side * slip, low), high)


@njit(cache=True, **NO_REFCOUNT)
def _crossed(side: float, level: float, low: float, high: float, p: np.ndarray) -> bool:
    """Return whether a resting limit on ``side`` (+1 buy, -1 sell) at ``level`` fills."""
    if side > 0:
        return low < level if p[P.P_LIMIT_THROUGH] > 0.5 else low <= level
    return high > level if p[P.P_LIMIT_THROUGH] > 0.5 else high >= level


@njit(cache=True, **NO_REFCOUNT)
def _emit(
    fills: np.ndarray,
    nf: int,
    ts: float,
    book: np.ndarray,
    k: int,
    kind: int,
    side: float,
    price: float,
    qty: float,
    maker: bool,
    closed: bool,
    p: np.ndarray,
) -> int:
    row = fills[nf]
    row[L.F_TS] = ts
    row[L.F_ID] = book[k, L.B_ID]
    row[L.F_SLOT] = k
    row[L.F_KIND] = kind
    row[L.F_SIDE] = side
    row[L.F_PRICE] = price
    row[L.F_QTY] = qty
    row[L.F_FEE] = price * qty * (p[P.P_MAKER_FEE] if maker else p[P.P_TAKER_FEE])
    row[L.F_MAKER] = 1.0 if maker else 0.0
    row[L.F_CLOSED] = 1.0 if closed else 0.0
    return nf + 1


@njit(cache=True, **NO_REFCOUNT)
def _close_all(
    book: np.ndarray,
    k: int,
    ts: float,
    kind: int,
    price: float,
    fills: np.ndarray,
    nf: int,
    p: np.ndarray,
) -> int:
    d = book[k, L.B_DIR]
    nf = _emit(fills, nf, ts, book, k, kind, -d, price, book[k, L.B_POS], False, True, p)
    book[k, L.B_STATE] = L.BOOK_NONE
    book[k, L.B_POS] = 0.0
    return nf


@njit(cache=True, **NO_REFCOUNT)
def _take_profit(
    book: np.ndarray,
    k: int,
    level: int,
    ts: float,
    price: float,
    fills: np.ndarray,
    nf: int,
    p: np.ndarray,
) -> int:
    q_field = L.B_Q1 + level
    qty = min(book[k, q_field], book[k, L.B_POS])
    book[k, q_field] = 0.0
    remaining = book[k, L.B_POS] - qty
    last = True
    for j in range(3):
        if j != level and book[k, L.B_Q1 + j] > 0.0:
            last = False
    closed = last or remaining <= 0.0
    if closed:
        qty = book[k, L.B_POS]
        remaining = 0.0
    d = book[k, L.B_DIR]
    nf = _emit(fills, nf, ts, book, k, L.K_TP1 + level, -d, price, qty, True, closed, p)
    book[k, L.B_POS] = remaining
    if closed:
        book[k, L.B_STATE] = L.BOOK_NONE
    return nf


@njit(cache=True, **NO_REFCOUNT)
def _children(
    book: np.ndarray,
    k: int,
    ts: float,
    o: float,
    h: float,
    lo: float,
    gap_ok: bool,
    allow_tp: bool,
    fills: np.ndarray,
    nf: int,
    p: np.ndarray,
) -> int:
    """Match an open position's stop and take-profits in one bar."""
    d = book[k, L.B_DIR]
    stop = book[k, L.B_STOP]
    if gap_ok:
        if d * (o - stop) <= 0.0:  # opened at or beyond the stop
            return _close_all(book, k, ts, L.K_STOP, _taker_price(-d, o, lo, h, p), fills, nf, p)
        for level in range(3):
            target = book[k, L.B_TP1 + level]
            if book[k, L.B_Q1 + level] > 0.0 and d * (o - target) >= 0.0:
                nf = _take_profit(book, k, level, ts, o, fills, nf, p)
                if book[k, L.B_STATE] == L.BOOK_NONE:
                    return nf
    stop_hit = lo <= stop if d > 0 else h >= stop
    if stop_hit:  # worst case: the stop comes before any take-profit in the bar
        return _close_all(book, k, ts, L.K_STOP, _taker_price(-d, stop, lo, h, p), fills, nf, p)
    if allow_tp:
        for level in range(3):
            target = book[k, L.B_TP1 + level]
            if book[k, L.B_Q1 + level] > 0.0 and _crossed(-d, target, lo, h, p):
                nf = _take_profit(book, k, level, ts, target, fills, nf, p)
                if book[k, L.B_STATE] == L.BOOK_NONE:
                    return nf
    return nf


@njit(cache=True, **NO_REFCOUNT)
def _open_position(book: np.ndarray, k: int) -> None:
    qty = book[k, L.B_QTY]
    book[k, L.B_STATE] = L.BOOK_OPEN
    book[k, L.B_POS] = qty
    q1 = book[k, L.B_F1] * qty if np.isfinite(book[k, L.B_TP1]) else 0.0
    q2 = book[k, L.B_F2] * qty if np.isfinite(book[k, L.B_TP2]) else 0.0
    book[k, L.B_Q1] = q1
    book[k, L.B_Q2] = q2
    book[k, L.B_Q3] = qty - q1 - q2 if np.isfinite(book[k, L.B_TP3]) else 0.0


@njit(cache=True, **NO_REFCOUNT)
def _match_slot(
    book: np.ndarray,
    k: int,
    ts: float,
    o: float,
    h: float,
    lo: float,
    fills: np.ndarray,
    nf: int,
    p: np.ndarray,
) -> int:
    state = book[k, L.B_STATE]
    d = book[k, L.B_DIR]
    if state == L.BOOK_OPEN:
        if book[k, L.B_CLOSE] > 0.5 and ts >= book[k, L.B_CLOSE_TS]:
            return _close_all(book, k, ts, L.K_CLOSE, _taker_price(-d, o, lo, h, p), fills, nf, p)
        return _children(book, k, ts, o, h, lo, True, True, fills, nf, p)
    if state != L.BOOK_ENTRY or ts < book[k, L.B_ACTIVE_TS]:
        return nf
    kind = book[k, L.B_TYPE]
    level = book[k, L.B_PRICE]
    at_open = False
    maker = False
    price = np.nan
    if kind == L.ORDER_MARKET:
        price = _taker_price(d, o, lo, h, p)
        at_open = True
    elif kind == L.ORDER_LIMIT:
        if d * (level - o) >= 0.0:
            price = o
            at_open = True
            maker = True
        elif _crossed(d, level, lo, h, p):
            price = level
            maker = True
    elif d * (o - level) >= 0.0:  # stop entry, gapped through
        price = _taker_price(d, o, lo, h, p)
        at_open = True
    elif (h >= level) if d > 0 else (lo <= level):
        price = _taker_price(d, level, lo, h, p)
    if not np.isfinite(price):
        return nf
    nf = _emit(fills, nf, ts, book, k, L.K_ENTRY, d, price, book[k, L.B_QTY], maker, False, p)
    _open_position(book, k)
    return _children(book, k, ts, o, h, lo, at_open, at_open, fills, nf, p)


@njit(cache=True, **NO_REFCOUNT)
def _match_prices(
    book: np.ndarray,
    ts: float,
    o: float,
    h: float,
    lo: float,
    fills: np.ndarray,
    nf: int,
    p: np.ndarray,
) -> int:
    for k in range(book.shape[0]):
        if book[k, L.B_STATE] != L.BOOK_NONE:
            nf = _match_slot(book, k, ts, o, h, lo, fills, nf, p)
    return nf


@njit(cache=True, **NO_REFCOUNT)
def match_bar(
    book: np.ndarray,
    ts: float,
    o: float,
    h: float,
    lo: float,
    sub_o: np.ndarray,
    sub_h: np.ndarray,
    sub_l: np.ndarray,
    s0: int,
    s1: int,
    fills: np.ndarray,
    p: np.ndarray,
) -> int:
    """Match every bracket against the bar opening at ``ts``; write fills; return their count.

    With ``intrabar="replay"`` and lower-timeframe bars ``sub_*[s0:s1]`` inside this bar, the
    bar is matched one sub-bar after the other instead.
    """
    if p[P.P_REPLAY] > 0.5 and s1 > s0:
        nf = 0
        for j in range(s0, s1):
            nf = _match_prices(book, ts, sub_o[j], sub_h[j], sub_l[j], fills, nf, p)
        return nf
    return _match_prices(book, ts, o, h, lo, fills, 0, p)


@njit(cache=True, **NO_REFCOUNT)
def accept(book: np.ndarray, requests: np.ndarray, n: int, active_ts: float) -> None:
    """Apply the engine's requests to the book; they become matchable from ``active_ts``."""
    for r in range(n):
        row = requests[r]
        k = int(row[L.R_SLOT])
        action = row[L.R_ACTION]
        if action == L.ACT_NEW:
            b = book[k]
            b[:] = 0.0
            b[L.B_STATE] = L.BOOK_ENTRY
            b[L.B_ID] = row[L.R_ID]
            b[L.B_DIR] = row[L.R_DIR]
            b[L.B_TYPE] = row[L.R_TYPE]
            b[L.B_PRICE] = row[L.R_PRICE]
            b[L.B_QTY] = row[L.R_QTY]
            b[L.B_ACTIVE_TS] = active_ts
            b[L.B_STOP] = row[L.R_STOP]
            b[L.B_TP1] = row[L.R_TP1]
            b[L.B_TP2] = row[L.R_TP2]
            b[L.B_TP3] = row[L.R_TP3]
            b[L.B_F1] = row[L.R_F1]
            b[L.B_F2] = row[L.R_F2]
        elif book[k, L.B_ID] != row[L.R_ID]:
            continue  # the bracket is gone (filled out or replaced): nothing to change
        elif action == L.ACT_AMEND_STOP:
            book[k, L.B_STOP] = row[L.R_STOP]
        elif action == L.ACT_CANCEL:
            if book[k, L.B_STATE] == L.BOOK_ENTRY:
                book[k, L.B_STATE] = L.BOOK_NONE
        elif action == L.ACT_CLOSE:
            if book[k, L.B_STATE] == L.BOOK_ENTRY:
                book[k, L.B_STATE] = L.BOOK_NONE
            elif book[k, L.B_STATE] == L.BOOK_OPEN:
                book[k, L.B_CLOSE] = 1.0
                book[k, L.B_CLOSE_TS] = active_ts


def new_book() -> np.ndarray:
    """Return an empty book."""
    return np.zeros((L.MAX_SLOTS, L.NB))
