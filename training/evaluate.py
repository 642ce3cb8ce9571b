"""The trading comparison of a walk-forward run, through the backtest engine.

For every fold's test window and every symbol, the same compiled engine runs, each from a fresh
account with entries only inside the window (trades may close after it):

- ``rules``: the rule strategy as configured (its own targets);
- ``setups``: every setup the model chooses among (the setups' targets), untouched;
- ``model_filtered``: the setups the model takes (calibrated P >= the fold's threshold, chosen
  on validation rows);
- ``model_sized``: the same, with risk scaled by P relative to its validation mean;
- ``buy_and_hold`` and ``random`` entries under the same risk management (the percentile of
  ``model_filtered`` among them).

Each variant's fold returns are stitched into one out-of-sample equity curve (daily returns,
compounded), with the deflated Sharpe ratio over every variant tried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from serving.backtest.fast import Prepared
from serving.engine import layout as L
from serving.engine.baselines import random_entries
from serving.engine.metrics import (
    DAYS_PER_YEAR,
    curve_metrics,
    daily_returns,
    deflated_sharpe,
)
from serving.engine.simulate import simulate
from training.pipeline import TrainingResult

VARIANTS: tuple[str, ...] = ("rules", "setups", "model_filtered", "model_sized", "buy_and_hold")


@dataclass(frozen=True)
class Evaluation:
    """The fold table, the stitched equity curves and the summary per variant.

    ``calibration`` is the reliability table of every fold's out-of-sample predictions
    (``training.calibration.reliability_curve``); ``importance`` the final model's
    permutation importance on its validation windows (``training.importance``).
    """

    folds: pd.DataFrame
    equity: pd.DataFrame
    summary: pd.DataFrame
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)

    def write(self, folder: Path) -> None:
        """Write the tables the registry logs: ``folds``, ``summary``, ``equity``,
        ``calibration`` and ``importance`` (CSV)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folds.to_csv(folder / "folds.csv", index=False)
        self.summary.to_csv(folder / "summary.csv")
        self.equity.to_csv(folder / "equity.csv")
        self.calibration.to_csv(folder / "calibration.csv", index=False)
        self.importance.to_csv(folder / "importance.csv", index=False)

    def evidence(self, variant: str) -> dict[str, float]:
        """The out-of-sample figures of ``variant`` (the promotion gate's inputs)."""
        row = self.summary.loc[variant]
        return {k: float(row[k]) for k in ("sharpe", "total_return", "calmar", "n_trades",
                                            "deflated_sharpe", "max_drawdown")}  # fmt: skip


def _window(
    prepared: Prepared, t0: pd.Timestamp, t1: pd.Timestamp, tail: int
) -> tuple[int, int, int]:
    """Bars whose decision (close) lies in ``[t0, t1]``, plus ``tail`` bars to close trades."""
    closes = prepared.candles.index + prepared.timeframe.delta
    a = int(closes.searchsorted(t0, side="left"))
    b = int(closes.searchsorted(t1, side="right"))
    return a, b, min(len(closes), b + tail)


def _run(prepared: Prepared, signals: np.ndarray, a: int, b: int, c: int) -> tuple[pd.Series, int]:
    sig = signals[a:c].copy()
    sig[b - a :, L.SIG_ENTRY] = 0.0  # entries only inside the test window
    logs, _ = simulate(prepared.bars.window(a, c), sig, prepared.params)
    index = prepared.candles.index[a:c] + prepared.timeframe.delta
    return pd.Series(logs.equity, index=index), len(logs.trades)


def _model_signals(
    prepared: Prepared, p: pd.Series, threshold: float, ref: float, sized: bool
) -> np.ndarray:
    sig = prepared.signals.copy()
    closes = prepared.candles.index + prepared.timeframe.delta
    bars = closes.get_indexer(pd.DatetimeIndex(p.index))
    ok = bars >= 0
    size = np.where(p.to_numpy() >= threshold, 1.0, 0.0)
    if sized:
        size = size * np.clip(p.to_numpy() / max(ref, 1e-9), 0.25, 2.0)
    entries = np.flatnonzero(np.nan_to_num(sig[:, L.SIG_ENTRY]) != 0.0)
    sig[entries, L.SIG_SIZE] = 0.0  # an intent the model did not see is not taken
    sig[bars[ok], L.SIG_SIZE] = size[ok]
    return sig


def evaluate(result: TrainingResult, random_seeds: int = 20) -> Evaluation:
    """Run every variant over every fold's test window; stitch and summarize."""
    cfg = result.config
    tail = cfg.meta.horizon_bars
    rows: list[dict[str, float | str]] = []
    curves: dict[str, list[pd.Series]] = {v: [] for v in VARIANTS}
    trades = dict.fromkeys(VARIANTS, 0)
    random_pcts = []
    for fr in result.folds:
        t0, t1 = fr.fold.test_start, fr.fold.test_end
        row: dict[str, float | str] = {
            "fold": fr.fold.index,
            "test_start": str(t0),
            "test_end": str(t1),
        }
        row.update({f"{k}": v for k, v in fr.metrics.items()})
        fold_curves: dict[str, list[pd.Series]] = {v: [] for v in curves}
        for symbol, market in result.markets.items():
            setup, rules = market.setup, market.rules
            a, b, c = _window(setup, t0, t1, tail)
            if b <= a:
                continue
            mine = fr.predictions[fr.predictions["symbol"] == symbol]
            p = pd.Series(mine["p"].to_numpy(), index=pd.DatetimeIndex(mine["decided_at"]))
            filtered = _model_signals(setup, p, fr.threshold, fr.size_reference, False)
            sized = _model_signals(setup, p, fr.threshold, fr.size_reference, True)
            runs = {
                "rules": _run(rules, rules.signals, a, b, c),
                "setups": _run(setup, setup.signals, a, b, c),
                "model_filtered": _run(setup, filtered, a, b, c),
                "model_sized": _run(setup, sized, a, b, c),
            }
            close = market.candles["close"].to_numpy()[a:c]
            initial = cfg.backtest.initial_cash
            index = market.candles.index[a:c] + setup.timeframe.delta
            runs["buy_and_hold"] = (pd.Series(initial * close / close[0], index=index), 0)
            masked = setup.signals[a:c].copy()
            masked[b - a :, L.SIG_ENTRY] = 0.0
            filtered = _model_signals(setup, p, fr.threshold, fr.size_reference, False)[a:c]
            n_taken = int(np.count_nonzero(np.nan_to_num(filtered[: b - a, L.SIG_SIZE]) > 0))
            masked[:, L.SIG_ENTRY] = 0.0
            masked[
                np.flatnonzero(np.nan_to_num(filtered[: b - a, L.SIG_SIZE]) > 0), L.SIG_ENTRY
            ] = 1.0
            rnd = random_entries(
                setup.bars.window(a, c),
                masked,
                setup.params,
                random_seeds,
                setup.timeframe.ns,
                initial,
                seed=fr.fold.index,
            )
            model_total = runs["model_filtered"][0].iloc[-1] / initial - 1.0
            if n_taken:
                random_pcts.append(rnd.percentile(model_total))
            for name, (curve, n) in runs.items():
                fold_curves[name].append(curve / initial)
                if name in trades:
                    trades[name] += n
                    row[f"{name}_trades"] = float(row.get(f"{name}_trades", 0.0)) + n
        for name, parts in fold_curves.items():
            if not parts:
                continue
            mean = pd.concat(parts, axis=1).ffill().fillna(1.0).mean(axis=1)  # equal weight
            curves[name].append(mean)
            row[f"{name}_return"] = float(mean.iloc[-1] - 1.0)
        rows.append(row)
    equity = {}
    for name, parts in curves.items():
        level, pieces = 1.0, []
        for part in parts:
            pieces.append(part * level)
            level = float(pieces[-1].iloc[-1])
        if pieces:
            equity[name] = pd.concat(pieces).groupby(level=0).last()
    equity_frame = pd.DataFrame(equity).sort_index().ffill()
    summary = _summary(equity_frame, trades, random_pcts)
    importance = result.importance if result.importance is not None else pd.DataFrame()
    return Evaluation(pd.DataFrame(rows), equity_frame, summary, calibration_table(result),
                      importance)  # fmt: skip


def calibration_table(result: TrainingResult, n_bins: int = 10) -> pd.DataFrame:
    """The reliability curve of every fold's test predictions: ``bin``, ``mean_predicted``,
    ``observed`` (the labels' mean) and ``count`` per probability bin (empty bins left out)."""
    from training.calibration import reliability_curve

    preds = [fr.predictions for fr in result.folds if len(fr.predictions)]
    columns = ["bin", "mean_predicted", "observed", "count"]
    if not preds:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(preds, ignore_index=True)
    curve = reliability_curve(frame["label"].to_numpy(np.float64),
                              frame["p"].to_numpy(np.float64), n_bins)  # fmt: skip
    full = curve.counts > 0
    return pd.DataFrame(
        {
            "bin": [
                f"{a:.1f}-{b:.1f}" for a, b in zip(curve.edges[:-1], curve.edges[1:], strict=True)
            ],
            "mean_predicted": curve.predicted,
            "observed": curve.observed,
            "count": curve.counts,
        }
    )[full].reset_index(drop=True)


def _summary(
    equity: pd.DataFrame, trades: dict[str, int], random_pcts: list[float]
) -> pd.DataFrame:
    rows = {}
    daily = {}
    for name in VARIANTS:
        if name not in equity:
            continue
        curve = equity[name].dropna()
        metrics = curve_metrics(curve, 1.0, curve.index[0])
        daily[name] = daily_returns(curve, 1.0)
        rows[name] = {
            "total_return": metrics.get("total_return", math.nan),
            "sharpe": metrics.get("sharpe", math.nan),
            "calmar": metrics.get("calmar", math.nan),
            "max_drawdown": metrics.get("max_drawdown", math.nan),
            "n_trades": float(trades.get(name, 0)),
        }
    per_period = [
        float(r.mean() / r.std(ddof=1)) if len(r) > 2 and r.std(ddof=1) > 0 else math.nan
        for n, r in daily.items()
        if n != "buy_and_hold"
    ]
    for name, r in daily.items():
        rows[name]["deflated_sharpe"] = deflated_sharpe(r, per_period)
    frame = pd.DataFrame(rows).T
    frame["random_percentile"] = math.nan
    if random_pcts and "model_filtered" in frame.index:
        frame.loc["model_filtered", "random_percentile"] = float(np.nanmean(random_pcts))
    frame.attrs["days_per_year"] = DAYS_PER_YEAR
    return frame
