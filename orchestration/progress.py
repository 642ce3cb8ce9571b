"""Progress of a Dagster run as it happens: each step named, partitions done / total, elapsed.

``watch_run`` polls the run's event log in a background thread (the run itself executes in the
calling thread, as ``execute_in_process`` needs) and hands one line per step start, step end and
failed check to ``echo``; ``status`` (a terminal spinner, say) gets the current step's count.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

POLL_S = 0.5
_SHOWN = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


@dataclass
class _State:
    """What the watcher has seen of the run so far."""

    started: dict[str, float] = field(default_factory=dict)
    done: Counter[str] = field(default_factory=Counter)
    assets: dict[str, list[str]] = field(default_factory=dict)
    cursor: str | None = None


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


class RunWatcher:
    """Turns a run's events into progress lines; ``totals`` are partitions per asset key."""

    def __init__(
        self,
        job: str,
        totals: Mapping[str, int],
        echo: Callable[[str], object],
        status: Callable[[str], object] | None = None,
    ) -> None:
        """Report on ``job``; ``totals`` maps asset keys to the partitions the run covers."""
        self.job, self.totals, self.echo, self.status = job, dict(totals), echo, status
        self.t0 = time.monotonic()
        self.state = _State()

    def _count(self, asset: str) -> str:
        total = self.totals.get(asset, 1)
        return f"{self.state.done[asset]}/{total} partitions" if total > 1 else "done"

    def handle(self, entry: dg.EventLogEntry) -> None:
        """Report one event of the run."""
        event = entry.dagster_event
        if event is None:
            return
        clock = f"[{_elapsed(time.monotonic() - self.t0)}] {self.job}"
        step = event.step_key or "-"
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            self.state.started[step] = time.monotonic()
            self.echo(f"{clock} > {step} started")
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            asset = event.asset_key.to_user_string() if event.asset_key else step
            self.state.done[asset] += 1
            produced = self.state.assets.setdefault(step, [])
            if asset not in produced:
                produced.append(asset)
            if self.status is not None:
                self.status(f"{clock} > {asset}: {self._count(asset)}")
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            took = time.monotonic() - self.state.started.get(step, self.t0)
            verb = "done" if kind == dg.DagsterEventType.STEP_SUCCESS else "FAILED"
            assets = self.state.assets.get(step, [])
            counts = ", ".join(f"{a} {self._count(a)}" for a in assets if self.totals.get(a, 1) > 1)
            self.echo(
                f"{clock} < {step} {verb} in {took:.1f} s" + (f" ({counts})" if counts else "")
            )
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation: Any = event.event_specific_data
            if not evaluation.passed:
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                self.echo(f"{clock} ! check {name} FAILED")

    def poll(self, instance: dg.DagsterInstance, run_id: str) -> None:
        """Report every event written since the last poll."""
        if instance.get_run_by_id(run_id) is None:
            return
        records = instance.get_records_for_run(run_id, cursor=self.state.cursor, of_type=_SHOWN)
        for record in records.records:
            self.handle(record.event_log_entry)
        self.state.cursor = records.cursor


@contextmanager
def watch_run(
    watcher: RunWatcher, instance: dg.DagsterInstance, run_id: str
) -> Iterator[RunWatcher]:
    """Poll ``run_id``'s events in a thread while the body runs; report the rest at exit."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(POLL_S):
            watcher.poll(instance, run_id)

    thread = threading.Thread(target=loop, name="run-progress", daemon=True)
    thread.start()
    try:
        yield watcher
    finally:
        stop.set()
        thread.join()
        watcher.poll(instance, run_id)
