"""Run the platform's long-lived processes together and stop them all cleanly.

``supervise`` starts each service in its own process group, records the groups in a pid file
and waits; Ctrl-C, SIGTERM or SIGHUP (or one service dying) stops every group: SIGINT first
(what ``dagster dev`` and Streamlit shut down cleanly on), SIGTERM after ``grace`` seconds,
SIGKILL as a last resort. ``stop`` (``smartmarket down``) does the same from another shell,
also when the supervisor itself was killed with ``kill -9``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

GRACE_S = 20.0
_POLL_S = 0.2


@dataclass(frozen=True)
class Service:
    """One long-lived process: its command line, extra environment and where to open it."""

    name: str
    argv: Sequence[str]
    url: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_groups(groups: Sequence[int], grace: float = GRACE_S) -> list[int]:
    """Stop process groups: SIGINT, then SIGTERM after ``grace`` s, then SIGKILL.

    Returns the groups that needed SIGKILL.
    """
    killed: list[int] = []
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0)):
        live = [g for g in groups if _group_alive(g)]
        for g in live:
            _signal_group(g, sig)
        deadline = time.monotonic() + wait
        while live and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            live = [g for g in live if _group_alive(g)]
        if not live:
            return killed
    for g in groups:
        if _group_alive(g):
            _signal_group(g, signal.SIGKILL)
            killed.append(g)
    deadline = time.monotonic() + 5.0
    while any(_group_alive(g) for g in killed) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    return killed


def supervise(
    services: Sequence[Service],
    pid_file: Path,
    echo: Callable[[str], object] = print,
    grace: float = GRACE_S,
) -> int:
    """Start ``services``, wait until a signal or one of them exits, stop all; return a code."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for service in services:
            env = {**os.environ, **service.env}
            procs.append(
                subprocess.Popen(
                    list(service.argv), env=env, cwd=service.cwd, start_new_session=True
                )
            )
            echo(f"started {service.name} (pid {procs[-1].pid})" + _at(service.url))
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(
            json.dumps({"supervisor": os.getpid(), "groups": [p.pid for p in procs]})
        )
        echo("stop with Ctrl-C, or `make down` from another shell")
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(_POLL_S)
        ended = [s.name for s, p in zip(services, procs, strict=True) if p.poll() is not None]
        echo(f"{', '.join(ended)} exited; stopping" if ended else "stopping ...")
        stop_groups([p.pid for p in procs], grace)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=1)
        echo("stopped")
        return 0 if stopping else 1
    finally:
        stop_groups([p.pid for p in procs if p.poll() is None], grace)
        pid_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _at(url: str) -> str:
    return f" -> {url}" if url else ""


def stop(pid_file: Path, grace: float = GRACE_S) -> str:
    """Stop what ``supervise`` started (``smartmarket down``); return what was done."""
    if not pid_file.exists():
        return "nothing is running (no pid file)"
    record = json.loads(pid_file.read_text())
    supervisor, groups = int(record["supervisor"]), [int(g) for g in record["groups"]]
    if _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + grace + 10.0
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
    killed = stop_groups(groups, grace)
    pid_file.unlink(missing_ok=True)
    return "stopped" + (f" (killed groups {killed})" if killed else "")
