"""Data commands: ``ingest`` candles into the store, look at ``candles`` and ``quarantine``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console, err_console, when

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer()


def _partition(start: pd.Timestamp | None, end: pd.Timestamp | None) -> str:
    """Name an ingest window by its bounds (``open`` for an open bound)."""
    return "-".join("open" if t is None else f"{t:%Y%m%dT%H%M}" for t in (start, end))


@app.command()
@user_errors
def ingest(
    source: str = typer.Option(
        None, help="synthetic | file | ccxt. Default: SMARTMARKET_SOURCE (--path implies file)."
    ),
    symbol: list[str] = typer.Option(
        None, help="Symbol(s), e.g. BTC/USDT (repeatable). Default: SMARTMARKET_SYMBOLS."
    ),
    timeframe: str = typer.Option(
        None, help="Base timeframe of the source. Default: SMARTMARKET_BASE_TIMEFRAME."
    ),
    path: Path = typer.Option(None, help="CSV/Parquet file. Default: SMARTMARKET_FILE_PATH."),
    tz: str = typer.Option(
        None, help="IANA zone of naive timestamps in the file. Default: SMARTMARKET_FILE_TIMEZONE."
    ),
    exchange: str = typer.Option(
        None, help="ccxt exchange id, e.g. binance, delta. Default: SMARTMARKET_EXCHANGE."
    ),
    start: str = typer.Option(None, help="Start (UTC date/time). Default: settings, or resume."),
    end: str = typer.Option(None, help="End, exclusive (UTC). Default: start + history days."),
    resample: bool = typer.Option(True, help="Also build the configured timeframes."),
) -> None:
    """Ingest candles into the store: fetch, archive raw, validate, quarantine, resample.

    Every option defaults to its setting; an option given on the command line wins. Settings
    are validated and the store's server reached before anything is stored.
    """
    import pandas as pd

    from features.candles.ingest import ingest_window, sync_timeframes
    from orchestration.resources import build_resources, market_data_resource
    from orchestration.settings import check_connections

    settings = load_settings(
        source=source or ("file" if path is not None else None),
        symbols=list(symbol) if symbol else None,
        base_timeframe=timeframe,
        file_path=path,
        file_timezone=tz,
        exchange=exchange,
    )
    base = settings.base
    check_connections(settings, needs=("candles",))
    src = market_data_resource(settings).source()
    resources = build_resources(settings)
    store = resources["candle_store"].store()
    archive, quarantine = resources["app_home"].raw_archive(), resources["app_home"].quarantine()
    default_start = pd.Timestamp(settings.start_date, tz="UTC")
    t0 = pd.Timestamp(start, tz="UTC") if start else None
    t1 = pd.Timestamp(end, tz="UTC") if end else None
    if settings.source == "synthetic":
        t0 = t0 or default_start
        t1 = t1 or t0 + pd.Timedelta(days=settings.history_days)
    table = Table(title=f"Ingested from {src.name} ({settings.source}, {base.label})")
    for col in (
        "symbol",
        "received",
        "stored",
        "quarantined",
        "out of order",
        "missing bars",
        "span",
        "higher timeframes written",
    ):
        table.add_column(col)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        symbols = settings.symbols
        task = progress.add_task("ingesting", total=len(symbols) * (2 if resample else 1))
        for sym in symbols:
            sym_start = t0
            if settings.source == "ccxt" and t0 is None:
                last = store.last_timestamp(sym, base)
                sym_start = default_start if last is None else last + base.delta
            progress.update(task, description=f"{sym}: fetching")
            report = ingest_window(
                src,
                store,
                archive,
                quarantine,
                symbol=sym,
                timeframe=base,
                start=sym_start,
                end=t1,
                partition=_partition(sym_start, t1),
            )
            progress.advance(task)
            written = "off"
            if resample:
                # from what is stored, not from this window: catches up whatever an earlier
                # run left behind, even when this one received nothing new
                progress.update(task, description=f"{sym}: resampling")
                counts = sync_timeframes(
                    store, symbol=sym, base=base, targets=settings.candle_timeframes
                )
                written = ", ".join(f"{k}: {v:,}" for k, v in counts.items()) or "none"
                progress.advance(task)
            table.add_row(
                sym,
                f"{report.n_received:,}",
                f"{report.n_stored:,}",
                f"{report.n_quarantined:,}",
                f"{report.n_out_of_order:,}",
                f"{report.missing_bars:,}",
                f"{when(report.first_ts)} .. {when(report.last_ts)}",
                written,
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
    timeframe: str = typer.Option(None, help="Timeframe. Default: SMARTMARKET_BASE_TIMEFRAME."),
    tail: int = typer.Option(5, help="Last rows to show."),
) -> None:
    """Show what the store holds for one symbol and timeframe."""
    from features.candles.schema import Timeframe
    from orchestration.resources import build_resources
    from orchestration.settings import check_connections

    settings = load_settings()
    tf = Timeframe.parse(timeframe) if timeframe else settings.base
    check_connections(settings, needs=("candles",))
    frame = build_resources(settings)["candle_store"].store().read(symbol, tf)
    if frame.empty:
        console.print(f"No {tf.label} candles stored for {symbol}.")
        return
    console.print(f"{len(frame):,} candles, {frame.index[0]} .. {frame.index[-1]}")
    console.print(frame.tail(tail).to_string())
