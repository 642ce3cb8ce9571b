"""The live/paper runner: ``on_bar`` per closed candle, with the clock and the broker injected.

Per closed bar the runner does what the fast path's loop does, through the same compiled
functions: it asks the broker for the fills that happened during the bar, books them
(``portfolio.apply_fills``), updates the features one bar (``FeatureStream``), asks the
strategy for the bar's intents, runs the engine's close (``machine.on_close``: protections,
trade management, risk sizing) and submits the resulting requests to the broker.

``PaperBroker`` simulates the exchange with the execution model the backtest uses
(``execution.match_bar`` / ``execution.accept``); a live broker (ccxt) implements the same
two methods. The clock refuses bars that have not closed yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from serving.backtest.result import BacktestResult
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.execution import accept, funding_rates, match_bar, new_book
from serving.engine.features import FeatureSpec, FeatureStream
from serving.engine.machine import on_close
from serving.engine.portfolio import apply_fills, new_account, new_trades
from serving.engine.protections import describe_event
from serving.engine.simulate import EngineLogs
from serving.engine.strategy import Strategy
from serving.signals import SMCConfluence

_EMPTY_F = np.zeros(0)


class Clock(Protocol):
    """Tells the current time (UTC)."""

    def now(self) -> pd.Timestamp:
        """Return the current time."""
        ...


class WallClock:
    """The real clock."""

    def now(self) -> pd.Timestamp:
        """Return the current UTC time."""
        return pd.Timestamp.now(tz="UTC")


class SimClock:
    """A clock that a backtest or a test sets by hand."""

    def __init__(self, start: pd.Timestamp | None = None) -> None:
        """Start at ``start`` (the epoch by default)."""
        self._now = start if start is not None else pd.Timestamp(0, tz="UTC")

    def set(self, when: pd.Timestamp) -> None:
        """Move the clock to ``when``."""
        self._now = when

    def now(self) -> pd.Timestamp:
        """Return the time the clock was set to."""
        return self._now


@dataclass(frozen=True)
class OrderRequest:
    """One engine request (new bracket, stop amendment, cancel, close) for a broker."""

    row: tuple[float, ...]

    @property
    def action(self) -> str:
        """``new``, ``amend_stop``, ``cancel`` or ``close``."""
        return L.ACTIONS[int(self.row[L.R_ACTION])]

    @property
    def trade_id(self) -> int:
        """The trade the request belongs to."""
        return int(self.row[L.R_ID])

    def as_dict(self) -> dict[str, Any]:
        """Return the request's fields by name."""
        values: dict[str, Any] = dict(zip(L.REQUEST_FIELDS, self.row, strict=True))
        values["action"] = self.action
        if self.action == "new":
            values["order_type"] = L.ORDER_TYPES[int(self.row[L.R_TYPE])]
        return values


@dataclass(frozen=True)
class Fill:
    """One execution reported by a broker."""

    row: tuple[float, ...]

    @property
    def kind(self) -> str:
        """``entry``, ``stop``, ``tp1``, ``tp2``, ``tp3`` or ``close``."""
        return L.FILL_KINDS[int(self.row[L.F_KIND])]

    @property
    def price(self) -> float:
        """Execution price."""
        return self.row[L.F_PRICE]

    @property
    def qty(self) -> float:
        """Executed quantity."""
        return self.row[L.F_QTY]

    def as_dict(self) -> dict[str, Any]:
        """Return the fill's fields by name."""
        values: dict[str, Any] = dict(zip(L.FILL_FIELDS, self.row, strict=True))
        values["kind"] = self.kind
        return values


class Broker(Protocol):
    """Where orders go: the paper broker, or an exchange."""

    def submit(self, requests: Sequence[OrderRequest]) -> None:
        """Send the engine's requests (they apply from now on)."""
        ...

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[Fill]:
        """Return the fills that happened during ``bar`` (a closed candle).

        ``sub_bars`` (rows of open, high, low of a lower timeframe inside the bar) let a
        simulated broker replay the bar; a live broker ignores them.
        """
        ...


class PaperBroker:
    """A simulated exchange running the backtest's execution model."""

    def __init__(self, config: BacktestConfig, timeframe: str | Timeframe, clock: Clock) -> None:
        """Build it with the config's fees, slippage and fill rules."""
        self._p = config.params(timeframe)
        self._clock = clock
        self.book = new_book()
        self._fills = np.empty((L.MAX_FILLS_PER_BAR, L.NF))

    def submit(self, requests: Sequence[OrderRequest]) -> None:
        """Accept the requests; they can fill from the next bar on."""
        if not requests:
            return
        rows = np.array([r.row for r in requests], dtype=np.float64)
        accept(self.book, rows, rows.shape[0], float(self._clock.now().value))

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[Fill]:
        """Match the working orders against ``bar``; ``sub_bars`` (rows of o, h, l) replay it."""
        ts = float(pd.Timestamp(bar["ts"]).value)
        if sub_bars is not None and len(sub_bars):
            sub = np.ascontiguousarray(sub_bars, dtype=np.float64)
            so, sh, sl = sub[:, 0].copy(), sub[:, 1].copy(), sub[:, 2].copy()
            s1 = sub.shape[0]
        else:
            so = sh = sl = _EMPTY_F
            s1 = 0
        n = match_bar(
            self.book, ts, float(bar["open"]), float(bar["high"]), float(bar["low"]),
            so, sh, sl, 0, s1, self._fills, self._p,
        )  # fmt: skip
        return [Fill(tuple(self._fills[k].tolist())) for k in range(n)]


@dataclass(frozen=True)
class BarReport:
    """What one ``on_bar`` did."""

    ts: pd.Timestamp
    fills: list[Fill]
    requests: list[OrderRequest]
    equity: float
    position: float
    signal: np.ndarray
    events: list[str] = field(default_factory=list)


class LiveRunner:
    """Run the engine one closed candle at a time against a broker."""

    def __init__(
        self,
        config: BacktestConfig,
        timeframe: str | Timeframe,
        broker: Broker,
        clock: Clock,
        strategy: Strategy | None = None,
        symbol: str = "",
    ) -> None:
        """Start flat with ``config.initial_cash``."""
        self.config = config
        self.timeframe = Timeframe.parse(timeframe)
        self.symbol = symbol
        self.broker = broker
        self.clock = clock
        self.strategy = strategy or SMCConfluence(config.strategy)
        self.features = FeatureStream(FeatureSpec.build(self.timeframe, self.strategy.inputs()))
        self._p = config.params(self.timeframe)
        self.acct = new_account(config.initial_cash)
        self.trades = new_trades()
        self._requests = np.empty((L.MAX_REQUESTS_PER_BAR, L.NR))
        self._closed = np.empty((L.MAX_SLOTS, L.NTR))
        self._events = np.empty((L.MAX_EVENTS_PER_BAR, L.NE))
        self._log: dict[str, list[np.ndarray]] = {
            k: [] for k in ("orders", "fills", "trades", "events")
        }
        self._equity: list[float] = []
        self._position: list[float] = []
        self._index: list[int] = []
        self._last_ts: int | None = None

    def _check(self, ts: pd.Timestamp) -> None:
        closes = ts + self.timeframe.delta
        if self.clock.now() < closes:
            raise CandleDataError(
                f"bar at {ts} closes at {closes}, after the clock's now ({self.clock.now()}): "
                "only closed candles may be fed to the engine"
            )
        if self._last_ts is not None and ts.value <= self._last_ts:
            raise CandleDataError(f"bar at {ts} is not after the previous bar")

    def on_bar(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> BarReport:
        """Process one closed candle: fills, features, intents, risk, new requests."""
        ts = pd.Timestamp(bar["ts"])
        self._check(ts)
        t = float(ts.value)
        values = np.array([float(bar[c]) for c in OHLCV])
        # 1-2: the broker's fills during this bar, booked by the engine
        polled = self.broker.poll(bar, sub_bars)
        if polled:
            rows = np.array([f.row for f in polled], dtype=np.float64)
            n_closed = int(self.acct[L.A_N_TRADES])
            self.acct[L.A_N_TRADES] = 0.0
            apply_fills(self.acct, self.trades, rows, rows.shape[0], self._closed, self._p)
            k = int(self.acct[L.A_N_TRADES])
            self._log["trades"].append(self._closed[:k].copy())
            self.acct[L.A_N_TRADES] = n_closed + k
            self._log["fills"].append(rows)
            self.acct[L.A_N_FILLS] += rows.shape[0]
        # 3: features and intents known at this close; the engine decides
        row = self.features.update(int(ts.value), values)
        signal = self.strategy.signal(row)
        rate = float(
            funding_rates(np.array([ts.value]), self.timeframe.ns, self.config.execution)[0]
        )
        n_events = int(self.acct[L.A_N_EVENTS])
        self.acct[L.A_N_EVENTS] = 0.0
        nr = on_close(
            t,
            values[3],
            rate,
            signal,
            self.acct,
            self.trades,
            self._p,
            self._requests,
            self._events,
        )
        k = int(self.acct[L.A_N_EVENTS])
        self.acct[L.A_N_EVENTS] = n_events + k
        events = self._events[:k].copy()
        self._log["events"].append(events)
        # 4: requests to the broker
        requests = [OrderRequest(tuple(self._requests[j].tolist())) for j in range(nr)]
        if nr:
            self._log["orders"].append(self._requests[:nr].copy())
            self.acct[L.A_N_ORDERS] += nr
        self.broker.submit(requests)
        self._equity.append(float(self.acct[L.A_EQUITY]))
        self._position.append(float(self.acct[L.A_QTY]))
        self._index.append(int(ts.value))
        self._last_ts = int(ts.value)
        return BarReport(
            ts=ts,
            fills=polled,
            requests=requests,
            equity=float(self.acct[L.A_EQUITY]),
            position=float(self.acct[L.A_QTY]),
            signal=signal,
            events=[describe_event(e) for e in events],
        )

    def logs(self) -> EngineLogs:
        """Return everything the runner did, in the fast path's record layouts."""
        widths = {"orders": L.NR, "fills": L.NF, "trades": L.NTR, "events": L.NE}

        def stack(name: str) -> np.ndarray:
            parts = self._log[name]
            return np.concatenate(parts) if parts else np.empty((0, widths[name]))

        return EngineLogs(
            orders=stack("orders"),
            fills=stack("fills"),
            trades=stack("trades"),
            events=stack("events"),
            equity=np.asarray(self._equity),
            position=np.asarray(self._position),
        )

    def result(self) -> BacktestResult:
        """Return the run so far as a ``BacktestResult``."""
        index = pd.to_datetime(np.asarray(self._index, dtype=np.int64), utc=True)
        return BacktestResult(
            symbol=self.symbol,
            timeframe=self.timeframe,
            index=pd.DatetimeIndex(index, name="ts"),
            initial_cash=self.config.initial_cash,
            logs=self.logs(),
            acct=self.acct.copy(),
        )
