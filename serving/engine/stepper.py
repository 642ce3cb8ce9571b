"""The state machine driven one bar at a time, for the live, paper and reference runners.

The fast path (``machine.run``) loops over arrays; a runner that receives bars one by one
drives the same compiled functions through a :class:`Stepper`: :meth:`Stepper.book` books the
exchange's fills of a bar (``portfolio.apply_fills``), :meth:`Stepper.close` runs the engine at
the bar's close (``machine.on_close``) and returns the requests for the exchange, and
:meth:`Stepper.reject` takes back what a refused request had reserved. It keeps the run's logs
in the fast path's record layouts, so both can be compared bit for bit.
"""

from __future__ import annotations

import numpy as np

from serving.engine import layout as L
from serving.engine.machine import on_close
from serving.engine.portfolio import apply_fills, new_account, new_trades
from serving.engine.protections import describe_event
from serving.engine.simulate import EngineLogs

_WIDTHS = {"orders": L.NR, "fills": L.NF, "trades": L.NTR, "events": L.NE}


class Stepper:
    """One account and its trade slots, advanced one closed bar at a time."""

    def __init__(self, params: np.ndarray, initial_cash: float) -> None:
        """Start flat with ``initial_cash``; ``params`` is the config's parameter vector."""
        self._p = params
        self.acct = new_account(initial_cash)
        self.trades = new_trades()
        self._requests = np.empty((L.MAX_REQUESTS_PER_BAR, L.NR))
        self._closed = np.empty((L.MAX_SLOTS, L.NTR))
        self._events = np.empty((L.MAX_EVENTS_PER_BAR, L.NE))
        self._log: dict[str, list[np.ndarray]] = {k: [] for k in _WIDTHS}
        self._equity: list[float] = []
        self._position: list[float] = []

    @property
    def equity(self) -> float:
        """Equity marked at the last close."""
        return float(self.acct[L.A_EQUITY])

    @property
    def position(self) -> float:
        """Net position (signed base units)."""
        return float(self.acct[L.A_QTY])

    def book(self, fills: np.ndarray) -> None:
        """Book fill rows of the current bar (cash, fees, trade slots, closed trades)."""
        if not len(fills):
            return
        rows = np.ascontiguousarray(fills, dtype=np.float64)
        n_closed = int(self.acct[L.A_N_TRADES])
        self.acct[L.A_N_TRADES] = 0.0  # closed trades of this call are written from row 0
        apply_fills(self.acct, self.trades, rows, rows.shape[0], self._closed, self._p)
        k = int(self.acct[L.A_N_TRADES])
        self._log["trades"].append(self._closed[:k].copy())
        self.acct[L.A_N_TRADES] = n_closed + k
        self._log["fills"].append(rows.copy())
        self.acct[L.A_N_FILLS] += rows.shape[0]

    def reject(self, trade_id: int, slot: int, action: str) -> None:
        """Undo what a request the exchange refused had changed in the engine's view.

        A refused ``new`` bracket frees its pending slot (counted among the refused entries as
        "rejected by the exchange"); a refused ``close`` leaves the position open and managed
        again. A refused ``amend_stop`` or ``cancel`` changes nothing here: the engine keeps
        its new stop or its freed slot, and the broker owns resending.
        """
        t = self.trades[slot]
        if int(t[L.T_ID]) != trade_id:
            return  # the slot holds another trade by now
        if action == "new" and t[L.T_STATE] == L.STATE_PENDING:
            t[L.T_STATE] = L.STATE_FREE
            self.acct[L.A_BLOCKED + L.R_REJECTED] += 1.0
        elif action == "close" and t[L.T_STATE] == L.STATE_CLOSING:
            t[L.T_STATE] = L.STATE_OPEN

    def close(
        self, ts_ns: int, close: float, funding_rate: float, signal: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        """Run the engine at the close of the bar opening at ``ts_ns``.

        Return the request rows for the exchange and a sentence per protection that fired.
        """
        n_events = int(self.acct[L.A_N_EVENTS])
        self.acct[L.A_N_EVENTS] = 0.0  # events of this call are written from row 0
        nr = on_close(
            float(ts_ns), close, funding_rate, signal, self.acct, self.trades, self._p,
            self._requests, self._events,
        )  # fmt: skip
        k = int(self.acct[L.A_N_EVENTS])
        self.acct[L.A_N_EVENTS] = n_events + k
        events = self._events[:k].copy()
        self._log["events"].append(events)
        requests = self._requests[:nr].copy()
        if nr:
            self._log["orders"].append(requests)
            self.acct[L.A_N_ORDERS] += nr
        self._equity.append(self.equity)
        self._position.append(self.position)
        return requests, [describe_event(e) for e in events]

    def logs(self) -> EngineLogs:
        """Return everything the engine did so far, in the fast path's record layouts."""

        def stack(name: str) -> np.ndarray:
            parts = self._log[name]
            return np.concatenate(parts) if parts else np.empty((0, _WIDTHS[name]))

        return EngineLogs(
            orders=stack("orders"),
            fills=stack("fills"),
            trades=stack("trades"),
            events=stack("events"),
            equity=np.asarray(self._equity),
            position=np.asarray(self._position),
        )
