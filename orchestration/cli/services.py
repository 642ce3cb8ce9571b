"""Service commands: ``up`` starts the UIs and daemons together, ``down`` stops them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console

if TYPE_CHECKING:
    from orchestration.supervisor import Service

app = typer.Typer()
DAGSTER_PORT = 3070


def _pid_file(home: Path) -> Path:
    return home / "run" / "up.json"


@app.command()
@user_errors
def up(
    port: int = typer.Option(DAGSTER_PORT, help="Port of the Dagster UI."),
    grace: float = typer.Option(20.0, help="Seconds each service gets to stop cleanly."),
) -> None:
    """Start Dagster (webserver, daemon) and the signal service on 127.0.0.1; Ctrl-C stops them."""
    from orchestration.main_job import REPO_ROOT, prepare_dagster_home
    from orchestration.supervisor import Service, supervise

    settings = load_settings()
    pid_file = _pid_file(settings.home_dir)
    if pid_file.exists():
        raise ValueError(f"already running ({pid_file} exists); run `smartmarket down` first")
    home = prepare_dagster_home(settings)
    bin_dir = Path(sys.executable).parent
    dagster = [str(bin_dir / "dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml")]
    services = [
        Service(
            "dagster (webserver + daemon)",
            [*dagster, "-h", "127.0.0.1", "-p", str(port)],
            url=f"http://127.0.0.1:{port}",
            env={"DAGSTER_HOME": str(home)},
            cwd=REPO_ROOT,
        ),
        _signal_service(settings.home_dir),
    ]
    code = supervise(services, pid_file, echo=console.print, grace=grace)
    raise typer.Exit(code)


def _signal_service(home: Path) -> Service:
    """The signal service (BentoML) on its own port, beside Dagster."""
    from orchestration.cli.serve import service_command, service_env
    from orchestration.main_job import REPO_ROOT
    from orchestration.supervisor import Service
    from serving.service.settings import ServiceSettings

    service = ServiceSettings()
    return Service(
        "signal service (BentoML)",
        service_command(service.host, service.port),
        url=f"http://{service.host}:{service.port}/docs",
        env=service_env(home, service.workers, service.access_log),
        cwd=REPO_ROOT,
    )


@app.command()
@user_errors
def down() -> None:
    """Stop what `smartmarket up` started (also after the `up` process was killed)."""
    from orchestration.supervisor import stop

    console.print(stop(_pid_file(load_settings().home_dir)))
