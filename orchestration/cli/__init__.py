"""The ``smartmarket`` command line: one root, one sub-app per area, one error handler.

User errors (bad files, unknown symbols, bad settings) print one clear line and exit with
code 2, never a traceback (``orchestration.cli.errors``). Heavy frameworks are imported inside
the commands that need them, so ``smartmarket --help`` starts fast.
"""

from __future__ import annotations

import sys

import typer

from orchestration.cli import (
    backtest,
    credentials,
    dashboard,
    data,
    models,
    pipeline,
    serve,
    services,
)
from orchestration.cli.ui import err_console
from orchestration.settings import apply_offline_env

app = typer.Typer(
    name="smartmarket",
    no_args_is_help=True,
    add_completion=False,
    help="SmartMarketOOPS: ML trading on Smart Money Concepts.",
)
for area in (pipeline, data, backtest, models, services, serve, dashboard, credentials):
    app.add_typer(area.app)


def main() -> None:
    """Entry point of the console script."""
    apply_offline_env()
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


__all__ = ["app", "main"]
