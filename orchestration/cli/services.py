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
    from orchestration.settings import Settings
    from orchestration.supervisor import Service

app = typer.Typer()
DAGSTER_PORT = 3070
MLFLOW_PORT = 3100


def _pid_file(home: Path) -> Path:
    return home / "run" / "up.json"


@app.command()
@user_errors
def up(
    port: int = typer.Option(DAGSTER_PORT, help="Port of the Dagster UI."),
    grace: float = typer.Option(20.0, help="Seconds each service gets to stop cleanly."),
    dashboard_port: int = typer.Option(3090, help="Port of the Streamlit dashboard."),
    mlflow_port: int = typer.Option(MLFLOW_PORT, help="Port of the MLflow UI."),
) -> None:
    """Start Dagster, the signal service, the dashboard and the MLflow UI on 127.0.0.1.

    Ctrl-C (or `smartmarket down` from another shell) stops them all.
    """
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
    # -- the dashboard (helper "dashboard"; keep other services in their own blocks) --
    from orchestration.cli.dashboard import dashboard_service

    services.append(dashboard_service(settings, dashboard_port))
    # -- end of the dashboard block --
    mlflow_ui = mlflow_ui_service(settings, mlflow_port)
    if mlflow_ui is None:
        console.print("MLflow UI: not started, SMARTMARKET_MLFLOW_URI names a tracking server "
                      "(open it there)")  # fmt: skip
    else:
        services.append(mlflow_ui)
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


def mlflow_ui_service(settings: Settings, port: int = MLFLOW_PORT) -> Service | None:
    """``mlflow server`` on 127.0.0.1:``port`` over the app home's tracking store.

    The store is the one training writes (``orchestration.assets.training.registry_config``):
    ``<home>/mlflow/mlflow.db``, or the database ``SMARTMARKET_MLFLOW_URI`` names, passed in the
    environment (``MLFLOW_BACKEND_STORE_URI``), never on the command line where ``ps`` shows
    it. One worker, telemetry off (STACK.md). ``None`` when the URI is itself a tracking server
    (``http(s)://``): there is nothing to start.
    """
    from orchestration.supervisor import Service
    from training.registry import RegistryConfig

    if not 1 <= port <= 65535:
        raise ValueError(f"--mlflow-port {port} is not a TCP port (1..65535)")
    local = RegistryConfig.local(settings.home_dir)
    uri = settings.mlflow_uri.get_secret_value() if settings.mlflow_uri else local.tracking_uri
    if uri.startswith(("http://", "https://")):
        return None
    mlflow = Path(sys.executable).parent / "mlflow"
    argv = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--no-serve-artifacts"]  # fmt: skip
    env = {
        "MLFLOW_BACKEND_STORE_URI": uri,
        "MLFLOW_DEFAULT_ARTIFACT_ROOT": local.artifact_root,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    return Service(
        "MLflow UI", argv, url=f"http://127.0.0.1:{port}", env=env, cwd=settings.home_dir
    )


@app.command()
@user_errors
def down() -> None:
    """Stop what `smartmarket up` started (also after the `up` process was killed)."""
    from orchestration.supervisor import stop

    console.print(stop(_pid_file(load_settings().home_dir)))
