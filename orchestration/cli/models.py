"""Model commands: ``smartmarket train`` and ``smartmarket models list|show|promote|rollback``.

``train`` runs the same edge as the ``trained_model`` asset
(``orchestration.assets.training.train_register``) on candle files (features computed by the
feature path that fills Feast: ``features.model_inputs.model_input_frame``) or on the stored
candles (features from Feast's point-in-time retrieval). The registry is SQLite under the app
home unless SMARTMARKET_MLFLOW_URI names a tracking server or database. Training, MLflow and
Feast are imported inside the commands.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import typer
from rich.table import Table

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console

if TYPE_CHECKING:
    from features.candles.schema import Timeframe
    from orchestration.settings import Settings

app = typer.Typer()
models_app = typer.Typer(name="models", no_args_is_help=True, help="The model registry.")
app.add_typer(models_app)


def _progress(message: str) -> None:
    typer.secho(f"  {message}", err=True, fg=typer.colors.BRIGHT_BLACK)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def frame_table(frame: pd.DataFrame, title: str, index: bool = False) -> Table:
    """A rich table of a small frame."""
    shown = frame.reset_index(names="variant") if index else frame
    table = Table(title=title)
    for col in shown.columns:
        table.add_column(str(col))
    for row in shown.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def _window(candles: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    if start:
        candles = candles[candles.index >= pd.Timestamp(start, tz="UTC")]
    if end:
        candles = candles[candles.index < pd.Timestamp(end, tz="UTC")]
    return candles


def _check_features(symbol: str, frame: pd.DataFrame) -> None:
    """Refuse infinite model inputs and inputs that are never known, naming them."""
    import numpy as np

    from training.datasets import input_columns

    columns = input_columns(frame)
    values = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    inf = [c for c, bad in zip(columns, np.isinf(values).any(axis=0), strict=True) if bad]
    if inf:
        raise ValueError(f"{symbol}: infinite feature values in {inf[:5]}")
    if len(frame) and np.isnan(values).all():
        raise ValueError(f"{symbol}: every model input is NaN (no feature row is known)")


def _load_markets(
    settings: Settings,
    symbols: list[str],
    trading: Timeframe,
    candles: list[Path],
    start: str | None,
    end: str | None,
    config: Any,
) -> tuple[dict[str, Any], str]:
    from training.pipeline import prepare_market

    if candles:
        from features.model_inputs import model_input_frame
        from serving.backtest.data import load_candles

        if len(candles) != len(symbols):
            raise ValueError(
                f"{len(candles)} --candles file(s) for {len(symbols)} symbol(s): give one file "
                "per --symbol, in the same order"
            )
        frames, features = {}, {}
        for symbol, path in zip(symbols, candles, strict=True):
            _progress(f"reading {path} ({symbol})")
            frames[symbol] = _window(load_candles(path, symbol, trading).candles, start, end)
            _progress(f"features of {len(frames[symbol]):,} {trading} bars of {symbol}")
            features[symbol] = model_input_frame(frames[symbol], trading, settings.timeframes)
        source = "candle files: " + ", ".join(str(p) for p in candles)
    else:
        from orchestration.assets.training import store_features
        from orchestration.resources import build_resources
        from orchestration.resources.feast import build_feature_resources

        store = build_resources(settings)["candle_store"].store()
        s = pd.Timestamp(start, tz="UTC") if start else None
        e = pd.Timestamp(end, tz="UTC") if end else None
        frames = {symbol: store.read(symbol, trading, s, e) for symbol in symbols}
        empty = [symbol for symbol, f in frames.items() if f.empty]
        if empty:
            raise ValueError(
                f"no stored {trading} candles of {', '.join(empty)} in {settings.home_dir}: run "
                "`smartmarket run` (or give --candles files)"
            )
        _progress("point-in-time features from the Feast offline store")
        features = store_features(
            build_feature_resources(settings)["feature_store"], frames, trading
        )
        source = f"{settings.store} candle store, Feast offline store"
    for symbol in symbols:
        _check_features(symbol, features[symbol])
    markets = {
        symbol: prepare_market(symbol, frames[symbol], features[symbol], trading, config)
        for symbol in symbols
    }
    return markets, source


@app.command()
@user_errors
def train(
    symbol: list[str] = typer.Option(
        None, "--symbol", help="Symbol to train on (repeatable); default SMARTMARKET_SYMBOLS."
    ),
    timeframe: str = typer.Option(None, help="Trading timeframe; default the settings'."),
    candles: list[Path] = typer.Option(
        None, "--candles", help="Candle file (CSV/Parquet), one per --symbol; default the store."
    ),
    kind: str = typer.Option("mlp", help="Model kind: mlp, gbm, lstm, gru, cnn_lstm, transformer."),
    folds: int = typer.Option(4, help="Purged walk-forward folds."),
    epochs: int = typer.Option(None, help="Maximum epochs per fit (default the model config's)."),
    trials: int = typer.Option(
        0, min=0, help="keras-tuner trials inside each training window (0: no search)."
    ),
    start: str = typer.Option(None, help="First day (UTC) of the data used."),
    end: str = typer.Option(None, help="Day after the last (UTC) of the data used."),
    random_seeds: int = typer.Option(20, help="Random-entry runs per fold and symbol."),
    home: Path = typer.Option(None, help="App home folder (default ./.smartmarket)."),
) -> None:
    """Train the meta-label model walk-forward, compare it out of sample, register it, gate it."""
    from features.candles.schema import Timeframe
    from orchestration.assets.training import (
        features_path,
        models_dir,
        registry_config,
        train_config,
        train_register,
    )
    from training.promotion import PromotionConfig

    settings = load_settings(home=home)
    symbols = list(symbol or settings.symbols)
    trading = Timeframe.parse(timeframe or settings.trading_timeframe)
    config = train_config(kind, folds, epochs, trials)
    registry = registry_config(settings)
    markets, source = _load_markets(settings, symbols, trading, candles or [], start, end, config)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
    outcome = train_register(
        markets,
        trading,
        config,
        registry,
        PromotionConfig(),
        models_dir(settings) / "cli" / stamp,
        features_of=features_path(trading, settings.timeframes),
        random_seeds=random_seeds,
        source=source,
        progress=_progress,
    )
    show_outcome(outcome.record, outcome.evaluation.folds, outcome.evaluation.summary)


def show_outcome(record: dict[str, Any], folds: pd.DataFrame | None, summary: pd.DataFrame) -> None:
    """Print the fold table, the out-of-sample comparison and the gate's decision."""
    if folds is not None:
        keep = [
            "fold",
            "test_start",
            "auc",
            "brier",
            "threshold",
            "taken",
            "test_intents",
            "rules_return",
            "model_filtered_return",
            "buy_and_hold_return",
        ]
        console.print(frame_table(folds[[c for c in keep if c in folds.columns]], "Folds"))
    console.print(
        frame_table(
            summary,
            f"Out of sample, {record['kind']} on {'+'.join(record['symbols'])} "
            f"{record['timeframe']} (net of costs)",
            index=True,
        )
    )
    verdict = "promoted to champion" if record["promoted"] else "not promoted"
    console.print(
        f"version {record['version']} (challenger) {verdict}: {record['reason']}; champion "
        f"{record['champion_before'] or 'none'} -> {record['champion_after'] or 'none'}; "
        f"MLflow run {record['run_id']} in experiment '{record['experiment']}'",
        highlight=False,
        markup=False,
    )


def _registry(home: Path | None) -> Any:
    from orchestration.assets.training import registry_config

    return registry_config(load_settings(home=home))


def _decision(tag: str) -> str:
    """``promoted: reason`` / ``kept: reason`` of a version's ``promotion`` tag."""
    import json

    if not tag:
        return "-"
    try:
        value = json.loads(tag)
    except ValueError:
        return tag
    return f"{'promoted' if value.get('promote') else 'kept'}: {value.get('reason', '')}"


HOME = typer.Option(None, help="App home folder (default ./.smartmarket).")


@models_app.command("list")
@user_errors
def list_models(home: Path = HOME) -> None:
    """Every registered version, newest first, with its aliases and OOS evidence."""
    from training.registry import list_versions

    rows = list_versions(_registry(home))
    if not rows:
        console.print("no registered model versions", highlight=False)
    for row in rows:
        e = row["evidence"]
        aliases = f" [{', '.join(row['aliases'])}]" if row["aliases"] else ""
        console.print(
            f"version {row['version']}{aliases}: OOS sharpe {_cell(e.sharpe)}, return "
            f"{_cell(e.total_return)}, {e.n_trades} trades, deflated Sharpe "
            f"{_cell(e.deflated_sharpe)}; {_decision(row['promotion'])}",
            highlight=False,
            markup=False,
        )


@models_app.command("show")
@user_errors
def show(
    version: str = typer.Argument(..., help="Version number or alias."), home: Path = HOME
) -> None:
    """One version's tags: lineage, evidence and the gate's decision."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    config = _registry(home)
    client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
    try:
        if version.isdigit():
            found = client.get_model_version(config.model_name, version)
        else:
            found = client.get_model_version_by_alias(config.model_name, version)
    except MlflowException:
        raise ValueError(
            f"model {config.model_name!r} has no version or alias {version!r}"
        ) from None
    console.print(
        f"version {found.version} aliases {list(found.aliases or [])} run {found.run_id}",
        highlight=False,
        markup=False,
    )
    run = client.get_run(str(found.run_id))
    for key, value in sorted({**run.data.tags, **(found.tags or {})}.items()):
        if not key.startswith("mlflow."):
            console.print(f"  {key}: {value}", highlight=False, markup=False)


@models_app.command("promote")
@user_errors
def promote(version: str = typer.Argument(..., help="Version number."), home: Path = HOME) -> None:
    """Make ``VERSION`` the champion by hand (recorded; rollback returns to the previous one)."""
    from training.registry import set_champion

    set_champion(_registry(home), version, reason="promoted by hand (smartmarket models promote)")
    console.print(f"champion -> version {version}", highlight=False)


@models_app.command("rollback")
@user_errors
def rollback(home: Path = HOME) -> None:
    """Move ``champion`` back to the version it replaced."""
    from training.registry import rollback as roll_back

    previous = roll_back(_registry(home))
    console.print(f"champion -> version {previous}", highlight=False)
