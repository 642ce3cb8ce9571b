"""Protections (circuit breakers): each halts new entries for a while and logs why.

Evaluated at every bar's close on the marked equity (open losses included):

- **max drawdown**: equity ``max_drawdown`` below its high-water mark halts entries for
  ``drawdown_halt``; the high-water mark then restarts at the current equity;
- **daily loss limit**: equity ``daily_loss_limit`` below the UTC day's starting equity halts
  entries until the next UTC day;
- **cooldown**: ``cooldown_losses`` losing trades in a row halt entries for ``cooldown``;
- **stop-loss guard**: ``stoploss_guard_trades`` losing stop-outs within
  ``stoploss_guard_window`` halt entries for ``stoploss_guard_halt``.

Open positions keep their stops and targets during a halt. Each trigger writes an event row
(time, reason, until, measured value, limit); :func:`describe_event` turns it into a sentence.

The **account hard stop** is not a pause: when the marked equity falls ``hard_stop`` below its
high-water mark (its own, which the drawdown protection's restarts do not touch), the engine
cancels every working entry, closes every open position at market through the normal exit path
(fees and slippage as any exit) and refuses every new entry until a person re-arms it
(``Stepper.rearm``, which restarts the high-water mark at the current equity). A backtest has
nobody to re-arm it: it stays halted to the end. It fires once per arming, logged with the
drawdown that fired it (``until`` is NaN: no end time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from serving.engine import layout as L
from serving.engine import params as P
from serving.engine.layout import NO_REFCOUNT
from serving.engine.validation import duration_ns, in_range, integer

DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class ProtectionsConfig:
    """Circuit-breaker limits; ``None`` switches one off.

    ``hard_stop`` (default 0.20) is the account hard stop's drawdown, below the equity's
    high-water mark, that closes everything and halts until re-armed (``None``: off).
    """

    hard_stop: float | None = 0.20
    max_drawdown: float | None = 0.25
    drawdown_halt: str = "7d"
    daily_loss_limit: float | None = 0.05
    cooldown_losses: int | None = 5
    cooldown: str = "12h"
    stoploss_guard_trades: int | None = 4
    stoploss_guard_window: str = "24h"
    stoploss_guard_halt: str = "12h"

    def __post_init__(self) -> None:
        owner = "ProtectionsConfig"
        if self.hard_stop is not None:
            in_range(owner, "hard_stop", self.hard_stop, 0.0, 1.0, lo_open=True, hi_open=True)
        if self.max_drawdown is not None:
            in_range(owner, "max_drawdown", self.max_drawdown, 0.0, 1.0, lo_open=True, hi_open=True)
        if self.daily_loss_limit is not None:
            in_range(
                owner,
                "daily_loss_limit",
                self.daily_loss_limit,
                0.0,
                1.0,
                lo_open=True,
                hi_open=True,
            )
        if self.cooldown_losses is not None:
            integer(owner, "cooldown_losses", self.cooldown_losses, 1, 1000)
        if self.stoploss_guard_trades is not None:
            integer(owner, "stoploss_guard_trades", self.stoploss_guard_trades, 1, L.GUARD_CAP)
        for name in ("drawdown_halt", "cooldown", "stoploss_guard_window", "stoploss_guard_halt"):
            duration_ns(owner, name, getattr(self, name), allow_none=False)

    def fill(self, vector: np.ndarray) -> None:
        """Write this config's values into the engine parameter vector."""
        owner = "ProtectionsConfig"
        vector[P.P_HARD_STOP] = self.hard_stop or 0.0
        vector[P.P_MAX_DRAWDOWN] = self.max_drawdown or 0.0
        vector[P.P_DRAWDOWN_HALT_NS] = duration_ns(owner, "drawdown_halt", self.drawdown_halt)
        vector[P.P_DAILY_LOSS] = self.daily_loss_limit or 0.0
        vector[P.P_COOLDOWN_LOSSES] = self.cooldown_losses or 0
        vector[P.P_COOLDOWN_NS] = duration_ns(owner, "cooldown", self.cooldown)
        vector[P.P_GUARD_TRADES] = self.stoploss_guard_trades or 0
        vector[P.P_GUARD_WINDOW_NS] = duration_ns(
            owner, "stoploss_guard_window", self.stoploss_guard_window
        )
        vector[P.P_GUARD_HALT_NS] = duration_ns(
            owner, "stoploss_guard_halt", self.stoploss_guard_halt
        )


@njit(cache=True, **NO_REFCOUNT)
def _halt(
    acct: np.ndarray,
    events: np.ndarray,
    ts_close: float,
    code: int,
    until: float,
    value: float,
    limit: float,
) -> None:
    if until > acct[L.A_HALT_UNTIL]:
        acct[L.A_HALT_UNTIL] = until
        acct[L.A_HALT_CODE] = code
    _log_event(acct, events, ts_close, code, until, value, limit)


@njit(cache=True, **NO_REFCOUNT)
def _log_event(
    acct: np.ndarray,
    events: np.ndarray,
    ts_close: float,
    code: int,
    until: float,
    value: float,
    limit: float,
) -> None:
    """Append one protection event (counted even when the log is full)."""
    n = int(acct[L.A_N_EVENTS])
    if n < events.shape[0]:
        row = events[n]
        row[L.E_TS] = ts_close
        row[L.E_CODE] = code
        row[L.E_UNTIL] = until
        row[L.E_VALUE] = value
        row[L.E_LIMIT] = limit
    acct[L.A_N_EVENTS] = n + 1


@njit(cache=True, **NO_REFCOUNT)
def roll_day(acct: np.ndarray, ts_open: float) -> None:
    """Start a new UTC day's loss accounting at the first bar of each day."""
    day = float(int(ts_open) // DAY_NS)
    if day != acct[L.A_DAY]:
        acct[L.A_DAY] = day
        acct[L.A_DAY_START] = acct[L.A_PREV_EQUITY]


@njit(cache=True, **NO_REFCOUNT)
def check(acct: np.ndarray, ts_close: float, events: np.ndarray, p: np.ndarray) -> None:
    """Evaluate every protection on the equity marked at ``ts_close``."""
    equity = acct[L.A_EQUITY]
    if equity > acct[L.A_PEAK]:
        acct[L.A_PEAK] = equity
    limit = p[P.P_MAX_DRAWDOWN]
    if limit > 0.0 and acct[L.A_PEAK] > 0.0:
        dd = 1.0 - equity / acct[L.A_PEAK]
        if dd >= limit:
            until = ts_close + p[P.P_DRAWDOWN_HALT_NS]
            _halt(acct, events, ts_close, L.R_HALT_DRAWDOWN, until, dd, limit)
            acct[L.A_PEAK] = equity
    limit = p[P.P_DAILY_LOSS]
    if limit > 0.0 and acct[L.A_DAY_START] > 0.0:
        loss = 1.0 - equity / acct[L.A_DAY_START]
        day_end = (acct[L.A_DAY] + 1.0) * DAY_NS
        if loss >= limit and acct[L.A_HALT_UNTIL] < day_end:
            _halt(acct, events, ts_close, L.R_HALT_DAILY_LOSS, day_end, loss, limit)
    n_losses = p[P.P_COOLDOWN_LOSSES]
    if n_losses > 0 and acct[L.A_CONSEC_LOSSES] >= n_losses:
        until = ts_close + p[P.P_COOLDOWN_NS]
        _halt(acct, events, ts_close, L.R_HALT_COOLDOWN, until, acct[L.A_CONSEC_LOSSES], n_losses)
        acct[L.A_CONSEC_LOSSES] = 0.0
    n_stops = p[P.P_GUARD_TRADES]
    if n_stops > 0 and acct[L.A_GUARD_N] >= n_stops:
        since = ts_close - p[P.P_GUARD_WINDOW_NS]
        recent = 0
        for j in range(int(acct[L.A_GUARD_N])):
            if acct[L.A_GUARD + j] > since:
                recent += 1
        if recent >= n_stops:
            until = ts_close + p[P.P_GUARD_HALT_NS]
            _halt(acct, events, ts_close, L.R_HALT_STOPLOSS_GUARD, until, recent, n_stops)
            acct[L.A_GUARD_N] = 0.0
            acct[L.A_GUARD_HEAD] = 0.0


@njit(cache=True, **NO_REFCOUNT)
def hard_stop(acct: np.ndarray, ts_close: float, events: np.ndarray, p: np.ndarray) -> bool:
    """Check the account hard stop on the equity marked at ``ts_close``; return whether halted.

    Fires at most once per arming: it logs an event, then stays halted (``A_HARD_HALTED``)
    until :func:`rearm`. Every bar closed while halted is counted in ``A_HARD_BARS``.
    """
    if acct[L.A_HARD_HALTED] == 0.0:
        equity = acct[L.A_EQUITY]
        if equity > acct[L.A_HARD_PEAK]:
            acct[L.A_HARD_PEAK] = equity
        limit = p[P.P_HARD_STOP]
        if limit <= 0.0 or acct[L.A_HARD_PEAK] <= 0.0:
            return False
        dd = 1.0 - equity / acct[L.A_HARD_PEAK]
        if dd < limit:
            return False
        acct[L.A_HARD_HALTED] = 1.0
        acct[L.A_HARD_AT] = ts_close
        acct[L.A_HARD_DD] = dd
        _log_event(acct, events, ts_close, L.R_HARD_STOP, np.nan, dd, limit)
    acct[L.A_HARD_BARS] += 1.0
    return True


def rearm(acct: np.ndarray) -> None:
    """Re-arm the account hard stop (a person's decision): its high-water mark restarts at the
    current equity, and new entries are allowed again."""
    acct[L.A_HARD_HALTED] = 0.0
    acct[L.A_HARD_PEAK] = acct[L.A_EQUITY]


@njit(cache=True, **NO_REFCOUNT)
def halt_reason(acct: np.ndarray, ts_close: float) -> int:
    """Return the reason code of the halt in force at ``ts_close``, or ``R_NONE``.

    The hard stop comes first, then a timed halt, then the model-health pause.
    """
    if acct[L.A_HARD_HALTED] != 0.0:
        return L.R_HARD_STOP
    if ts_close < acct[L.A_HALT_UNTIL]:
        return int(acct[L.A_HALT_CODE])
    if acct[L.A_DERISK] >= 1.0:
        return L.R_HEALTH
    return L.R_NONE


def describe_event(row: np.ndarray) -> str:
    """Return one sentence saying which protection fired, why, and until when."""
    code = int(row[L.E_CODE])
    value, limit = float(row[L.E_VALUE]), float(row[L.E_LIMIT])
    if code == L.R_HARD_STOP:
        return (
            f"account hard stop: drawdown {value:.1%} \u2265 {limit * 100:g}%: working entries "
            "cancelled, positions closed at market, new entries halted until re-armed"
        )
    until = pd.Timestamp(int(row[L.E_UNTIL]), tz="UTC")
    if code == L.R_HALT_DRAWDOWN:
        why = f"drawdown {value:.1%} reached the {limit:.1%} limit"
    elif code == L.R_HALT_DAILY_LOSS:
        why = f"daily loss {value:.1%} reached the {limit:.1%} limit"
    elif code == L.R_HALT_COOLDOWN:
        why = f"{value:.0f} losing trades in a row (limit {limit:.0f})"
    else:
        why = f"{value:.0f} losing stop-outs in the guard window (limit {limit:.0f})"
    return f"{why}: new entries halted until {until:%Y-%m-%d %H:%M} UTC"
