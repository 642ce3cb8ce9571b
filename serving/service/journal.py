"""The service's signals in the ledger: each new signal appended once, off the request path.

:class:`SignalJournal` subscribes to the core (``SignalCore.subscribe``): a new signal is
queued and a background thread appends what is queued in one transaction every ``flush_s``.
Each event's deduplication key is the signal's deterministic id, so the same bar's signal
computed by two workers, or written again after a failed commit, is stored once. A ledger that
cannot be written keeps the signals queued (up to ``limit``, then the oldest are dropped and
counted: a signal can be computed again from its candles) and never fails a request.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from serving.ledger.events import LedgerEvent, signal_event

log = logging.getLogger(__name__)

SOURCE = "service"
"""The ``source`` of the service's signal events (the trading loop's carry its session)."""


@dataclass
class _Answer:
    """A served signal as a ``SignalRecord`` (what the ledger's signal builder reads)."""

    signal_id: str
    body: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.body)


def service_signal_event(answer: Mapping[str, Any], at: pd.Timestamp) -> LedgerEvent:
    """Return the ledger event of one served signal (stored once per signal id)."""
    sid = str(answer["signal_id"])
    event = signal_event(_Answer(sid, {**answer, "source": SOURCE}), at)
    return replace(event, dedup=f"{SOURCE}:signal:{sid}")


def is_service_signal(event: LedgerEvent) -> bool:
    """Whether an event is a signal the service recorded (not a trading loop's)."""
    return event.kind == "signal" and event.body.get("source") == SOURCE


class SignalJournal:
    """Queue the core's new signals and append them to the ledger from a thread."""

    def __init__(
        self,
        append: Callable[[Sequence[LedgerEvent]], object],
        flush_s: float = 0.25,
        limit: int = 10_000,
        clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
    ) -> None:
        """Append with ``append`` (the desk's); start the writer thread."""
        self._append = append
        self._flush_s = flush_s
        self._clock = clock
        self._queue: deque[LedgerEvent] = deque(maxlen=limit)
        self._lock = threading.Lock()  # the queue
        self._flushing = threading.Lock()  # one append at a time
        self._failing = False
        self.dropped = 0
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="signal-journal", daemon=True)
        self._thread.start()

    def record(self, answer: Mapping[str, Any]) -> None:
        """Queue a newly computed signal (the core's subscriber; never raises)."""
        try:
            event = service_signal_event(answer, self._clock())
        except Exception:
            log.exception("signal journal: cannot record %s", answer.get("signal_id"))
            return
        with self._lock:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(event)

    def flush(self) -> int:
        """Append what is queued in one transaction; return how many were written.

        One flush at a time: a call returns once whatever the thread was writing is stored.
        """
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
        if not batch:
            return 0
        try:
            self._append(batch)
        except Exception as exc:
            with self._lock:  # keep them, oldest first, for the next flush
                room = (self._queue.maxlen or len(batch)) - len(self._queue)
                kept = batch[-room:] if room > 0 else []
                self.dropped += len(batch) - len(kept)
                self._queue.extendleft(reversed(kept))
            if not self._failing:
                log.warning("signal journal: the ledger cannot be written (%s)", exc)
            self._failing = True
            return 0
        self._failing = False
        self.written += len(batch)
        return len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self._flush_s):
            self.flush()

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
