"""Data commands: ``ingest`` candles into the store, look at ``candles`` and ``quarantine``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console, err_console, when

app = typer.Typer()


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

    settings = load_settings()
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
                f"{when(report.first_ts)} .. {when(report.last_ts)}",
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

    rows = (
        build_resources(load_settings())["app_home"].quarantine().read(source=source, symbol=symbol)
    )
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

    store = build_resources(load_settings())["candle_store"].store()
    frame = store.read(symbol, Timeframe.parse(timeframe))
    if frame.empty:
        console.print(f"No {timeframe} candles stored for {symbol}.")
        return
    console.print(f"{len(frame):,} candles, {frame.index[0]} .. {frame.index[-1]}")
    console.print(frame.tail(tail).to_string())
