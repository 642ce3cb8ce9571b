"""The state machine driven one bar at a time, for the live, paper and reference runners.

The fast path (``machine.run``) loops over arrays; a runner that receives bars one by one
drives the same compiled functions through a :class:`Stepper`: :meth:`Stepper.book` books the
exchange's fills of a bar (``portfolio.apply_fills``), :meth:`Stepper.close` runs the engine at
the bar's close (``machine.on_close``) and returns the requests for the exchange, and
:meth:`Stepper.reject` takes back what a refused request had reserved. It keeps the run's logs
in the fast path's record layouts, so both can be compared bit for bit.

Two inputs exist only bar by bar, where a person and the monitoring are present:
:meth:`Stepper.set_health` (the model-health flag's risk multiplier, applied from the next
close; a backtest runs at 1) and :meth:`Stepper.rearm` (a person re-arms the account hard stop).
"""

from __future__ import annotations

import numpy as np

from serving.engine import layout as L
from serving.engine import protections
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

    @property
    def halted(self) -> bool:
        """Whether the account hard stop fired and nobody re-armed it yet."""
        return bool(self.acct[L.A_HARD_HALTED])

    @property
    def health(self) -> float:
        """The model-health risk multiplier in force (1: healthy, 0: new entries paused)."""
        return 1.0 - float(self.acct[L.A_DERISK])

    def rearm(self) -> str:
        """Re-arm the account hard stop: entries allowed again, its peak reset to the equity.

        A person's decision (the trading loop calls it on a ``start`` command); return a
        sentence saying what changed.
        """
        was = self.halted
        protections.rearm(self.acct)
        state = "re-armed" if was else "was armed; its peak is reset"
        return f"account hard stop {state} at equity {self.equity:,.2f}"

    def set_health(self, multiplier: float, reason: str = "") -> list[str]:
        """Set the model-health risk multiplier of the next closes (1 ok, 0.5 de-risk, 0 pause).

        Return a sentence when the multiplier changes (none otherwise), naming ``reason``.

        Raises:
            ValueError: ``multiplier`` is not in [0, 1].
        """
        if not 0.0 <= multiplier <= 1.0:
            raise ValueError(f"health multiplier must be in [0, 1], got {multiplier!r}")
        if multiplier == self.health:
            return []
        self.acct[L.A_DERISK] = 1.0 - multiplier
        if multiplier == 1.0:
            return ["model health ok: entries at full size again"]
        what = "new entries paused" if multiplier == 0.0 else f"entry risk x{multiplier:g}"
        return [f"{reason or 'model health degraded'}: {what}"]

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
