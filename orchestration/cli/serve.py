"""Signal service commands: ``serve`` runs the BentoML API; ``keys`` manages its API keys."""

from __future__ import annotations

import getpass
import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console, err_console

app = typer.Typer()
keys_app = typer.Typer(help="API keys of the signal service (stored hashed under the app home).")
app.add_typer(keys_app, name="keys")

SERVICE_TARGET = "orchestration.service:SignalService"
SERVICE_NAME = "smartmarket_signals"


def service_command(host: str, port: int) -> list[str]:
    """Return the ``bentoml serve`` command line of the signal service."""
    bentoml = Path(sys.executable).parent / "bentoml"
    return [str(bentoml), "serve", SERVICE_TARGET, "--host", host, "--port", str(port)]


def bentoml_overrides(workers: int, access_log: bool = True) -> str:
    """Return ``BENTOML_CONFIG_OVERRIDES``: the worker count and the access log switch."""
    service = {"workers": workers, "logging": {"access": {"enabled": access_log}}}
    return json.dumps({"services": {SERVICE_NAME: service}})


def service_env(home: Path, workers: int, access_log: bool = True) -> dict[str, str]:
    """Return the environment ``bentoml serve`` runs with: its home, workers, no telemetry."""
    from orchestration.main_job import REPO_ROOT

    path = os.environ.get("PYTHONPATH", "")
    return {
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_CONFIG_OVERRIDES": bentoml_overrides(workers, access_log),
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT),
    }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key_store():  # type: ignore[no-untyped-def]
    from serving.service.keys import KeyStore
    from serving.service.wiring import keys_path

    return KeyStore(keys_path(load_settings().home_dir))


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command()
@user_errors
def serve(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default 3080; 3000 is Dagster's)."),
    workers: int = typer.Option(None, help="BentoML worker processes (default 1)."),
) -> None:
    """Run the signal service (BentoML) until Ctrl-C; see docs/service.md."""
    from orchestration.main_job import REPO_ROOT
    from serving.service.settings import ServiceSettings

    overrides: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    service = ServiceSettings(**{k: v for k, v in overrides.items() if v is not None})
    settings = load_settings()
    if not _is_loopback(service.host):
        err_console.print(f"warning: binding {service.host}: the API is reachable off this machine")
    if not _key_store().list_keys():
        err_console.print("no API keys yet: create one with `smartmarket keys create NAME`")
    env = {**os.environ, **service_env(settings.home_dir, service.workers, service.access_log)}
    argv = service_command(service.host, service.port)
    console.print(f"signal service on http://{service.host}:{service.port} (docs at /docs)")
    os.chdir(REPO_ROOT)
    os.execve(argv[0], argv, env)


@keys_app.command("create")
@user_errors
def keys_create(
    name: str = typer.Argument(..., help="Who the key is for, e.g. trading-bot."),
    scope: list[str] = typer.Option(["read"], help="read | trade | admin (repeatable)."),
    rate: float = typer.Option(600.0, help="Requests a minute the key may make."),
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    store = _key_store()
    key, clear = store.create(name, scope, rate)
    store.audit(_actor(), "keys create", key.id, 0, f"scopes={','.join(key.scopes)}")
    err_console.print(f"created key {key.id} ({key.name}, scopes {', '.join(key.scopes)})")
    err_console.print("store it now: it is not shown again")
    typer.echo(clear)


@keys_app.command("list")
@user_errors
def keys_list(
    all_keys: bool = typer.Option(False, "--all", help="Include revoked keys."),
) -> None:
    """List the keys (never their values)."""
    import datetime as dt

    table = Table("id", "name", "scopes", "rate/min", "created (UTC)", "revoked (UTC)")
    for key in _key_store().list_keys(include_revoked=all_keys):
        created = dt.datetime.fromtimestamp(key.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        revoked = (
            "-"
            if key.revoked_at is None
            else dt.datetime.fromtimestamp(key.revoked_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        )
        table.add_row(
            key.id, key.name, ",".join(key.scopes), f"{key.rate_per_minute:g}", created, revoked
        )
    console.print(table)


@keys_app.command("revoke")
@user_errors
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (see `keys list`).")) -> None:
    """Revoke a key; the service refuses it within 2 seconds."""
    store = _key_store()
    key = store.revoke(key_id)
    store.audit(_actor(), "keys revoke", key.id, 0)
    console.print(f"revoked key {key.id} ({key.name})")
