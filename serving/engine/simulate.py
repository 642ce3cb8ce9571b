"""The fast path's driver: run the compiled state machine over arrays, growing its logs.

``simulate`` takes bars, the strategy's signal rows and the parameter vector, runs
``machine.run`` and returns every order request, fill, closed trade and protection event plus
the equity and position at each close. A state can be passed in and is returned, so a run can
continue where another stopped (walk-forward windows with other parameters, for instance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from serving.engine import layout as L
from serving.engine import machine
from serving.engine import params as P
from serving.engine.execution import new_book
from serving.engine.portfolio import new_account, new_trades

_EMPTY_F = np.zeros(0)
_EMPTY_I = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Bars:
    """Bars of one symbol as arrays; optional lower-timeframe bars for intrabar replay.

    ``sub_start[i]:sub_end[i]`` index the sub-bars inside bar ``i`` (empty arrays: no replay).
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    funding: np.ndarray
    sub_open: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    sub_high: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    sub_low: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    sub_start: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    sub_end: np.ndarray = field(default_factory=lambda: _EMPTY_I)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def window(self, start: int, stop: int) -> Bars:
        """Return bars ``start..stop`` as views (whole bars: no intrabar replay)."""
        if self.sub_start.shape[0]:
            raise ValueError("a window of bars with intrabar sub-bars is not supported")
        cut = slice(start, stop)
        return Bars(
            self.ts[cut], self.open[cut], self.high[cut], self.low[cut], self.close[cut],
            self.funding[cut],
        )  # fmt: skip


@dataclass
class EngineState:
    """Everything the state machine carries from one bar to the next."""

    acct: np.ndarray
    trades: np.ndarray
    book: np.ndarray

    @classmethod
    def fresh(cls, initial_cash: float) -> EngineState:
        """Return the state of a new account with no orders."""
        return cls(new_account(initial_cash), new_trades(), new_book())

    def copy(self) -> EngineState:
        """Return an independent copy."""
        return EngineState(self.acct.copy(), self.trades.copy(), self.book.copy())


@dataclass(frozen=True)
class EngineLogs:
    """What one run produced (rows in the ``serving.engine.layout`` record layouts)."""

    orders: np.ndarray
    fills: np.ndarray
    trades: np.ndarray
    events: np.ndarray
    equity: np.ndarray
    position: np.ndarray


def _grow(a: np.ndarray, used: int) -> np.ndarray:
    bigger = np.full((max(2 * a.shape[0], used + 1024), a.shape[1]), np.nan)
    bigger[:used] = a[:used]
    return bigger


def simulate(
    bars: Bars,
    signals: np.ndarray,
    params: np.ndarray,
    state: EngineState | None = None,
    start: int = 0,
    stop: int | None = None,
) -> tuple[EngineLogs, EngineState]:
    """Run bars ``start..stop`` through the engine; return this run's logs and the end state."""
    stop = len(bars) if stop is None else stop
    state = state or EngineState.fresh(float(params[P.P_INITIAL_CASH]))
    acct = state.acct
    base = {k: int(acct[k]) for k in (L.A_N_ORDERS, L.A_N_FILLS, L.A_N_TRADES, L.A_N_EVENTS)}
    for k in base:
        acct[k] = 0.0  # logs of this run start empty; counters are restored below
    entries = int(np.count_nonzero(signals[start:stop, L.SIG_ENTRY])) if stop > start else 0
    # most entry intents are refused or never fill: start small, grow by doubling when needed
    cap = entries // 2 + 4 * L.MAX_SLOTS + 64
    orders = np.full((cap, L.NR), np.nan)
    fills = np.full((cap, L.NF), np.nan)
    closed = np.full((cap // 2, L.NTR), np.nan)
    events = np.full((64, L.NE), np.nan)
    equity = np.full(len(bars), np.nan)
    position = np.full(len(bars), np.nan)
    sig = np.ascontiguousarray(signals, dtype=np.float64)
    i = start
    while i < stop:
        i = machine.run(
            bars.ts, bars.open, bars.high, bars.low, bars.close, bars.funding, sig,
            bars.sub_open, bars.sub_high, bars.sub_low, bars.sub_start, bars.sub_end,
            params, acct, state.trades, state.book, orders, fills, closed, events,
            equity, position, i, stop,
        )  # fmt: skip
        if i < stop:
            orders = _grow(orders, int(acct[L.A_N_ORDERS]))
            fills = _grow(fills, int(acct[L.A_N_FILLS]))
            closed = _grow(closed, int(acct[L.A_N_TRADES]))
            events = _grow(events, int(acct[L.A_N_EVENTS]))
    logs = EngineLogs(
        orders=orders[: int(acct[L.A_N_ORDERS])].copy(),
        fills=fills[: int(acct[L.A_N_FILLS])].copy(),
        trades=closed[: int(acct[L.A_N_TRADES])].copy(),
        events=events[: int(acct[L.A_N_EVENTS])].copy(),
        equity=equity[start:stop].copy(),
        position=position[start:stop].copy(),
    )
    for k, v in base.items():
        acct[k] += v
    return logs, state
