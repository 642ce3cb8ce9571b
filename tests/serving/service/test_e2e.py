"""End to end: ``smartmarket serve`` (bentoml serve) on a free port, over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from features.candles.store import make_store
from serving.control import pending
from serving.ledger import LedgerConfig, open_ledger
from serving.service.demo import seed_fresh_market
from serving.service.keys import KeyStore
from serving.service.wiring import keys_path
from tests.serving.service.conftest import PLAN_SIGNAL_BODY

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_smartmarket_serve_answers_signals_over_http_with_two_workers(tmp_path: Path) -> None:
    # Arrange: fresh candles and a key in an app home of its own
    home = tmp_path / "home"
    seed_fresh_market(make_store("parquet", root=home / "candles"), days=14)
    _, key = KeyStore(keys_path(home)).create("e2e", ["read"])
    _, admin = KeyStore(keys_path(home)).create("e2e-ops", ["admin"])
    port = free_port()
    env = {
        **os.environ,
        "SMARTMARKET_HOME": str(home),
        "SMARTMARKET_SYMBOLS": "BTC/USDT",
        "SMARTMARKET_SERVICE_HISTORY_BARS": "600",
        "SMARTMARKET_SERVICE_GRACE_SECONDS": "900",  # the seeded candles stay fresh while it starts
        "PYTHONPATH": str(REPO),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "serve", "--port", str(port),
             "--workers", "2"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(1)
        assert ready is not None
        assert ready.status_code == 200, ready.text

        # Act
        with httpx.Client(base_url=url, timeout=30) as client:
            signal_ = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers={"X-API-Key": key})
            again = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers={"X-API-Key": key})
            refused = client.post("/api/signal", json=PLAN_SIGNAL_BODY)
        for _ in range(6):  # a connection each: the two workers share them
            with httpx.Client(base_url=url, timeout=30) as client:
                client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers={"X-API-Key": key})
        with httpx.Client(base_url=url, timeout=30) as client:
            metrics = client.get("/metrics")
            docs = client.get("/docs.json")
            account = client.get("/api/account", headers={"X-API-Key": key})
            stop = client.post(
                "/api/bot/stop", json={"reason": "e2e"}, headers={"X-API-Key": admin}
            )

        # Assert
        assert signal_.status_code == 200
        assert signal_.json()["symbol"] == "BTC/USDT"
        assert signal_.json()["model_status"] == "rule_only"
        assert again.json() == signal_.json()
        assert refused.status_code == 401
        # both workers' counts, whichever answered /metrics; a model line per worker (pid)
        assert 'smartmarket_http_requests_total{endpoint="signal",status="200"} 8.0' in metrics.text
        pids = {line.split('pid="')[1].split('"')[0] for line in metrics.text.splitlines()
                if line.startswith("smartmarket_model_info{")}  # fmt: skip
        assert len(pids) == 2
        assert "/api/signal" in docs.json()["paths"]
        assert "/api/kill-switch" in docs.json()["paths"]
        assert account.status_code == 200
        assert account.json()["bot"]["state"] == "no_loop"
        assert stop.status_code == 202
        assert [c.command for c in pending(open_ledger(LedgerConfig.build(home)))] == ["stop"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "127.0.0.1" in text  # the server logged its binding
    assert key not in text  # the key is never logged
