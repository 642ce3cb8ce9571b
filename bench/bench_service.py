"""Signal service latency and throughput over loopback, against a bare BentoML endpoint.

One run, warm, bounded: the service (``bentoml serve``) on fresh synthetic candles of
BTC/USDT in a temporary app home (an hour of grace, so the candles seeded once stay fresh for
every case), and a bare BentoML service answering a constant
(``bench/service_bare.py``, same request model and BentoML settings). For each: a single
keep-alive client's p50/p99 over ``SINGLE`` sequential ``POST /api/signal`` after ``WARM``
warm-up requests, then ``CLIENTS`` concurrent keep-alive clients for ``SECONDS`` seconds
(throughput and p50/p99 under load), the peak RSS of the server's processes, and the 1-minute
load average of the machine when the case ended. The load
generator is asyncio over raw sockets (pre-encoded requests) and shares the machine's cores
with the server. Every answer must be 200; the run fails otherwise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT

WARM = 500
SINGLE = 3000
CLIENTS = 64
SECONDS = 10.0
BODY = b'{"symbol": "BTCUSDT", "timeframe": "15m"}'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, key: str) -> bytes:
    head = (
        f"POST /api/signal HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
        f"X-API-Key: {key}\r\n\r\n"
    )
    return head.encode() + BODY


async def _client(port: int, request: bytes, deadline: float, count: int, out: list[float]) -> None:
    """Send requests on one keep-alive connection until ``deadline`` or ``count`` answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while done < count and time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"answer {status}: {head[:200]!r}")
            out.append(time.perf_counter() - start)
            done += 1
    finally:
        writer.close()


def _single(port: int, request: bytes) -> dict[str, float]:
    warm: list[float] = []
    asyncio.run(_client(port, request, float("inf"), WARM, warm))
    lat: list[float] = []
    asyncio.run(_client(port, request, float("inf"), SINGLE, lat))
    ms = np.asarray(lat) * 1e3
    return {
        "single_p50_ms": float(np.percentile(ms, 50)),
        "single_p99_ms": float(np.percentile(ms, 99)),
    }


def _concurrent(port: int, request: bytes) -> dict[str, float]:
    async def load() -> tuple[list[float], float]:
        lat: list[float] = []
        start = time.perf_counter()
        deadline = start + SECONDS
        await asyncio.gather(
            *(_client(port, request, deadline, 10**9, lat) for _ in range(CLIENTS))
        )
        return lat, time.perf_counter() - start

    lat, elapsed = asyncio.run(load())
    ms = np.asarray(lat) * 1e3
    return {
        f"rps_{CLIENTS}_clients": len(lat) / elapsed,
        f"p50_ms_{CLIENTS}_clients": float(np.percentile(ms, 50)),
        f"p99_ms_{CLIENTS}_clients": float(np.percentile(ms, 99)),
    }


def _tree_peak_rss_mb(pid: int) -> float:
    """Sum of the high-water RSS (VmHWM) of a process and all its descendants."""
    import psutil

    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024.0


def _serve(target: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    bentoml = Path(sys.executable).parent / "bentoml"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(bentoml), "serve", target, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> float:
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < 300:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server not ready in 300 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _case(target: str, env: dict[str, str], key: str, log: Path) -> dict[str, Any]:
    port = _free_port()
    proc = _serve(target, port, env, log)
    try:
        startup = _wait_ready(port, proc, log)
        request = _request(port, key)
        row: dict[str, Any] = {**_single(port, request), **_concurrent(port, request)}
        row["ready_s"] = startup
        row["peak_rss_mb"] = _tree_peak_rss_mb(proc.pid)
        row["load_1m"] = os.getloadavg()[0]  # the machine's load when the case ended
        return row
    finally:
        _stop(proc)


def run() -> list[dict[str, Any]]:
    """Run the signal service and the bare baseline; one row per case."""
    from features.candles.store import make_store
    from orchestration.cli.serve import bentoml_overrides
    from serving.service.demo import seed_fresh_market
    from serving.service.keys import KeyStore
    from serving.service.wiring import keys_path

    ours = "orchestration.service:SignalService"
    bare = "bench.service_bare:BareService"
    cases = [
        ("signal service", ours, 1, True),
        ("signal service", ours, 1, False),
        ("signal service", ours, 2, False),
        ("bare BentoML constant", bare, 1, True),
        ("bare BentoML constant", bare, 1, False),
    ]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_service_") as name:
        tmp = Path(name)
        home = tmp / "home"
        seed_fresh_market(make_store("parquet", root=home / "candles"), days=14)
        _, key = KeyStore(keys_path(home)).create("bench", ["read"], rate_per_minute=1e9)
        base = {
            **os.environ,
            "SMARTMARKET_HOME": str(home),
            "SMARTMARKET_SYMBOLS": "BTC/USDT",
            "SMARTMARKET_SERVICE_HISTORY_BARS": "600",
            # the seeded candles never grow: an hour of grace keeps them fresh for the run
            "SMARTMARKET_SERVICE_GRACE_SECONDS": "3600",
            "BENTOML_HOME": str(tmp / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            "PYTHONPATH": str(REPO_ROOT),
        }
        for i, (label, target, workers, access) in enumerate(cases):
            config = bentoml_overrides(workers, access)
            if target == bare:
                config = config.replace("smartmarket_signals", "bare_constant")
            env = {**base, "BENTOML_CONFIG_OVERRIDES": config}
            row = _case(target, env, key, tmp / f"case{i}.log")
            rows.append({"case": label, "workers": workers, "access_log": access, **row})
    for row in rows:  # against the bare service with the same access-log setting
        const = next(
            r for r in rows if r["case"].startswith("bare") and r["access_log"] == row["access_log"]
        )
        row["p50_vs_bare"] = row["single_p50_ms"] / const["single_p50_ms"]
        row["rps_vs_bare"] = row[f"rps_{CLIENTS}_clients"] / const[f"rps_{CLIENTS}_clients"]
    return rows
