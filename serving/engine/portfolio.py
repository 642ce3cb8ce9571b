"""Portfolio accounting: cash, the net position, realized PnL, fees, funding, closed trades.

Cash moves with every fill (a buy pays ``qty * price``, a sell receives it; shorts hold a
negative quantity) and with every fee and funding payment, so the equity of the account is
always ``cash + net quantity * mark price``; that identity, and ``equity = initial cash +
realized + unrealized - fees - funding``, are property-tested.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from serving.engine import layout as L
from serving.engine import params as P
from serving.engine.layout import NO_REFCOUNT


def new_account(initial_cash: float) -> np.ndarray:
    """Return a fresh account holding ``initial_cash``."""
    acct = np.zeros(L.NA)
    acct[L.A_CASH] = initial_cash
    acct[L.A_EQUITY] = initial_cash
    acct[L.A_PEAK] = initial_cash
    acct[L.A_HARD_PEAK] = initial_cash
    acct[L.A_PREV_EQUITY] = initial_cash
    acct[L.A_DAY_START] = initial_cash
    acct[L.A_DAY] = -1.0
    acct[L.A_NEXT_ID] = 1.0
    acct[L.A_NEXT_REQ] = 1.0
    acct[L.A_VOL_EMA] = np.nan
    acct[L.A_LAST_TS] = np.nan
    acct[L.A_LAST_CLOSE] = np.nan
    return acct


def new_trades() -> np.ndarray:
    """Return empty trade slots."""
    return np.zeros((L.MAX_SLOTS, L.NT))


@njit(cache=True, **NO_REFCOUNT)
def net_quantity(trades: np.ndarray) -> float:
    """Return the signed quantity held across the open slots."""
    q = 0.0
    for k in range(trades.shape[0]):
        if trades[k, L.T_STATE] >= L.STATE_OPEN:
            q += trades[k, L.T_DIR] * trades[k, L.T_QTY]
    return q


@njit(cache=True, **NO_REFCOUNT)
def _close_trade(
    acct: np.ndarray, t: np.ndarray, exit_close_ts: float, closed: np.ndarray, p: np.ndarray
) -> None:
    """Log a finished trade and feed the Kelly ring and the loss protections."""
    net = t[L.T_GROSS] - t[L.T_FEES] - t[L.T_FUNDING]
    r_mult = net / t[L.T_RISK] if t[L.T_RISK] > 0.0 else np.nan
    n = int(acct[L.A_N_TRADES])
    if n < closed.shape[0]:
        row = closed[n]
        row[L.C_ID] = t[L.T_ID]
        row[L.C_DIR] = t[L.T_DIR]
        row[L.C_SIGNAL_TS] = t[L.T_PLACED_TS]
        row[L.C_ENTRY_TS] = t[L.T_ENTRY_TS]
        row[L.C_EXIT_TS] = exit_close_ts - p[P.P_TF_NS]
        row[L.C_ENTRY_PRICE] = t[L.T_ENTRY_PRICE]
        qx = t[L.T_QTY_EXITED]
        row[L.C_EXIT_PRICE] = t[L.T_EXIT_NOTIONAL] / qx if qx > 0.0 else np.nan
        row[L.C_QTY] = t[L.T_QTY0]
        row[L.C_STOP0] = t[L.T_STOP0]
        row[L.C_TARGET] = t[L.T_TP3]
        row[L.C_GROSS] = t[L.T_GROSS]
        row[L.C_FEES] = t[L.T_FEES]
        row[L.C_FUNDING] = t[L.T_FUNDING]
        row[L.C_NET] = net
        row[L.C_R] = r_mult
        row[L.C_EXIT_KIND] = t[L.T_LAST_KIND]
        row[L.C_TP_DONE] = t[L.T_TP_DONE]
        row[L.C_SCORE] = t[L.T_SCORE]
        row[L.C_FACTORS] = t[L.T_FACTORS]
        row[L.C_RISK] = t[L.T_RISK]
    acct[L.A_N_TRADES] = n + 1
    # Kelly ring of R multiples
    if np.isfinite(r_mult):
        head = int(acct[L.A_HIST_HEAD])
        acct[L.A_HIST + head] = r_mult
        acct[L.A_HIST_HEAD] = (head + 1) % L.HIST_CAP
        acct[L.A_HIST_N] = min(acct[L.A_HIST_N] + 1.0, float(L.HIST_CAP))
    # consecutive losses and losing stop-outs
    if net < 0.0:
        acct[L.A_CONSEC_LOSSES] += 1.0
        if t[L.T_LAST_KIND] == L.K_STOP:
            head = int(acct[L.A_GUARD_HEAD])
            acct[L.A_GUARD + head] = exit_close_ts
            acct[L.A_GUARD_HEAD] = (head + 1) % L.GUARD_CAP
            acct[L.A_GUARD_N] = min(acct[L.A_GUARD_N] + 1.0, float(L.GUARD_CAP))
    else:
        acct[L.A_CONSEC_LOSSES] = 0.0
    t[L.T_STATE] = L.STATE_FREE


@njit(cache=True, **NO_REFCOUNT)
def apply_fills(
    acct: np.ndarray,
    trades: np.ndarray,
    fills: np.ndarray,
    nf: int,
    closed: np.ndarray,
    p: np.ndarray,
) -> None:
    """Book the exchange's fills: cash, fees, the trade slots; log trades that finish.

    An entry filled in parts (a venue's partial fills) opens the trade at its first part; each
    further part adds to the quantity at the volume-weighted entry price.
    """
    for r in range(nf):
        f = fills[r]
        side = f[L.F_SIDE]
        price = f[L.F_PRICE]
        qty = f[L.F_QTY]
        fee = f[L.F_FEE]
        acct[L.A_CASH] -= side * qty * price + fee
        acct[L.A_FEES] += fee
        acct[L.A_TURNOVER] += qty * price
        t = trades[int(f[L.F_SLOT])]
        t[L.T_FEES] += fee
        kind = int(f[L.F_KIND])
        if kind == L.K_ENTRY:
            if t[L.T_STATE] == L.STATE_OPEN:  # a further partial fill of the entry order
                q0 = t[L.T_QTY0]
                t[L.T_ENTRY_PRICE] = (t[L.T_ENTRY_PRICE] * q0 + price * qty) / (q0 + qty)
                t[L.T_QTY] += qty
                t[L.T_QTY0] = q0 + qty
            else:
                t[L.T_STATE] = L.STATE_OPEN
                t[L.T_ENTRY_TS] = f[L.F_TS]
                t[L.T_ENTRY_PRICE] = price
                t[L.T_QTY] = qty
                t[L.T_QTY0] = qty
            t[L.T_RISK] = t[L.T_QTY0] * abs(t[L.T_ENTRY_PRICE] - t[L.T_STOP0])
            continue
        gross = t[L.T_DIR] * (price - t[L.T_ENTRY_PRICE]) * qty
        t[L.T_GROSS] += gross
        acct[L.A_REALIZED] += gross
        t[L.T_EXIT_NOTIONAL] += price * qty
        t[L.T_QTY_EXITED] += qty
        t[L.T_QTY] -= qty
        t[L.T_LAST_KIND] = kind
        if L.K_TP1 <= kind <= L.K_TP3:
            t[L.T_TP_DONE] = max(t[L.T_TP_DONE], float(kind - L.K_TP1 + 1))
        if f[L.F_CLOSED] > 0.5:
            t[L.T_QTY] = 0.0
            _close_trade(acct, t, f[L.F_TS] + p[P.P_TF_NS], closed, p)
    acct[L.A_QTY] = net_quantity(trades)


@njit(cache=True, **NO_REFCOUNT)
def pay_funding(acct: np.ndarray, trades: np.ndarray, price: float, rate: float) -> None:
    """Charge one funding payment on the held position (longs pay a positive rate)."""
    q = acct[L.A_QTY]
    if rate == 0.0 or q == 0.0:
        return
    payment = q * price * rate
    acct[L.A_CASH] -= payment
    acct[L.A_FUNDING] += payment
    for k in range(trades.shape[0]):
        t = trades[k]
        if t[L.T_STATE] >= L.STATE_OPEN and t[L.T_QTY] > 0.0:
            t[L.T_FUNDING] += t[L.T_DIR] * t[L.T_QTY] * price * rate


@njit(cache=True, **NO_REFCOUNT)
def mark(acct: np.ndarray, price: float) -> float:
    """Mark the position at ``price``; return the equity."""
    equity = acct[L.A_CASH] + acct[L.A_QTY] * price
    acct[L.A_EQUITY] = equity
    acct[L.A_LAST_CLOSE] = price
    return equity
