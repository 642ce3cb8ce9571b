"""Pipeline commands: ``run`` the main job, show the ``config``, prepare ``dagster-home``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console, when

app = typer.Typer()


@app.command()
@user_errors
def run(
    days: int = typer.Option(
        None, help="Days of candles from SMARTMARKET_START_DATE (default 180)."
    ),
    home: Path = typer.Option(None, help="App home folder (default ./.smartmarket)."),
) -> None:
    """Run the main job: materialize the data assets through Dagster, then summarize."""
    from orchestration.main_job import run_main_job
    from orchestration.settings import check_connections

    settings = load_settings(home=home, history_days=days)
    check_connections(settings, needs=("candles", "online_store"))
    n_days = settings.history_days
    console.print(
        f"Main job: {', '.join(settings.symbols)}, {n_days} days of {settings.base_timeframe} "
        f"from {settings.start_date} (source {settings.source}, store {settings.store})",
        highlight=False,
    )
    if console.is_terminal:
        with console.status("starting the Dagster run ...") as spinner:
            summary = run_main_job(settings, echo=_line, status=lambda text: spinner.update(text))
    else:
        summary = run_main_job(settings, echo=_line)
    table = Table(title=f"Candles {summary.start_date} .. {summary.end_date}")
    for col in ("symbol", "timeframe", "rows", "first", "last"):
        table.add_column(col)
    for s in summary.candles:
        table.add_row(s.symbol, s.timeframe, f"{s.rows:,}", when(s.first), when(s.last))
    console.print(table)
    failed = [name for name, ok in summary.checks.items() if not ok]
    console.print(
        f"checks: {len(summary.checks) - len(failed)}/{len(summary.checks)} passed"
        + (f" — failed: {', '.join(failed)}" if failed else "")
        + f"; quarantined rows: {summary.quarantined}",
        highlight=False,
    )
    console.print(
        f"Dagster run [bold]{summary.run_id}[/] {'succeeded' if summary.success else 'FAILED'}."
    )
    if not summary.success:
        raise typer.Exit(1)
    for record in summary.backtests:
        _show_backtest(record)
    if summary.training is not None:
        _show_training(summary.training)
    _paper_replay(settings)
    _show_uis()


def _show_uis() -> None:
    """Say how to open each UI on what the run stored."""
    from orchestration.cli.dashboard import DEFAULT_PORT as DASHBOARD_PORT
    from orchestration.cli.services import DAGSTER_PORT, MLFLOW_PORT
    from serving.service.settings import DEFAULT_PORT as SERVICE_PORT

    console.print("[bold]make up[/] starts every UI on 127.0.0.1 ([bold]make down[/] stops them):")
    for what, where in (
        ("Dagster (assets, checks, runs)", f"http://127.0.0.1:{DAGSTER_PORT}"),
        ("signal service API (Swagger)", f"http://127.0.0.1:{SERVICE_PORT}/docs"),
        ("dashboard (market, trading, models, drift)", f"http://127.0.0.1:{DASHBOARD_PORT}"),
        ("MLflow (runs and the model registry)", f"http://127.0.0.1:{MLFLOW_PORT}"),
    ):
        console.print(f"  {what:<44} {where}", highlight=False)


def _paper_replay(settings: Any) -> None:
    """End with a short paper replay of the stored candles through the trading loop."""
    from orchestration.cli.trade import demo_replay, show_replay

    console.print("paper trading replay (the live loop on the newest stored candles) ...")
    try:
        summary, paths = demo_replay(settings)
    except ValueError as exc:  # e.g. too few candles: the run itself succeeded
        console.print(f"[yellow]paper replay skipped:[/] {exc}", highlight=False)
        return
    show_replay(summary, paths)


def _line(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _show_backtest(record: dict[str, Any]) -> None:
    """Print one headline backtest record of the main job."""
    what = f"backtest {record['symbol']} {record['timeframe']}"
    data = (
        f"{record['bars']:,} bars {record['first']} .. {record['last']} from the {record['source']}"
    )
    if "skipped" in record:
        console.print(f"[yellow]{what} skipped:[/] {record['skipped']} ({data})", highlight=False)
        return
    shown = ", ".join(
        f"{k}={'n/a' if v is None else format(v, '.4g')}" for k, v in record["metrics"].items()
    )
    console.print(f"{what} (default parameters, net of costs) on {data}: {shown}", highlight=False)
    console.print(f"report: {record['report']}", highlight=False)


def _show_training(record: dict[str, Any]) -> None:
    """Print the model's out-of-sample comparison and the promotion decision of the main job."""
    import pandas as pd

    from orchestration.cli.models import show_outcome

    if "failed" in record:
        console.print(f"[yellow]model not trained:[/] {record['failed']}", highlight=False)
        return
    summary = pd.DataFrame(record["summary"]).T.astype(float)
    auc = record["oos_auc"]
    console.print(
        f"model: {record['intents']:,} labelled setups, {record['folds']} purged walk-forward "
        f"folds, pooled OOS AUC {'n/a' if auc is None else format(auc, '.3f')}",
        highlight=False,
    )
    show_outcome(record, None, summary)


@app.command()
@user_errors
def warm() -> None:
    """Compile the numba kernels (features, signal rule, engine) into the cache, step by step."""
    import tempfile
    import time

    from features.warm import warm as warm_features
    from serving.backtest.main import backtest_frame, synthetic_candles
    from serving.engine.config import BacktestConfig

    start = time.perf_counter()
    warm_features(lambda line: console.print(f"  {line}", highlight=False))
    console.print("  engine: a 20-day synthetic backtest ...", highlight=False)
    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", 20, seed=7)
    with tempfile.TemporaryDirectory() as folder:
        backtest_frame(candles, "5m", BacktestConfig(), folder, "BTC/USDT", zones=False)
    console.print(f"compiled or loaded every kernel in {time.perf_counter() - start:.1f} s")


@app.command("config")
@user_errors
def show_config() -> None:
    """Print the settings (secrets masked) and the venues with credentials; check servers.

    Bad settings and servers that do not answer are reported as one line each; exit code 2
    when there is any.
    """
    from orchestration.cli.credentials import config_lines
    from orchestration.settings import SettingsError, connection_problems

    settings = load_settings()
    for key, value in settings.model_dump().items():
        console.print(f"SMARTMARKET_{key.upper()}={value}", highlight=False)
    lines, problems = config_lines(settings)
    for line in lines:
        console.print(line, highlight=False)
    problems += connection_problems(settings, needs=("candles", "online_store", "ledger"))
    if problems:
        raise SettingsError("; ".join(problems))


@app.command("dagster-home")
@user_errors
def dagster_home() -> None:
    """Write $DAGSTER_HOME/dagster.yaml for the current environment and print the folder."""
    from orchestration.main_job import prepare_dagster_home

    print(prepare_dagster_home(load_settings()))
