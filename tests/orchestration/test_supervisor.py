"""`smartmarket up` / `down`: every process started is stopped, on a signal or from `down`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestration.supervisor import stop

REPO = Path(__file__).resolve().parents[2]
# A service with two grandchildren; "stubborn" ignores SIGINT and SIGTERM.
TREE = "sleep 300 & sleep 300 & wait"
STUBBORN = "trap '' INT TERM; sleep 300 & sleep 300 & wait"


def _supervisor(tmp_path: Path, script: str, grace: float = 5.0) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from pathlib import Path; "
        "from orchestration.supervisor import Service, supervise; "
        f"sys.exit(supervise([Service('a', ['bash', '-c', {script!r}]), "
        f"Service('b', ['bash', '-c', {TREE!r}])], Path({str(tmp_path / 'up.json')!r}), "
        f"grace={grace}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    deadline = time.monotonic() + 30
    while not (tmp_path / "up.json").exists():
        assert time.monotonic() < deadline, "the supervisor never wrote its pid file"
        time.sleep(0.1)
    time.sleep(0.5)  # let bash start its sleeps
    return proc


def _groups(tmp_path: Path) -> list[int]:
    return [int(g) for g in json.loads((tmp_path / "up.json").read_text())["groups"]]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_process_of_every_service(tmp_path: Path, sig: int) -> None:
    proc = _supervisor(tmp_path, TREE)
    groups = _groups(tmp_path)

    proc.send_signal(sig)
    code = proc.wait(timeout=30)

    assert code == 0
    assert not any(_group_alive(g) for g in groups)
    assert not (tmp_path / "up.json").exists()


def test_processes_that_ignore_signals_are_killed_after_the_grace(tmp_path: Path) -> None:
    proc = _supervisor(tmp_path, STUBBORN, grace=0.5)
    groups = _groups(tmp_path)

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)

    assert not any(_group_alive(g) for g in groups)


def test_down_stops_the_services_even_after_the_supervisor_was_killed(tmp_path: Path) -> None:
    proc = _supervisor(tmp_path, TREE)
    groups = _groups(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    assert all(_group_alive(g) for g in groups)  # orphans: what `make up` used to leave

    message = stop(tmp_path / "up.json", grace=5.0)

    assert message.startswith("stopped")
    assert not any(_group_alive(g) for g in groups)
    assert not (tmp_path / "up.json").exists()


def test_down_with_nothing_running_says_so(tmp_path: Path) -> None:
    assert stop(tmp_path / "up.json") == "nothing is running (no pid file)"


@pytest.mark.slow
def test_smartmarket_up_serves_the_dagster_ui_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "SMARTMARKET_HOME": str(tmp_path / "home")}
    port = "3971"
    up = subprocess.Popen(
        [str(Path(sys.executable).parent / "smartmarket"), "up", "--port", port],
        cwd=REPO,
        env=env,
    )
    pid_file = tmp_path / "home" / "run" / "up.json"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the Dagster UI never answered"
                time.sleep(1)
        groups = [int(g) for g in json.loads(pid_file.read_text())["groups"]]

        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=60)

        assert code == 0
        assert not any(_group_alive(g) for g in groups)
        assert not pid_file.exists()
    finally:
        if up.poll() is None:
            stop(pid_file, grace=5.0)
            up.kill()


def test_the_mlflow_ui_serves_the_app_homes_store_on_localhost_with_telemetry_off(
    tmp_path: Path,
) -> None:
    from orchestration.cli.services import mlflow_ui_service
    from orchestration.settings import Settings

    service = mlflow_ui_service(Settings(home=tmp_path / "home"), 3999)

    assert service is not None
    argv = list(service.argv)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "3999"
    assert service.url == "http://127.0.0.1:3999"
    db = (tmp_path / "home" / "mlflow" / "mlflow.db").resolve()
    assert service.env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{db}"
    assert service.env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_the_mlflow_ui_keeps_a_database_password_off_the_command_line(tmp_path: Path) -> None:
    from orchestration.cli.services import mlflow_ui_service
    from orchestration.settings import Settings

    uri = "postgresql://ml:s3cret@127.0.0.1:5432/mlflow"
    service = mlflow_ui_service(Settings(home=tmp_path, mlflow_uri=SecretStr(uri)))
    remote = mlflow_ui_service(
        Settings(home=tmp_path, mlflow_uri=SecretStr("http://10.0.0.5:5000"))
    )

    assert service is not None
    assert "s3cret" not in " ".join(service.argv)
    assert service.env["MLFLOW_BACKEND_STORE_URI"] == uri
    assert remote is None  # a tracking server already has its UI


@pytest.mark.slow
def test_the_mlflow_ui_answers_and_stops_with_the_others(tmp_path: Path) -> None:
    from orchestration.cli.services import mlflow_ui_service
    from orchestration.settings import Settings

    service = mlflow_ui_service(Settings(home=tmp_path / "home"), 3998)
    assert service is not None
    pid_file = tmp_path / "up.json"
    code = f"""
import sys
from pathlib import Path
from orchestration.supervisor import Service, supervise
sys.exit(supervise([Service('MLflow UI', {list(service.argv)!r}, env={dict(service.env)!r},
                            cwd=Path({str(service.cwd)!r}))], Path({str(pid_file)!r}), grace=10))
"""
    up = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:3998/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert up.poll() is None, "the supervisor exited"
                assert time.monotonic() < deadline, "the MLflow UI never answered"
                time.sleep(1)
        groups = [int(g) for g in json.loads(pid_file.read_text())["groups"]]

        message = stop(pid_file, grace=10.0)

        assert message.startswith("stopped")
        assert not any(_group_alive(g) for g in groups)
        assert (tmp_path / "home" / "mlflow" / "mlflow.db").is_file()
    finally:
        if up.poll() is None:
            up.kill()
