"""``smartmarket dashboard`` and the dashboard service of ``smartmarket up``: local, silent."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.cli.dashboard import APP_DIR, dashboard_service, streamlit_argv
from orchestration.settings import Settings


def flags(argv: list[str]) -> dict[str, str]:
    return {argv[k]: argv[k + 1] for k in range(len(argv) - 1) if argv[k].startswith("--")}


def test_the_server_is_bound_to_localhost_with_telemetry_off() -> None:
    argv = streamlit_argv(4321)

    assert argv[1:3] == ["run", str(APP_DIR / "app.py")]
    assert flags(argv) == {
        "--server.headless": "true",
        "--server.address": "127.0.0.1",
        "--server.port": "4321",
        "--browser.gatherUsageStats": "false",
        "--server.fileWatcherType": "none",
    }


def test_the_config_file_says_the_same() -> None:
    config = tomllib.loads((APP_DIR / ".streamlit" / "config.toml").read_text())

    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["address"] == "127.0.0.1"


def test_the_up_service_pins_the_app_home_and_runs_in_the_app_folder(tmp_path: Path) -> None:
    service = dashboard_service(Settings(home=tmp_path / "home"), 3999)

    assert service.url == "http://127.0.0.1:3999"
    assert service.cwd == APP_DIR
    assert service.env["SMARTMARKET_HOME"] == str((tmp_path / "home").resolve())
    assert service.env["PYTHONPATH"] == str(APP_DIR.parent)


def test_a_bad_port_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--port", "70000"])

    assert result.exit_code == 2
    assert "--port 70000 is not a TCP port (1..65535)" in result.output


def test_dashboard_is_a_command_of_the_cli() -> None:
    result = CliRunner().invoke(app, ["--help"])

    assert "dashboard" in result.output
