"""The trading loop: closed candles -> the engine (``LiveRunner``) -> a broker -> the ledger.

Per closed candle :meth:`TradingLoop.step`:

1. reads the commands people sent through the ledger (``serving.control``: ``stop``,
   ``start``, ``kill``, ``order``) that it has not handled yet (by sequence number) and
   applies them;
2. appends the candle to the candle store (when one is given);
3. lets the model sizer score the bar (``serving.runtime.sizer``; no sizer: the rule alone);
4. runs :meth:`LiveRunner.on_bar` (broker poll, fills booked, features, strategy, the
   engine's close, typed requests to the broker) through a :class:`Gate` strategy that puts
   the sizer's size, the halt and any manual order on the bar's signal row;
5. appends the bar's events in one transaction: the signal record, the decision (model
   version or null, the feature row and its hash, the bar itself, the sequence numbers of
   the commands it applied),
   the paper broker's orders, states and fills (``LedgerPaperBroker``; a live broker writes
   its own), and the account's balance;
6. every ``checkpoint_every`` bars, writes the loop's state (engine, features, paper book)
   atomically with the ledger sequence number it reflects.

Restart: every event the loop writes has a deduplication key, and the decision event holds
its bar and the commands it applied. A new process loads the checkpoint (with the commands
handled), re-runs the bars the ledger holds after it with exactly those commands (their
events are already stored: nothing is written twice) and goes on with the source
after the last bar handled; with no checkpoint it rebuilds everything from the ledger's bars.
A venue broker hands the re-run engine each fill the ledger holds once the re-run reaches the
time its bar was first handled, and asks the venue nothing meanwhile (its ``start`` reconciled).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, Timeframe
from serving.brokers.base import Broker
from serving.brokers.paper import PaperBroker
from serving.brokers.recording import LedgerPaperBroker
from serving.control import Control, pending
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.strategy import Strategy, StrategyInputs
from serving.ledger.events import (
    LedgerEvent,
    balance_event,
    decision_event,
    funding_event,
    halt_event,
    resume_event,
    signal_event,
)
from serving.ledger.store import Ledger
from serving.runtime.clock import Clock
from serving.runtime.runner import BarReport, LiveRunner
from serving.runtime.sizer import Sizer
from serving.runtime.sources import Bar
from serving.signals import SMCConfluence, plan_for, to_signal

log = logging.getLogger(__name__)

_DIRS = {"long": 1, "short": -1}
_CHECKPOINT_VERSION = 1
_SMC_NAMES = SMCConfluence().inputs().names


class Gate:
    """The loop's strategy: the rule's signal row, then the model's size, halts, manual orders.

    The runner calls :meth:`signal` once per bar with the bar's feature row; the loop sets
    what applies to that bar before (``size``, ``halted``, ``force_entry``, ``force_exit``).
    """

    def __init__(self, inner: Strategy) -> None:
        """Wrap the rule ``inner``."""
        self.inner = inner
        self.name = inner.name
        self.size: float | None = None
        self.halted: str | None = None
        self.force_entry = 0
        self.force_exit: set[int] = set()
        self.row = np.empty(0)
        self.rule_entry = 0.0
        self.warming = False

    def inputs(self) -> StrategyInputs:
        """Return the rule's feature columns."""
        return self.inner.inputs()

    def signals(self, features: np.ndarray) -> np.ndarray:
        """Return the rule's signal rows (the batch path; no controls apply)."""
        return self.inner.signals(features)

    def signal(self, row: np.ndarray) -> np.ndarray:
        """Return the bar's signal row with the size, the halt and manual orders applied."""
        sig = self.inner.signal(row).copy()
        self.row = row
        self.rule_entry = float(sig[L.SIG_ENTRY])
        if self.size is not None:
            sig[L.SIG_SIZE] = self.size  # what model_sizes does in the backtest
        if self.force_entry:
            sig[L.SIG_ENTRY] = float(self.force_entry)
            sig[L.SIG_SIZE] = np.nan  # a person's order takes the rules' own size
        if self.halted is not None or self.warming:
            sig[L.SIG_ENTRY] = 0.0
        for d in self.force_exit:
            sig[L.SIG_EXIT_LONG if d > 0 else L.SIG_EXIT_SHORT] = 1.0
        return sig


@dataclass(frozen=True)
class LoopConfig:
    """Settings of one trading loop (one symbol, one timeframe).

    Attributes:
        symbol: Market symbol.
        timeframe: Candle timeframe the engine trades.
        session: Name of the run: it keeps the ledger records of different runs apart (client
            ids, deduplication keys); the same session resumes.
        quote: Currency of the paper account's balance events.
        checkpoint_every: Bars between two checkpoints (restart re-runs at most this many
            bars from the ledger); a multiple of ``batch_bars``.
        batch_bars: Bars whose events go in one transaction. 1 (the default, and what a live
            run needs) commits every bar; a fast replay may commit every N bars, and a crash
            then loses at most N-1 bars' events, which the replay simply produces again.
        control_poll_s: 0: read the commands from the ledger at each bar's close (one query
            on the way to the order); > 0: a background thread reads them every that many
            seconds and the bar takes what it found (no query between a close and its order;
            a command reaches the bar that closes at least this long after it).
        who: Who the loop is, in the events it writes.
    """

    symbol: str
    timeframe: str
    session: str = "paper"
    quote: str = "USDT"
    checkpoint_every: int = 50
    batch_bars: int = 1
    control_poll_s: float = 0.0
    who: str = "trading loop"

    def __post_init__(self) -> None:
        Timeframe.parse(self.timeframe)
        if self.batch_bars < 1:
            raise ValueError(f"batch_bars: expected >= 1, got {self.batch_bars}")
        if self.checkpoint_every < 1 or self.checkpoint_every % self.batch_bars:
            raise ValueError(
                f"checkpoint_every: expected a multiple of batch_bars ({self.batch_bars}), "
                f"got {self.checkpoint_every}"
            )
        if not self.session or "|" in self.session:
            raise ValueError(
                f"session: expected a non-empty name without '|', got {self.session!r}"
            )


@dataclass(frozen=True)
class BarOutcome:
    """What one bar did, with its timings (seconds from the start of the step)."""

    ts: pd.Timestamp
    decision: str
    requests: int
    fills: int
    equity: float
    position: float
    ack_s: float
    commit_s: float
    replayed: bool = False


@dataclass
class LoopSummary:
    """What a run of the loop did."""

    session: str
    mode: str
    bars: int = 0
    resumed: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    orders: int = 0
    fills: int = 0
    trades: int = 0
    equity: float = 0.0
    initial_cash: float = 0.0
    halted: str | None = None
    ledger_seq: int = 0
    ack_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready values."""
        ack = np.asarray(self.ack_s) * 1e3
        return {
            "session": self.session, "mode": self.mode, "bars": self.bars,
            "resumed_bars": self.resumed,
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
            "orders": self.orders, "fills": self.fills, "trades": self.trades,
            "equity": self.equity,
            "return": self.equity / self.initial_cash - 1.0 if self.initial_cash else None,
            "halted": self.halted, "ledger_seq": self.ledger_seq,
            "ack_ms_p50": float(np.percentile(ack, 50)) if len(ack) else None,
            "ack_ms_p99": float(np.percentile(ack, 99)) if len(ack) else None,
        }  # fmt: skip


def _jsonable(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class ControlFeed:
    """Reads the ledger's commands in a background thread; the loop takes them per bar.

    Every poll reads the ledger's commands and keeps those not handled yet (by sequence
    number, so one committed late, below a number already handed out, is still found).
    """

    def __init__(self, ledger: Ledger, handled: Iterable[int], interval_s: float) -> None:
        """Start polling, every ``interval_s``, the commands not in ``handled``."""
        self._ledger = ledger
        self._seen = set(handled)
        self._interval = interval_s
        self._found: list[Control] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poll()
        self._thread = threading.Thread(target=self._run, name="control-feed", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            new = pending(self._ledger, done=self._seen)
        except Exception as exc:  # the ledger is down: try again at the next tick
            log.warning("reading commands: %s", type(exc).__name__)
            return
        if new:
            self._seen.update(c.seq for c in new)
            with self._lock:
                self._found += new

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()

    def take(self) -> list[Control]:
        """Return the commands found since the last call, in the order they were found."""
        with self._lock:
            out, self._found = self._found, []
        return out

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._thread.join()


class TradingLoop:
    """Closed candles through the engine to a broker, every step recorded in the ledger."""

    def __init__(
        self,
        config: BacktestConfig,
        loop: LoopConfig,
        ledger: Ledger,
        clock: Clock,
        broker: Broker | None = None,
        sizer: Sizer | None = None,
        strategy: Strategy | None = None,
        candle_store: Any = None,
        checkpoint: str | Path | None = None,
        on_bar: Callable[[BarOutcome], None] | None = None,
        health: Callable[[], Any] | None = None,
    ) -> None:
        """Build the loop; ``broker`` None trades on paper (``LedgerPaperBroker``).

        ``checkpoint`` is the file of the loop's state (None: rebuild from the ledger at
        every start); ``health`` the model-health flag's provider (``LiveRunner``'s).
        Nothing runs until :meth:`start`.
        """
        self.config = config
        self.loop = loop
        self.ledger = ledger
        self.clock = clock
        self.sizer = sizer
        self.candle_store = candle_store
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self._on_bar = on_bar
        self.tf = Timeframe.parse(loop.timeframe)
        self.paper: LedgerPaperBroker | None = None
        if broker is None:
            self.paper = LedgerPaperBroker(
                PaperBroker(config, self.tf, clock), loop.symbol, clock, loop.session
            )
            broker = self.paper
        self.broker = broker
        self.gate = Gate(strategy or SMCConfluence(config.strategy))
        self._health = health
        self.runner = LiveRunner(
            config, self.tf, broker, clock, strategy=self.gate, symbol=loop.symbol, health=health
        )
        self._hard_halted = False
        self.handled: set[int] = set()  # the sequence numbers of the commands handled
        self.cursor = 0  # the highest of them
        self.last_ts: pd.Timestamp | None = None
        self.bars = 0
        self._since_checkpoint = 0
        self._checkpoint_ok = True
        self._manual: list[tuple[Control, str | None]] = []
        self._applied: list[int] = []
        self._unwritten: list[LedgerEvent] = []
        self._feed: ControlFeed | None = None
        self._unwritten_bars = 0
        self.summary = LoopSummary(loop.session, "paper" if self.paper else "live",
                                   initial_cash=config.initial_cash)  # fmt: skip

    # -- start and restart --------------------------------------------------------------------

    def _key(self, *parts: object) -> str:
        return ":".join((self.loop.session, *map(str, parts)))

    def start(self) -> int:
        """Restore the state the ledger and the checkpoint hold; return the bars re-run.

        The sizer is not in the checkpoint (a model does not pickle cheaply): it is fed the
        bars the checkpoint reflects first (its ``warm`` when it has one), then the re-run.
        """
        since = self._load_checkpoint()
        if since and self.sizer is not None:
            self._warm_sizer(since)
        venue: Any = self.broker if hasattr(self.broker, "hand_until") else None
        if not since and venue is not None:
            venue.restore()  # an engine rebuilt from the bars alone has seen no venue fill
        again = 0
        commands: dict[int, Control] | None = None
        for e in self.ledger.events(since, kinds=("decision",)):
            body = e.body
            if body.get("session") != self.loop.session or "bar" not in body:
                continue
            bar = dict(body["bar"])
            bar["ts"] = pd.Timestamp(int(bar["ts"]), tz="UTC")
            if self.last_ts is not None and bar["ts"] <= self.last_ts:
                continue
            if hasattr(self.clock, "set"):
                self.clock.set(bar["ts"] + self.tf.delta)
            if venue is not None:
                venue.hand_until = e.at  # the fills booked when the bar was first handled
            if commands is None:  # read once for the whole re-run
                commands = {c.seq: c for c in pending(self.ledger)}
            if "controls" in body:
                applied = [commands[int(q)] for q in body["controls"]]
            else:  # a decision written before commands were tracked by number
                through = int(body["controls_through"])
                applied = [c for q, c in commands.items() if q <= through and q not in self.handled]
            self.step(bar, applied=applied, replayed=True)
            again += 1
        if venue is not None:
            venue.hand_until = None
        self.flush()
        self.summary.resumed = again
        return again

    def _warm_sizer(self, upto: int) -> None:
        """Feed the sizer the session's bars recorded up to sequence number ``upto``."""
        assert self.sizer is not None
        ts, values = [], []
        for e in self.ledger.events(0, kinds=("decision",)):
            if e.seq is not None and e.seq > upto:
                break
            b = e.body
            if b.get("session") == self.loop.session and "bar" in b:
                ts.append(int(b["bar"]["ts"]))
                values.append([float(b["bar"][c]) for c in OHLCV])
        if not ts:
            return
        warm = getattr(self.sizer, "warm", None)
        if callable(warm):
            warm(np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64))
            return
        for t, v in zip(ts, values, strict=True):
            self.sizer.update(t, np.asarray(v))

    def _load_checkpoint(self) -> int:
        if self.checkpoint is None or not self.checkpoint.is_file():
            return 0
        try:
            state = pickle.loads(self.checkpoint.read_bytes())
        except Exception as exc:  # a damaged file: rebuild from the ledger instead
            log.warning("checkpoint %s unreadable (%s); rebuilding from the ledger",
                        self.checkpoint, type(exc).__name__)  # fmt: skip
            return 0
        if state.get("version") != _CHECKPOINT_VERSION or state.get("session") != self.loop.session:
            log.warning("checkpoint %s is not this session's; rebuilding", self.checkpoint)
            return 0
        runner: LiveRunner = state["runner"]
        runner.broker, runner.clock, runner.health = self.broker, self.clock, self._health
        if self.paper is not None and state["paper"] is not None:
            paper: LedgerPaperBroker = state["paper"]
            paper.clock = self.clock
            paper.inner._clock = self.clock
            self.paper = paper
            runner.broker = self.broker = paper
        self.runner = runner
        assert isinstance(runner.strategy, Gate)
        self.gate = runner.strategy
        self._hard_halted = bool(state.get("hard_halted", False))
        self.cursor = int(state["cursor"])
        venue = state.get("venue")
        if venue is not None and hasattr(self.broker, "restore"):
            self.broker.restore(venue["handed"], venue["trades"])
        if "handled" in state:
            self.handled = set(state["handled"])
        else:  # a checkpoint from before commands were tracked by number
            self.handled = {c.seq for c in pending(self.ledger) if c.seq <= self.cursor}
        self.last_ts = state["last_ts"]
        self.bars = int(state["bars"])
        self.summary = state["summary"]
        self.summary.ack_s = []
        return int(state["seq"])

    def _save_checkpoint(self, seq: int) -> None:
        if self.checkpoint is None or not self._checkpoint_ok:
            return
        r = self.runner
        broker, clock, health = r.broker, r.clock, r.health
        r.broker, r.clock, r.health = None, None, None  # type: ignore[assignment]
        venue = None
        handed, trades = getattr(broker, "handed", None), getattr(broker, "engine_trades", None)
        if handed is not None and trades is not None:  # a venue broker: what the engine saw
            venue = {"handed": sorted(handed), "trades": sorted(trades)}
        try:
            data = pickle.dumps({
                "version": _CHECKPOINT_VERSION, "session": self.loop.session, "seq": seq,
                "runner": r, "paper": self.paper, "cursor": self.cursor,
                "handled": sorted(self.handled), "venue": venue,
                "last_ts": self.last_ts, "bars": self.bars, "hard_halted": self._hard_halted,
                "summary": replace(self.summary, ack_s=[]),
            }, protocol=pickle.HIGHEST_PROTOCOL)  # fmt: skip
        except Exception as exc:  # e.g. a strategy holding something that does not pickle
            self._checkpoint_ok = False
            log.warning("no checkpoints (%s): a restart rebuilds from the ledger", exc)
            return
        finally:
            r.broker, r.clock, r.health = broker, clock, health
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint)  # atomic: the old state or the new, never half

    # -- controls -----------------------------------------------------------------------------

    def _open_dirs(self) -> tuple[set[int], set[int]]:
        """Return the directions with an open trade and those with a pending entry."""
        t = self.runner.engine.trades
        opened = {int(r[L.T_DIR]) for r in t if r[L.T_STATE] in (L.STATE_OPEN, L.STATE_CLOSING)}
        waiting = {int(r[L.T_DIR]) for r in t if r[L.T_STATE] == L.STATE_PENDING}
        return opened, waiting

    def rearm(self) -> str:
        """Re-arm the engine's account hard stop (a person's ``start``); say what changed."""
        self._hard_halted = False
        return self.runner.rearm()

    def _controls(self, controls: Iterable[Control], at: pd.Timestamp) -> list[LedgerEvent]:
        out: list[LedgerEvent] = []
        g = self.gate
        live = self.paper is None
        for c in controls:
            key = self._key("control", c.seq)
            reason = str(c.detail.get("reason") or "")
            if c.command == "stop":
                g.halted = f"stopped by {c.by}" + (f": {reason}" if reason else "")
                out.append(replace(halt_event(g.halted, at), dedup=key))
            elif c.command == "start":
                g.halted = None
                armed = self.rearm()
                if live and hasattr(self.broker, "resume"):
                    self.broker.resume(c.by)  # a venue broker records its own resume
                    log.info("%s (start by %s)", armed, c.by)
                else:
                    e = resume_event(c.by, at)
                    out.append(replace(e, body={**e.body, "hard_stop": armed}, dedup=key))
            elif c.command == "kill":
                flatten = bool(c.detail.get("flatten", False))
                why = f"by {c.by}" + (f": {reason}" if reason else "")
                g.halted = f"kill switch: {why}"  # the words CcxtBroker.kill records
                opened, waiting = self._open_dirs()
                g.force_exit |= opened | waiting if flatten else waiting - opened
                if live and hasattr(self.broker, "kill"):
                    # the venue broker halts and cancels; the engine closes the positions
                    self.broker.kill(why, flatten=False)
                else:
                    out.append(replace(halt_event(g.halted, at), dedup=key))
            elif c.command == "order":
                out.append(self._order(c, at))
        return out

    def _order(self, c: Control, at: pd.Timestamp) -> LedgerEvent:
        """Turn a manual order into a forced signal, or refuse it with the reason."""
        d = c.detail
        action, direction = d.get("action"), _DIRS.get(str(d.get("direction")))
        problem = None
        if d.get("symbol") not in (None, self.loop.symbol):
            problem = f"symbol {d.get('symbol')!r} is not traded here ({self.loop.symbol})"
        elif action not in ("enter", "exit"):
            problem = f"action {action!r} is not enter or exit"
        elif direction is None:
            problem = f"direction {d.get('direction')!r} is not long or short"
        elif action == "enter" and self.gate.halted:
            problem = f"trading halted: {self.gate.halted}"
        elif action == "exit" and direction not in set.union(*self._open_dirs()):
            problem = f"no {d.get('direction')} position or pending entry to exit"
        elif action == "enter":
            self.gate.force_entry = direction
        else:
            self.gate.force_exit.add(direction)
        self._manual.append((c, problem))
        return self._order_event(c, at, "refused" if problem else "accepted", problem, "order")

    def _order_event(
        self, c: Control, at: pd.Timestamp, decision: str, reason: str | None, what: str
    ) -> LedgerEvent:
        """Return the decision on a manual order (``ref``: ``control-<its seq>``)."""
        event = decision_event(
            f"control-{c.seq}", at, decision=decision, model_version=None,
            feature_snapshot=None,
            detail={"session": self.loop.session, "by": c.by, "order": dict(c.detail),
                    "reason": reason},
        )  # fmt: skip
        return replace(event, dedup=self._key(what, c.seq))

    # -- one bar ------------------------------------------------------------------------------

    def step(
        self,
        bar: Mapping[str, Any],
        applied: Iterable[Control] | None = None,
        replayed: bool = False,
    ) -> BarOutcome:
        """Handle one closed candle (see the module docstring); return what it did.

        ``applied``: for a bar re-run, the commands its decision says it applied then.
        """
        t0 = time.perf_counter()
        ts = pd.Timestamp(bar["ts"])
        at = self.clock.now()
        g = self.gate
        g.force_entry, g.force_exit, self._manual = 0, set(), []
        if applied is not None:  # a bar re-run: the commands it applied then
            controls = list(applied)
        elif self._feed is not None:
            controls = [c for c in self._feed.take() if c.seq not in self.handled]
        else:
            controls = pending(self.ledger, done=self.handled)
        events = self._controls(controls, at)
        self.handled.update(c.seq for c in controls)
        self.cursor = max([self.cursor, *(c.seq for c in controls)])
        self._applied = [c.seq for c in controls]
        ohlcv = np.array([float(bar[c]) for c in OHLCV])
        if self.candle_store is not None and not replayed:
            frame = pd.DataFrame([ohlcv], columns=list(OHLCV),
                                 index=pd.DatetimeIndex([ts], name="ts"))  # fmt: skip
            self.candle_store.write(self.loop.symbol, self.tf, frame)
        p = math.nan
        if self.sizer is not None:
            p = float(self.sizer.update(int(ts.value), ohlcv))
            g.size = float(self.sizer.size(p))
        blocked = self.runner.engine.acct[L.A_BLOCKED : L.A_BLOCKED + L.N_REASONS].copy()
        funding_before = float(self.runner.engine.acct[L.A_FUNDING])
        report = self.runner.on_bar({"ts": ts, **{c: float(bar[c]) for c in OHLCV}})
        ack_s = time.perf_counter() - t0
        decision, reason = self._decision(report, blocked)
        for c, problem in self._manual:  # a forced entry the engine refused says why
            if problem is None and c.detail.get("action") == "enter" and decision != "enter":
                why = f"the engine refused it: {reason}"
                events.append(self._order_event(c, at, "refused", why, "order-engine"))
        if self.runner.engine.halted and not self._hard_halted:
            self._hard_halted = True
            said = [m for m in report.events if m.startswith("account hard stop")]
            why = said[0] if said else "account hard stop"
            events.append(replace(halt_event(why, at), dedup=self._key("hard-stop", ts.value)))
        events += self._bar_events(ts, at, bar, report, decision, reason, p, funding_before)
        if self.paper is not None:
            at_end = len(events) - (2 if events[-2].kind == "funding" else 1)
            events[at_end:at_end] = (
                self.paper.drain()
            )  # the bar's orders and fills, then the close's
        self._unwritten += events
        self._unwritten_bars += 1
        self.last_ts = ts
        self.bars += 1
        s = self.summary
        s.bars = self.bars
        s.first = s.first or ts
        s.last = ts
        s.orders += len(report.requests)
        s.fills += len(report.fills)
        s.trades += sum(1 for f in report.fills if f.closes_position)
        s.equity = report.equity
        s.halted = g.halted or ("account hard stop" if self._hard_halted else None)
        if not replayed:
            s.ack_s.append(ack_s)
        if self._unwritten_bars >= self.loop.batch_bars:
            self.flush()
        commit_s = time.perf_counter() - t0
        outcome = BarOutcome(ts, decision, len(report.requests), len(report.fills),
                             report.equity, report.position, ack_s, commit_s, replayed)  # fmt: skip
        if self._on_bar is not None:
            self._on_bar(outcome)
        return outcome

    def flush(self) -> None:
        """Append the events of the bars not written yet (one transaction); checkpoint if due."""
        if not self._unwritten:
            return
        seqs = self.ledger.append(self._unwritten)
        self._since_checkpoint += self._unwritten_bars
        self._unwritten, self._unwritten_bars = [], 0
        stored = [q for q in seqs if q is not None]
        if stored:
            self.summary.ledger_seq = max(stored)
        if self._since_checkpoint >= self.loop.checkpoint_every and self.summary.ledger_seq:
            self._save_checkpoint(self.summary.ledger_seq)
            self._since_checkpoint = 0

    def _decision(self, report: BarReport, blocked: np.ndarray) -> tuple[str, str | None]:
        actions = [q.action for q in report.requests]
        if "new" in actions:
            return "enter", None
        if "close" in actions:
            return "exit", None
        if self.gate.rule_entry == 0.0 and not self.gate.force_entry:
            return "none", None
        if self.gate.warming:
            return "skip", "warm-up: a bar from before the loop started trading"
        if self.gate.halted:
            return "skip", f"trading halted: {self.gate.halted}"
        grew = np.flatnonzero(
            self.runner.engine.acct[L.A_BLOCKED : L.A_BLOCKED + L.N_REASONS] > blocked
        )
        why = L.REASONS[int(grew[0])] if len(grew) else "refused by the broker"
        rejected = [r.reason for r in report.rejections]
        return "skip", rejected[0] if rejected else why

    def _bar_events(
        self, ts: pd.Timestamp, at: pd.Timestamp, bar: Mapping[str, Any], report: BarReport,
        decision: str, reason: str | None, p: float, funding_before: float,
    ) -> list[LedgerEvent]:  # fmt: skip
        g = self.gate
        row = np.ascontiguousarray(g.row, dtype=np.float64)
        names = g.inputs().names
        record_row = row
        if names != _SMC_NAMES:  # another strategy's row: the record reads the bar only
            record_row = np.full(len(_SMC_NAMES), np.nan)
            record_row[:4] = [float(bar[c]) for c in OHLCV[:4]]
        sig = report.signal
        position = int(np.sign(report.position))
        entry = sig[L.SIG_ENTRY]
        plan = plan_for(sig, record_row, self.config, report.equity) if entry else None
        signal = to_signal(record_row, sig, plan, symbol=self.loop.symbol, timeframe=self.tf,
                           opened_at=ts, config=self.config, position=position)  # fmt: skip
        version = self.sizer.version if self.sizer is not None else None
        confidence = round(p * 100) if math.isfinite(p) and 0.0 <= p <= 1.0 else None
        signal = replace(signal, model_version=version, confidence_score=confidence)
        record: Any = signal  # a frozen Signal is a SignalRecord (read-only signal_id)
        digest = hashlib.sha256(row.tobytes()).hexdigest()[:16]
        detail = {
            "session": self.loop.session, "symbol": self.loop.symbol,
            "timeframe": self.tf.label, "reason": reason,
            "bar": {"ts": int(ts.value), **{c: float(bar[c]) for c in OHLCV}},
            "controls": self._applied, "controls_through": self.cursor,
            "score": _jsonable(p),
            "size": None if g.size is None else _jsonable(g.size),
            "requests": [q.request_id for q in report.requests],
            "protections": list(report.events),
            "features": {n: _jsonable(float(v)) for n, v in zip(names, row, strict=True)},
        }  # fmt: skip
        events = [
            replace(signal_event(record, at), dedup=self._key("signal", ts.value)),
            replace(
                decision_event(
                    signal.signal_id,
                    at,
                    decision=decision,
                    model_version=version,
                    feature_snapshot=f"sha256:{digest}",
                    detail=detail,
                ),
                dedup=self._key("decision", ts.value),
            ),
        ]
        acct = self.runner.engine.acct
        if self.paper is not None:
            source = f"paper:{self.loop.session}"
            paid = float(acct[L.A_FUNDING]) - funding_before
            if paid != 0.0:  # the engine charged funding at this close
                events.append(funding_event(
                    str(ts.value), self.loop.symbol, -paid, self.loop.quote, ts + self.tf.delta,
                    at, source=source,
                ))  # fmt: skip
            events.append(balance_event(
                self.loop.quote, float(report.equity), at, source=source,
                dedup=self._key("balance", ts.value), cash=float(acct[L.A_CASH]),
                position=float(report.position), symbol=self.loop.symbol,
            ))  # fmt: skip
        return events

    # -- the run ------------------------------------------------------------------------------

    def run(
        self,
        bars: Iterable[Bar],
        limit: int | None = None,
        trade_after: pd.Timestamp | None = None,
    ) -> LoopSummary:
        """Handle ``bars`` (a source's, after the last bar handled) until ``limit`` new bars.

        Bars that closed before ``trade_after`` only warm the features up: no entries (a
        live start reads the history its features need first).
        """
        if self.loop.control_poll_s > 0:
            self._feed = ControlFeed(self.ledger, self.handled, self.loop.control_poll_s)
        try:
            self._run(bars, limit, trade_after)
        finally:
            if self._feed is not None:
                self._feed.close()
                self._feed = None
        self.flush()
        if self._since_checkpoint and self.summary.ledger_seq:
            self._save_checkpoint(self.summary.ledger_seq)
            self._since_checkpoint = 0
        return self.summary

    def _run(
        self, bars: Iterable[Bar], limit: int | None, trade_after: pd.Timestamp | None
    ) -> None:
        n = 0
        for bar in [] if limit is not None and limit <= 0 else bars:
            ts = pd.Timestamp(bar["ts"])
            if self.last_ts is not None and ts <= self.last_ts:
                continue
            self.gate.warming = trade_after is not None and ts + self.tf.delta < trade_after
            self.step(bar)
            self.gate.warming = False
            n += 1
            if limit is not None and n >= limit:
                break  # before asking the source for another bar: none is lost
