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
    model: str = typer.Option(
        None,
        help="Also run the model-filtered strategy: champion, challenger, a version number or "
        "a bundle folder (trained on data that ends before the file).",
    ),
    home: Path = typer.Option(None, help="App home (the registry of --model; default --out)."),
) -> None:
    """Backtest the smc_confluence strategy on a candle file, with baselines and a report."""
    from serving.backtest.main import run_backtest

    if out is None:
        from orchestration.cli.context import load_settings

        name = f"{symbol.replace('/', '-').replace(':', '_')}_{timeframe}"
        out = load_settings(home=home).home_dir / "backtests" / name
    if model is not None:
        _model_backtest(candles, symbol, timeframe, out, config, model, home)
        return

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


def _bundle(ref: str, home: Path | None) -> Path:
    """The bundle folder of ``ref``: an existing folder, or an alias / version of the registry."""
    if Path(ref).is_dir():
        return Path(ref)
    from orchestration.assets.training import registry_config
    from orchestration.cli.context import load_settings
    from training.registry import bundle_path

    return bundle_path(registry_config(load_settings(home=home)), ref)


def _model_backtest(
    candles: Path,
    symbol: str,
    timeframe: str,
    out: Path,
    config: Path | None,
    ref: str,
    home: Path | None,
) -> None:
    """Rule-only and model-filtered backtests of one candle file, side by side."""
    import dataclasses

    import numpy as np
    import pandas as pd

    from features.candles.schema import Timeframe
    from features.model_inputs import model_input_frame
    from orchestration.cli.context import load_settings
    from serving.backtest.config_file import load_config
    from serving.backtest.data import load_candles
    from serving.backtest.main import backtest_frame
    from training.bundle import check_fingerprint, load_bundle
    from training.datasets import input_columns

    tf = Timeframe.parse(timeframe)
    bundle = load_bundle(_bundle(ref, home))
    meta = bundle.meta
    if meta.timeframe != tf.label:
        raise ValueError(f"the model was trained on {meta.timeframe} candles, not {tf.label}")
    _progress(f"reading {candles}")
    frame = load_candles(candles, symbol, tf).candles
    first_close = frame.index[0] + tf.delta
    train_end = pd.Timestamp(meta.train_end)
    if first_close <= train_end:
        raise ValueError(
            f"{candles} starts at {frame.index[0]}, before the end of the model's training span "
            f"{meta.train_start} .. {meta.train_end}: test it on data after {train_end}"
        )
    _progress(f"features of {len(frame):,} bars")
    features = model_input_frame(frame, tf, load_settings(home=home).timeframes)
    check_fingerprint(meta, input_columns(features))
    features.insert(0, "symbol", symbol)
    p = bundle.predict_frame(features, np.arange(len(features)), tf.ns)
    sizes = pd.Series(
        bundle.size(np.nan_to_num(p.to_numpy(), nan=0.0)),
        index=pd.DatetimeIndex(features["event_timestamp"]),
    )
    rules_config = load_config(config)
    risk = dataclasses.replace(rules_config.risk, **meta.setup)
    setup_config = dataclasses.replace(rules_config, risk=risk)
    _progress("rule-only backtest")
    rules = backtest_frame(frame, tf, rules_config, out / "rules", symbol, zones=False)
    _progress(f"model-filtered backtest ({meta.kind}, threshold {meta.threshold:.3f})")
    filtered = backtest_frame(
        frame, tf, setup_config, out / "model", symbol, zones=False, model_sizes=sizes
    )
    a, b = rules.headline(), filtered.headline()
    typer.echo(f"{'':>24}  {'rules':>12}  {'model':>12}")
    for key in a:
        typer.echo(f"{key:>24}  {_show(a[key]):>12}  {_show(b.get(key)):>12}")
    typer.echo(f"reports: {rules.paths['report']} {filtered.paths['report']}")


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
