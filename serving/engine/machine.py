"""The engine's state machine: what happens at each bar, shared by every runner.

A bar goes through four steps, each one compiled function:

1. ``execution.match_bar``: the exchange (simulated, or the paper broker) fills the working
   bracket orders against the bar's prices;
2. ``portfolio.apply_fills``: the engine books those fills;
3. :func:`on_close`: at the bar's close the engine marks the account, pays funding, checks the
   protections, manages open trades (exit, breakeven, trailing, timeouts; or, once the account
   hard stop fired, cancels and closes them all) and turns the strategy's entry intent into a
   sized bracket through the risk manager; it returns requests;
4. ``execution.accept``: the exchange takes the requests, matchable from the next bar.

:func:`run` is the fast path: the four steps in one numba loop over arrays. The bar-by-bar
reference runner and the live runner call the same four functions one bar at a time, so the
fast path differs from them only in where the bars and features come from, which is what the
parity tests pin down.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from serving.engine import layout as L
from serving.engine import params as P
from serving.engine import protections
from serving.engine.execution import accept, match_bar
from serving.engine.layout import NO_REFCOUNT
from serving.engine.portfolio import apply_fills, mark, pay_funding
from serving.engine.risk import plan_entry, update_volatility


@njit(cache=True, **NO_REFCOUNT)
def _header(
    row: np.ndarray, acct: np.ndarray, ts_close: float, t: np.ndarray, slot: int, action: int
) -> None:
    """Write a request's identity: time, request id, trade, slot, action, direction."""
    row[L.R_TS] = ts_close
    row[L.R_REQ] = acct[L.A_NEXT_REQ]
    acct[L.A_NEXT_REQ] += 1.0
    row[L.R_ID] = t[L.T_ID]
    row[L.R_SLOT] = slot
    row[L.R_ACTION] = action
    row[L.R_DIR] = t[L.T_DIR]


@njit(cache=True, **NO_REFCOUNT)
def _request(
    requests: np.ndarray,
    nr: int,
    acct: np.ndarray,
    ts_close: float,
    t: np.ndarray,
    slot: int,
    action: int,
) -> int:
    """Write an amend, cancel or close request for slot ``slot``; return the new count."""
    row = requests[nr]
    row[:] = np.nan
    _header(row, acct, ts_close, t, slot, action)
    if action == L.ACT_AMEND_STOP:
        row[L.R_STOP] = t[L.T_STOP]
    return nr + 1


@njit(cache=True, **NO_REFCOUNT)
def _entry_gate(
    acct: np.ndarray, trades: np.ndarray, d: float, ts_close: float, p: np.ndarray
) -> tuple[int, int]:
    """Return (reason, free slot): may a new entry in direction ``d`` be placed now?"""
    reason = protections.halt_reason(acct, ts_close)
    if reason != L.R_NONE:
        return reason, -1
    busy = 0
    free = -1
    for k in range(trades.shape[0]):
        state = trades[k, L.T_STATE]
        if state == L.STATE_FREE:
            if free < 0:
                free = k
            continue
        busy += 1
        if trades[k, L.T_DIR] != d:
            return L.R_OPPOSITE, -1
    if busy >= p[P.P_MAX_POSITIONS] or free < 0:
        return L.R_MAX_POSITIONS, -1
    return L.R_NONE, free


@njit(cache=True, **NO_REFCOUNT)
def _manage(
    t: np.ndarray,
    k: int,
    c: float,
    ts_close: float,
    sig: np.ndarray,
    acct: np.ndarray,
    p: np.ndarray,
    requests: np.ndarray,
    nr: int,
) -> int:
    """Exit, breakeven, trailing and timeout decisions for one trade slot."""
    state = t[L.T_STATE]
    d = t[L.T_DIR]
    leave = sig[L.SIG_EXIT_LONG] if d > 0 else sig[L.SIG_EXIT_SHORT]
    if state == L.STATE_PENDING:
        if leave > 0.5 or ts_close - t[L.T_PLACED_TS] >= p[P.P_ENTRY_TIMEOUT_NS]:
            nr = _request(requests, nr, acct, ts_close, t, k, L.ACT_CANCEL)
            t[L.T_STATE] = L.STATE_FREE
        return nr
    if state != L.STATE_OPEN:
        return nr
    held_out = p[P.P_MAX_HOLD_NS] > 0.0 and ts_close - t[L.T_ENTRY_TS] >= p[P.P_MAX_HOLD_NS]
    if leave > 0.5 or held_out:
        t[L.T_STATE] = L.STATE_CLOSING
        return _request(requests, nr, acct, ts_close, t, k, L.ACT_CLOSE)
    stop = t[L.T_STOP]
    if p[P.P_BREAKEVEN] > 0.5 and t[L.T_TP_DONE] >= 1.0 and t[L.T_BE] == 0.0:
        distance = abs(t[L.T_ENTRY_PRICE] - t[L.T_STOP0])
        be = t[L.T_ENTRY_PRICE] + d * p[P.P_BREAKEVEN_OFFSET_R] * distance
        if d * (be - stop) > 0.0 and d * (c - be) > 0.0:
            stop = be
            t[L.T_BE] = 1.0
    trail = p[P.P_TRAIL]
    if trail > 1.5 or (trail > 0.5 and t[L.T_TP_DONE] >= 1.0):
        candidate = sig[L.SIG_TRAIL_LONG] if d > 0 else sig[L.SIG_TRAIL_SHORT]
        if np.isfinite(candidate) and d * (candidate - stop) > 0.0 and d * (c - candidate) > 0.0:
            stop = candidate
    if stop != t[L.T_STOP]:
        t[L.T_STOP] = stop
        nr = _request(requests, nr, acct, ts_close, t, k, L.ACT_AMEND_STOP)
    return nr


@njit(cache=True, **NO_REFCOUNT)
def _liquidate(
    trades: np.ndarray, acct: np.ndarray, ts_close: float, requests: np.ndarray, nr: int
) -> int:
    """Cancel every working entry and close every open position at market (the hard stop).

    Run at each close while the hard stop is in force, so a close the exchange refused is
    requested again at the next bar; a slot already closing is left to its close.
    """
    for k in range(trades.shape[0]):
        t = trades[k]
        state = t[L.T_STATE]
        if state == L.STATE_PENDING:
            nr = _request(requests, nr, acct, ts_close, t, k, L.ACT_CANCEL)
            t[L.T_STATE] = L.STATE_FREE
        elif state == L.STATE_OPEN:
            t[L.T_STATE] = L.STATE_CLOSING
            nr = _request(requests, nr, acct, ts_close, t, k, L.ACT_CLOSE)
    return nr


@njit(cache=True, **NO_REFCOUNT)
def _enter(
    acct: np.ndarray,
    trades: np.ndarray,
    d: float,
    c: float,
    ts_close: float,
    sig: np.ndarray,
    p: np.ndarray,
    requests: np.ndarray,
    nr: int,
) -> int:
    """Turn an entry intent into a NEW bracket request, or count why it was refused."""
    reason, k = _entry_gate(acct, trades, d, ts_close, p)
    row = requests[nr]
    if reason == L.R_NONE:
        row[:] = np.nan
        reason = plan_entry(acct, trades, d, c, sig, p, row)
    if reason != L.R_NONE:
        acct[L.A_BLOCKED + reason] += 1.0
        return nr
    t = trades[k]
    t[:] = 0.0
    t[L.T_STATE] = L.STATE_PENDING
    t[L.T_ID] = acct[L.A_NEXT_ID]
    acct[L.A_NEXT_ID] += 1.0
    t[L.T_DIR] = d
    t[L.T_PLACED_TS] = ts_close
    t[L.T_ENTRY_TS] = np.nan
    t[L.T_QTY0] = row[L.R_QTY]
    t[L.T_STOP] = row[L.R_STOP]
    t[L.T_STOP0] = row[L.R_STOP]
    t[L.T_TP1] = row[L.R_TP1]
    t[L.T_TP2] = row[L.R_TP2]
    t[L.T_TP3] = row[L.R_TP3]
    t[L.T_SCORE] = sig[L.SIG_SCORE]
    t[L.T_FACTORS] = sig[L.SIG_FACTORS]
    t[L.T_PLAN_PRICE] = row[L.R_PRICE] if np.isfinite(row[L.R_PRICE]) else c
    t[L.T_LAST_KIND] = -1.0
    _header(row, acct, ts_close, t, k, L.ACT_NEW)
    return nr + 1


@njit(cache=True, **NO_REFCOUNT)
def on_close(
    ts: float,
    c: float,
    funding_rate: float,
    sig: np.ndarray,
    acct: np.ndarray,
    trades: np.ndarray,
    p: np.ndarray,
    requests: np.ndarray,
    events: np.ndarray,
) -> int:
    """Run the engine at the close of the bar opening at ``ts``; return the requests written."""
    ts_close = ts + p[P.P_TF_NS]
    acct[L.A_BARS] += 1.0
    acct[L.A_LAST_TS] = ts
    protections.roll_day(acct, ts)
    pay_funding(acct, trades, c, funding_rate)
    equity = mark(acct, c)
    update_volatility(acct, sig[L.SIG_ATR], c, p)
    protections.check(acct, ts_close, events, p)
    nr = 0
    if protections.hard_stop(acct, ts_close, events, p):
        nr = _liquidate(trades, acct, ts_close, requests, nr)
    else:
        for k in range(trades.shape[0]):
            if trades[k, L.T_STATE] != L.STATE_FREE:
                nr = _manage(trades[k], k, c, ts_close, sig, acct, p, requests, nr)
    d = sig[L.SIG_ENTRY]
    if d != 0.0:
        nr = _enter(acct, trades, d, c, ts_close, sig, p, requests, nr)
    acct[L.A_PREV_EQUITY] = equity
    return nr


@njit(cache=True, **NO_REFCOUNT)
def _append(log: np.ndarray, start: int, rows: np.ndarray, n: int) -> None:
    for r in range(n):
        for f in range(rows.shape[1]):
            log[start + r, f] = rows[r, f]


@njit(cache=True)
def run(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    funding: np.ndarray,
    sig: np.ndarray,
    sub_o: np.ndarray,
    sub_h: np.ndarray,
    sub_l: np.ndarray,
    sub_start: np.ndarray,
    sub_end: np.ndarray,
    p: np.ndarray,
    acct: np.ndarray,
    trades: np.ndarray,
    book: np.ndarray,
    orders: np.ndarray,
    fills: np.ndarray,
    closed: np.ndarray,
    events: np.ndarray,
    equity: np.ndarray,
    position: np.ndarray,
    i0: int,
    i1: int,
) -> int:
    """Run bars ``i0..i1`` through the state machine; return where it stopped.

    It stops early, before a bar, when a log could overflow; the caller grows the logs and
    resumes from the returned index with the same state.
    """
    fbuf = np.empty((L.MAX_FILLS_PER_BAR, L.NF))
    rbuf = np.empty((L.MAX_REQUESTS_PER_BAR, L.NR))
    tf = p[P.P_TF_NS]
    replay = sub_start.shape[0] > 0
    for i in range(i0, i1):
        if (
            acct[L.A_N_FILLS] + L.MAX_FILLS_PER_BAR > fills.shape[0]
            or acct[L.A_N_ORDERS] + L.MAX_REQUESTS_PER_BAR > orders.shape[0]
            or acct[L.A_N_TRADES] + L.MAX_SLOTS > closed.shape[0]
            or acct[L.A_N_EVENTS] + L.MAX_EVENTS_PER_BAR > events.shape[0]
        ):
            return i
        t = float(ts[i])
        s0 = sub_start[i] if replay else 0
        s1 = sub_end[i] if replay else 0
        nf = match_bar(book, t, o[i], h[i], lo[i], sub_o, sub_h, sub_l, s0, s1, fbuf, p)
        if nf > 0:
            apply_fills(acct, trades, fbuf, nf, closed, p)
            _append(fills, int(acct[L.A_N_FILLS]), fbuf, nf)
            acct[L.A_N_FILLS] += nf
        nr = on_close(t, c[i], funding[i], sig[i], acct, trades, p, rbuf, events)
        if nr > 0:
            accept(book, rbuf, nr, t + tf)
            _append(orders, int(acct[L.A_N_ORDERS]), rbuf, nr)
            acct[L.A_N_ORDERS] += nr
        equity[i] = acct[L.A_EQUITY]
        position[i] = acct[L.A_QTY]
    return i1
