"""Backtest commands: ``smartmarket backtest`` and ``smartmarket audit-lookahead``.

``backtest`` runs a backtest of a candle file and writes its report; ``audit-lookahead`` re-runs
the strategy on truncated data to prove it never used the future.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from orchestration.cli.errors import user_errors

app = typer.Typer()


def _show(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _progress(message: str) -> None:
    typer.secho(f"  {message} ...", err=True, fg=typer.colors.BRIGHT_BLACK)


@app.command()
@user_errors
def backtest(
    candles: Path = typer.Option(..., help="Candle file (CSV/Parquet, e.g. a Binance export)."),
    symbol: str = typer.Option(..., help="Symbol the file holds, e.g. BTC/USDT."),
    timeframe: str = typer.Option(..., help="Timeframe of the candles, e.g. 5m."),
    out: Path = typer.Option(
        None,
        help="Folder for metrics.json, trades.csv, equity.csv, report.html "
        "(default: <app home>/backtests/<symbol>_<timeframe>).",
    ),
    config: Path = typer.Option(None, help="Config file (YAML or JSON); defaults otherwise."),
    intrabar_candles: Path = typer.Option(
        None, help="Lower-timeframe candles replaying each bar (with execution.intrabar: replay)."
    ),
    intrabar_timeframe: str = typer.Option("1m", help="Timeframe of --intrabar-candles."),
) -> None:
    """Backtest the smc_confluence strategy on a candle file, with baselines and a report."""
    from serving.backtest.main import run_backtest

    if out is None:
        from orchestration.cli.context import load_settings

        name = f"{symbol.replace('/', '-').replace(':', '_')}_{timeframe}"
        out = load_settings().home_dir / "backtests" / name
    run = run_backtest(
        candles,
        symbol,
        timeframe,
        out,
        config,
        progress=_progress,
        intrabar_candles=intrabar_candles,
        intrabar_timeframe=intrabar_timeframe,
    )
    for key, value in run.headline().items():
        typer.echo(f"{key:>24}: {_show(value)}")
    typer.echo(f"report: {run.paths['report']}")


@app.command("audit-lookahead")
@user_errors
def audit_lookahead(
    candles: Path = typer.Option(..., help="Candle file (CSV/Parquet)."),
    symbol: str = typer.Option(..., help="Symbol the file holds."),
    timeframe: str = typer.Option(..., help="Timeframe of the candles."),
    config: Path = typer.Option(None, help="Config file (YAML or JSON)."),
    out: Path = typer.Option(None, help="Folder for lookahead.json (optional)."),
    max_trades: int = typer.Option(20, help="Trades whose entry and exit are re-checked."),
    prefixes: int = typer.Option(4, help="Prefix replays of the whole pipeline."),
) -> None:
    """Prove the backtest does not look ahead: truncated re-runs must agree with the full run."""
    from serving.backtest.audit import audit_file

    report = audit_file(
        candles, symbol, timeframe, config, out, max_trades, prefixes, progress=_progress
    )
    typer.echo(report.summary())
    if not report.passed:
        raise typer.Exit(1)
