"""Entry points: a backtest of a candle file, and the synthetic-market report of ``make run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from serving.backtest.config_file import load_config
from serving.backtest.data import load_candles
from serving.backtest.evaluate import HEADLINE, Evaluation, evaluate
from serving.backtest.fast import Prepared, prepare, run_fast
from serving.backtest.report import write_outputs
from serving.backtest.result import BacktestResult
from serving.engine.config import BacktestConfig
from serving.engine.validation import ConfigError

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class BacktestRun:
    """A finished backtest: inputs, result, evaluation and the files written."""

    prepared: Prepared
    result: BacktestResult
    evaluation: Evaluation
    paths: dict[str, Path]

    def headline(self) -> dict[str, Any]:
        """Return the headline metrics."""
        return {k: self.evaluation.metrics.get(k) for k in HEADLINE}


def backtest_frame(
    candles: pd.DataFrame,
    timeframe: str | Timeframe,
    config: BacktestConfig,
    out_dir: str | Path,
    symbol: str = "",
    progress: Progress = _quiet,
    zones: bool = True,
    sub_candles: pd.DataFrame | None = None,
    model_sizes: pd.Series | None = None,
) -> BacktestRun:
    """Backtest a canonical candle frame, evaluate it and write the outputs to ``out_dir``.

    ``sub_candles`` (a lower timeframe) replay each bar when ``execution.intrabar`` is
    ``replay``. ``model_sizes`` (indexed by decision time, a bar's close) is a model's risk
    multiplier of each entry: an entry without one is not taken, 0 refuses it.
    """
    progress(f"features and signals for {len(candles):,} bars")
    prepared = prepare(candles, timeframe, config, symbol=symbol, sub_candles=sub_candles)
    if model_sizes is not None:
        prepared = with_sizes(prepared, model_sizes)
    progress("running the engine")
    result = run_fast(prepared)
    progress(
        f"baselines ({config.evaluation.random_seeds} random-entry runs"
        + (", walk-forward search" if config.evaluation.walk_forward else "")
        + ")"
    )
    evaluation = evaluate(prepared, result)
    zone_records = None
    if zones:
        from features.smc import detect_zones

        progress("SMC zones for the report")
        zone_records = detect_zones(candles, prepared.spec.smc)
    progress("writing the report")
    paths = write_outputs(out_dir, result, evaluation, candles, zone_records)
    return BacktestRun(prepared, result, evaluation, paths)


def with_sizes(prepared: Prepared, sizes: pd.Series) -> Prepared:
    """Return ``prepared`` whose entries take the risk multipliers ``sizes`` (by decision time)."""
    from dataclasses import replace

    from serving.engine import layout as L

    sig = prepared.signals.copy()
    closes = prepared.candles.index + prepared.timeframe.delta
    bars = closes.get_indexer(pd.DatetimeIndex(sizes.index))
    ok = bars >= 0
    entries = np.flatnonzero(np.nan_to_num(sig[:, L.SIG_ENTRY]) != 0.0)
    sig[entries, L.SIG_SIZE] = 0.0  # an entry the model did not judge is not taken
    sig[bars[ok], L.SIG_SIZE] = np.nan_to_num(sizes.to_numpy(dtype=np.float64)[ok], nan=0.0)
    return replace(prepared, signals=sig)


def run_backtest(
    candles_path: str | Path,
    symbol: str,
    timeframe: str,
    out_dir: str | Path,
    config_path: str | Path | None = None,
    progress: Progress = _quiet,
    intrabar_candles: str | Path | None = None,
    intrabar_timeframe: str = "1m",
) -> BacktestRun:
    """Backtest the candles of a CSV/Parquet file (what ``smartmarket backtest`` runs).

    ``intrabar_candles`` (a file of ``intrabar_timeframe`` candles) replay the bars they cover
    when the config sets ``execution.intrabar: replay``.
    """
    config = load_config(config_path)
    tf = Timeframe.parse(timeframe)
    sub = None
    if intrabar_candles is not None:
        sub_tf = Timeframe.parse(intrabar_timeframe)
        if config.execution.intrabar != "replay":
            raise ConfigError(
                "intrabar candles are only used with execution.intrabar: replay in the config"
            )
        if sub_tf >= tf or tf.seconds % sub_tf.seconds:
            raise CandleDataError(
                f"intrabar timeframe {sub_tf} must divide the candles' {tf} (and be smaller)"
            )
        progress(f"reading {intrabar_candles}")
        sub = load_candles(intrabar_candles, symbol, sub_tf).candles
    progress(f"reading {candles_path}")
    loaded = load_candles(candles_path, symbol, tf)
    quarantined = loaded.validation.n_quarantined
    if quarantined:
        progress(f"{quarantined:,} rows failed validation and were left out")
    return backtest_frame(loaded.candles, tf, config, out_dir, symbol, progress, sub_candles=sub)


def synthetic_candles(
    symbol: str = "BTC/USDT",
    timeframe: str = "5m",
    start: date | str = "2024-01-01",
    days: int = 180,
    seed: int = 7,
) -> pd.DataFrame:
    """Return validated candles of the seeded synthetic market."""
    from features.candles.sources import make_source
    from features.candles.validate import validate_candles

    tf = Timeframe.parse(timeframe)
    t0 = pd.Timestamp(start, tz="UTC")
    source = make_source("synthetic", seed=seed, symbols=(symbol,), base_timeframe=tf.label)
    raw = source.fetch(symbol, tf, t0, t0 + pd.Timedelta(days=days))
    valid = validate_candles(raw, tf, source="synthetic", symbol=symbol).valid
    if valid.empty:
        raise CandleDataError(f"the synthetic market has no {tf} candles from {t0:%Y-%m-%d}")
    return valid


def run_synthetic_report(
    out_dir: str | Path,
    symbol: str = "BTC/USDT",
    timeframe: str = "5m",
    start: date | str = "2024-01-01",
    days: int = 180,
    seed: int = 7,
    config: BacktestConfig | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Backtest the synthetic market, write the report, return the headline metrics.

    What ``make run`` ends with, e.g. ``run_synthetic_report(settings.home_dir / "backtest",
    symbol=settings.symbols[0], timeframe=settings.base_timeframe, start=settings.start_date,
    days=settings.history_days, seed=settings.seed)``. The returned dict holds the headline
    metrics plus ``report`` (the path of report.html).
    """
    candles = synthetic_candles(symbol, timeframe, start, days, seed)
    run = backtest_frame(candles, timeframe, config or BacktestConfig(), out_dir, symbol, progress)
    return {**run.headline(), "report": str(run.paths["report"])}
