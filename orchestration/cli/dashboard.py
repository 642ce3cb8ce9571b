"""``smartmarket dashboard``: the Streamlit dashboard on 127.0.0.1, telemetry off.

``dashboard_service`` is the same process as one of the services of ``smartmarket up``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console

if TYPE_CHECKING:
    from orchestration.settings import Settings
    from orchestration.supervisor import Service

app = typer.Typer()
REPO_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = REPO_ROOT / "dashboards"
DEFAULT_PORT = 3090
ADDRESS = "127.0.0.1"  # beyond localhost only behind authentication (docs/dashboard.md)


def streamlit_argv(port: int) -> list[str]:
    """Return the command line of the dashboard server (run in ``dashboards/``)."""
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {port} is not a TCP port (1..65535)")
    streamlit = Path(sys.executable).parent / "streamlit"
    return [
        str(streamlit), "run", str(APP_DIR / "app.py"),
        "--server.headless", "true",
        "--server.address", ADDRESS,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


def dashboard_env(settings: Settings) -> dict[str, str]:
    """Environment of the dashboard: the app home pinned, the repo importable."""
    return {"SMARTMARKET_HOME": str(settings.home_dir), "PYTHONPATH": str(REPO_ROOT)}


def dashboard_service(settings: Settings, port: int = DEFAULT_PORT) -> Service:
    """The dashboard as a service of ``smartmarket up``."""
    from orchestration.supervisor import Service

    return Service(
        "dashboard (Streamlit)",
        streamlit_argv(port),
        url=f"http://{ADDRESS}:{port}",
        env=dashboard_env(settings),
        cwd=APP_DIR,  # Streamlit reads .streamlit/config.toml from its working directory
    )


@app.command()
@user_errors
def dashboard(
    port: int = typer.Option(DEFAULT_PORT, help="Port of the dashboard on 127.0.0.1."),
) -> None:
    """Start the Streamlit dashboard on 127.0.0.1 (Ctrl-C stops it)."""
    import os

    settings = load_settings()
    argv = streamlit_argv(port)
    console.print(f"dashboard: http://{ADDRESS}:{port} (app home {settings.home_dir})")
    env = {**os.environ, **dashboard_env(settings)}
    try:
        code = subprocess.call(argv, cwd=APP_DIR, env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
