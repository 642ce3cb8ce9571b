"""``GET /metrics`` over several worker processes: one exposition summed over all of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from serving.service.metrics import Metrics, multiprocess_folder

REPO = Path(__file__).resolve().parents[3]
WORKER = """
import sys
from serving.service.metrics import Metrics
m = Metrics()
m.model_state("smc-tcn@7", "loaded")
for _ in range(int(sys.argv[1])):
    m.requests.labels("signal", "200").inc()
    m.latency.labels("signal").observe(0.002)
    m.lookup("hit")
m.feature_age.labels("BTC/USDT", "15m").set(float(sys.argv[1]))
sys.stdout.buffer.write(m.render())
"""


def _run(folder: Path, *args: str, code: str = WORKER) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode()


def test_every_worker_renders_the_sums_of_all_workers(tmp_path: Path) -> None:
    # Arrange: two "workers" (processes) count 3 and 5 requests into one folder
    _run(tmp_path, "3")

    # Act: the second one answers /metrics
    text = _run(tmp_path, "5")

    # Assert: the counters and histograms are summed; per-worker gauges carry a pid label
    assert 'smartmarket_http_requests_total{endpoint="signal",status="200"} 8.0' in text
    assert 'smartmarket_http_request_seconds_count{endpoint="signal"} 8.0' in text
    assert 'smartmarket_signal_cache_total{result="hit"} 8.0' in text
    assert 'smartmarket_feature_age_seconds{symbol="BTC/USDT",timeframe="15m"} 5.0' in text
    model_lines = [line for line in text.splitlines() if line.startswith("smartmarket_model_info{")]
    assert len({line.split('pid="')[1].split('"')[0] for line in model_lines}) == 2


def test_one_process_renders_its_own_registry() -> None:
    # Arrange: no shared folder (the tests' and a plain process's case)
    metrics = Metrics()
    metrics.requests.labels("signal", "200").inc()

    # Act
    text = metrics.render().decode()

    # Assert
    assert multiprocess_folder() is None
    assert 'smartmarket_http_requests_total{endpoint="signal",status="200"} 1.0' in text
