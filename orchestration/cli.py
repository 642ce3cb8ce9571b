"""The ``smartmarket`` command line: the main job, ingestion and inspection.

User errors (bad files, unknown symbols, bad settings) print one clear line and exit with
code 2, never a traceback. Heavy frameworks are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestration.settings import Settings, apply_offline_env
from serving.cli import register as register_backtest_commands

app = typer.Typer(
    name="smartmarket",
    no_args_is_help=True,
    add_completion=False,
    help="SmartMarketOOPS: ML trading on Smart Money Concepts.",
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn user errors into one red line and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from features.candles.schema import CandleDataError

        try:
            return func(*args, **kwargs)
        except CandleDataError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            lines = "; ".join(
                f"SMARTMARKET_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            err_console.print(f"[bold red]error in settings:[/] {lines}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _when(ts: Any) -> str:
    return "-" if ts is None else f"{ts:%Y-%m-%d %H:%M}"


def _settings(**overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)


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

    settings = _settings(home=home)
    with console.status(
        f"Materializing candles for {', '.join(settings.symbols)} "
        f"({days or settings.history_days} days of {settings.base_timeframe}, "
        f"source {settings.source}) ..."
    ):
        summary = run_main_job(settings, days=days)
    table = Table(title=f"Candles {summary.start_date} .. {summary.end_date}")
    for col in ("symbol", "timeframe", "rows", "first", "last"):
        table.add_column(col)
    for s in summary.candles:
        table.add_row(s.symbol, s.timeframe, f"{s.rows:,}", _when(s.first), _when(s.last))
    console.print(table)
    failed = [name for name, ok in summary.checks.items() if not ok]
    console.print(
        f"checks: {len(summary.checks) - len(failed)}/{len(summary.checks)} passed"
        + (f" — failed: {', '.join(failed)}" if failed else "")
        + f"; quarantined rows: {summary.quarantined}"
    )
    console.print(
        f"Dagster run [bold]{summary.run_id}[/] {'succeeded' if summary.success else 'FAILED'}. "
        "Open the Dagster UI with [bold]make up[/] → http://127.0.0.1:3070"
    )
    if not summary.success:
        raise typer.Exit(1)
    from serving.backtest.main import run_synthetic_report

    try:
        with console.status("Backtesting smc_confluence on the synthetic market ..."):
            headline = run_synthetic_report(
                settings.home_dir / "backtest",
                symbol=settings.symbols[0],
                timeframe=settings.base_timeframe,
                start=settings.start_date,
                days=days or settings.history_days,
                seed=settings.seed,
            )
    except ValueError as exc:  # e.g. a window shorter than the strategy's warm-up
        console.print(f"[yellow]backtest skipped:[/] {exc}", highlight=False)
        return
    shown = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in headline.items()
        if k != "report"
    )
    console.print(f"backtest {settings.symbols[0]} (default parameters, net of costs): {shown}")
    console.print(f"report: {headline.get('report')}")


@app.command()
@user_errors
def ingest(
    source: str = typer.Option("synthetic", help="synthetic | file | ccxt"),
    symbol: list[str] = typer.Option(None, help="Symbol(s), e.g. BTC/USDT (repeatable)."),
    timeframe: str = typer.Option("5m", help="Base timeframe of the source."),
    path: Path = typer.Option(None, help="CSV/Parquet file (source=file)."),
    tz: str = typer.Option("UTC", help="Time zone of naive timestamps in the file (IANA name)."),
    exchange: str = typer.Option("binance", help="ccxt exchange id, e.g. binance, delta."),
    start: str = typer.Option(None, help="Start (UTC date/time). Default: settings, or resume."),
    end: str = typer.Option(None, help="End, exclusive (UTC). Default: start + history days."),
    resample: bool = typer.Option(True, help="Also build the configured timeframes."),
) -> None:
    """Ingest candles into the store: fetch, archive raw, validate, quarantine, resample."""
    import pandas as pd

    from features.candles.ingest import build_timeframes, ingest_window
    from features.candles.schema import Timeframe
    from features.candles.sources import make_source
    from orchestration.resources import build_resources

    settings = _settings()
    tf = Timeframe.parse(timeframe)
    options: dict[str, Any]
    if source == "file":
        options = {"path": path, "tz": tz, "symbol": symbol[0] if symbol else None}
    elif source == "ccxt":
        options = {"exchange": exchange}
    else:
        options = {
            "seed": settings.seed,
            "symbols": tuple(settings.symbols),
            "base_timeframe": tf.label,
        }
    src = make_source(source, **options)
    symbols = list(symbol or (src.symbols() if source == "file" else settings.symbols))
    resources = build_resources(settings)
    store = resources["candle_store"].store()
    archive, quarantine = resources["app_home"].raw_archive(), resources["app_home"].quarantine()
    default_start = pd.Timestamp(settings.start_date, tz="UTC")
    t0 = pd.Timestamp(start, tz="UTC") if start else None
    t1 = pd.Timestamp(end, tz="UTC") if end else None
    if source == "synthetic":
        t0 = t0 or default_start
        t1 = t1 or t0 + pd.Timedelta(days=settings.history_days)
    targets = [Timeframe.parse(x) for x in settings.timeframes if Timeframe.parse(x) >= tf]
    table = Table(title=f"Ingested from {source}")
    for col in (
        "symbol",
        "received",
        "stored",
        "quarantined",
        "out of order",
        "missing bars",
        "span",
    ):
        table.add_column(col)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("ingesting", total=len(symbols) * (2 if resample else 1))
        for sym in symbols:
            sym_start = t0
            if source == "ccxt" and t0 is None:
                last = store.last_timestamp(sym, tf)
                sym_start = default_start if last is None else last + tf.delta
            partition = "-".join(
                "open" if t is None else f"{t:%Y%m%dT%H%M}" for t in (sym_start, t1)
            )
            progress.update(task, description=f"{sym}: fetching")
            report = ingest_window(
                src,
                store,
                archive,
                quarantine,
                symbol=sym,
                timeframe=tf,
                start=sym_start,
                end=t1,
                partition=partition,
            )
            progress.advance(task)
            if resample and report.first_ts is not None and report.last_ts is not None:
                progress.update(task, description=f"{sym}: resampling")
                day = pd.Timedelta(days=1)
                lo = report.first_ts.floor("1D")
                hi = (report.last_ts + tf.delta).ceil("1D") if report.last_ts else lo + day
                build_timeframes(store, symbol=sym, base=tf, targets=targets, start=lo, end=hi)
                progress.advance(task)
            table.add_row(
                sym,
                f"{report.n_received:,}",
                f"{report.n_stored:,}",
                f"{report.n_quarantined:,}",
                f"{report.n_out_of_order:,}",
                f"{report.missing_bars:,}",
                f"{_when(report.first_ts)} .. {_when(report.last_ts)}",
            )
            if report.n_quarantined:
                reasons = report.quarantine["reason"].value_counts().head(5)
                for reason, count in reasons.items():
                    err_console.print(f"[yellow]quarantined[/] {count} x {reason}", highlight=False)
    console.print(table)


@app.command()
@user_errors
def quarantine(
    symbol: str = typer.Option(None, help="Only this symbol."),
    source: str = typer.Option(None, help="Only this source."),
    limit: int = typer.Option(20, help="Rows to show."),
) -> None:
    """Show quarantined rows and their reasons."""
    from orchestration.resources import build_resources

    rows = build_resources(_settings())["app_home"].quarantine().read(source=source, symbol=symbol)
    if rows.empty:
        console.print("No quarantined rows.")
        return
    console.print(f"{len(rows):,} quarantined rows; latest {min(limit, len(rows))}:")
    console.print(rows.tail(limit).to_string(index=False))


@app.command()
@user_errors
def candles(
    symbol: str = typer.Option(..., help="Symbol, e.g. BTC/USDT."),
    timeframe: str = typer.Option("5m", help="Timeframe."),
    tail: int = typer.Option(5, help="Last rows to show."),
) -> None:
    """Show what the store holds for one symbol and timeframe."""
    from features.candles.schema import Timeframe
    from orchestration.resources import build_resources

    store = build_resources(_settings())["candle_store"].store()
    frame = store.read(symbol, Timeframe.parse(timeframe))
    if frame.empty:
        console.print(f"No {timeframe} candles stored for {symbol}.")
        return
    console.print(f"{len(frame):,} candles, {frame.index[0]} .. {frame.index[-1]}")
    console.print(frame.tail(tail).to_string())


@app.command("config")
@user_errors
def show_config() -> None:
    """Print the effective settings (secrets masked)."""
    for key, value in _settings().model_dump().items():
        console.print(f"SMARTMARKET_{key.upper()}={value}", highlight=False)


@app.command("dagster-home")
@user_errors
def dagster_home() -> None:
    """Write $DAGSTER_HOME/dagster.yaml for the current environment and print the folder."""
    from orchestration.main_job import prepare_dagster_home

    print(prepare_dagster_home(_settings()))


register_backtest_commands(app)


def main() -> None:
    """Entry point of the console script."""
    apply_offline_env()
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


__all__ = ["app", "main"]
