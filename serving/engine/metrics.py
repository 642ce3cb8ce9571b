"""Performance metrics of an equity curve and its trades, plus the deflated Sharpe ratio.

Returns are measured on the equity marked at every bar's close; Sharpe and Sortino use daily
(UTC calendar day) returns annualized with 365 days (crypto trades every day). Every metric is
a plain float (NaN when undefined, e.g. a Sharpe without variance or a win rate without trades).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.0
_EULER_GAMMA = 0.5772156649015329


def daily_returns(equity: pd.Series, initial: float) -> pd.Series:
    """Return the UTC-daily returns of an equity curve indexed by close time."""
    if equity.empty:
        return pd.Series(dtype=float)
    daily = equity.resample("1D").last().ffill()
    start = pd.Series([initial], index=[daily.index[0] - pd.Timedelta(days=1)])
    return pd.concat([start, daily]).pct_change().iloc[1:]


def sharpe(returns: pd.Series | np.ndarray, periods_per_year: float = DAYS_PER_YEAR) -> float:
    """Return the annualized Sharpe ratio of periodic returns (risk-free rate 0)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(float(r.mean()))):
        return math.nan
    return float(r.mean() / sd * math.sqrt(periods_per_year))


def sortino(returns: pd.Series | np.ndarray, periods_per_year: float = DAYS_PER_YEAR) -> float:
    """Return the annualized Sortino ratio (downside deviation below 0)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(r.mean() / downside * math.sqrt(periods_per_year)) if downside > 0 else math.nan


def drawdown(equity: pd.Series) -> pd.Series:
    """Return the drawdown (fraction below the running peak) at each point."""
    peak = equity.cummax()
    return 1.0 - equity / peak


def max_drawdown_duration(equity: pd.Series) -> float:
    """Return the longest time from a peak to its recovery, in days (to the end if none)."""
    if equity.empty:
        return 0.0
    peak = equity.cummax()
    under = (equity < peak).to_numpy()
    longest = pd.Timedelta(0)
    start: pd.Timestamp | None = None
    last_peak = equity.index[0]
    for ts, below in zip(equity.index, under, strict=True):
        if below and start is None:
            start = last_peak
        elif not below:
            if start is not None:
                longest = max(longest, ts - start)
                start = None
            last_peak = ts
    if start is not None:
        longest = max(longest, equity.index[-1] - start)
    return longest / pd.Timedelta(days=1)


def monthly_returns(equity: pd.Series, initial: float) -> dict[str, float]:
    """Return each calendar month's return, keyed ``YYYY-MM``.

    ``equity`` is indexed by close time; a value closing exactly at midnight of the 1st belongs
    to the month before.
    """
    if equity.empty:
        return {}
    shifted = (pd.DatetimeIndex(equity.index) - pd.Timedelta(1, "ns")).tz_convert(None)
    month_end = equity.groupby(shifted.to_period("M")).last()
    prev = month_end.shift(1)
    prev.iloc[0] = initial
    returns = month_end / prev - 1.0
    return {str(period): float(r) for period, r in returns.items()}


def curve_metrics(equity: pd.Series, initial: float, start: pd.Timestamp) -> dict[str, float]:
    """Return return, risk and drawdown metrics of an equity curve starting at ``start``."""
    if equity.empty:
        return {}
    final = float(equity.iloc[-1])
    total = final / initial - 1.0
    years = (equity.index[-1] - start) / pd.Timedelta(days=DAYS_PER_YEAR)
    cagr = (final / initial) ** (1.0 / years) - 1.0 if final > 0 and years > 0 else -1.0
    daily = daily_returns(equity, initial)
    curve = pd.concat([pd.Series([initial], index=[start]), equity])
    mdd = float(drawdown(curve).max())
    return {
        "total_return": total,
        "cagr": float(cagr),
        "sharpe": sharpe(daily),
        "sortino": sortino(daily),
        "calmar": float(cagr / mdd) if mdd > 0 else math.nan,
        "max_drawdown": mdd,
        "max_drawdown_duration_days": max_drawdown_duration(curve),
        "volatility": float(daily.std(ddof=1) * math.sqrt(DAYS_PER_YEAR))
        if len(daily) > 1
        else math.nan,
        "final_equity": final,
    }


def trade_metrics(trades: pd.DataFrame) -> dict[str, float]:
    """Return win rate, average win/loss, R, profit factor and expectancy of closed trades."""
    n = len(trades)
    if n == 0:
        nan = math.nan
        return {
            "n_trades": 0, "win_rate": nan, "avg_win": nan, "avg_loss": nan, "avg_r": nan,
            "profit_factor": nan, "expectancy": nan, "expectancy_r": nan,
            "avg_hold_hours": nan,
        }  # fmt: skip
    net = trades["net_pnl"].to_numpy(np.float64)
    wins, losses = net[net > 0], net[net <= 0]
    gross_loss = -float(losses.sum())
    r = trades["r_multiple"].to_numpy(np.float64)
    held = (trades["exit_bar"] - trades["entry_bar"]) if "exit_bar" in trades else pd.Series([])
    return {
        "n_trades": int(n),
        "win_rate": float(len(wins) / n),
        "avg_win": float(wins.mean()) if len(wins) else math.nan,
        "avg_loss": float(losses.mean()) if len(losses) else math.nan,
        "avg_r": float(np.nanmean(r)) if np.isfinite(r).any() else math.nan,
        "profit_factor": float(wins.sum() / gross_loss) if gross_loss > 0 else math.nan,
        "expectancy": float(net.mean()),
        "expectancy_r": float(np.nanmean(r)) if np.isfinite(r).any() else math.nan,
        "avg_hold_hours": (
            float(pd.Timedelta(held.mean()) / pd.Timedelta(hours=1)) if len(held) else math.nan
        ),
    }


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Return the expected best Sharpe of ``n_trials`` skill-less trials (Bailey et al.)."""
    if n_trials < 2 or sharpe_variance <= 0:
        return 0.0
    z = NormalDist()
    sd = math.sqrt(sharpe_variance)
    return sd * (
        (1.0 - _EULER_GAMMA) * z.inv_cdf(1.0 - 1.0 / n_trials)
        + _EULER_GAMMA * z.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    )


def deflated_sharpe(
    returns: pd.Series | np.ndarray, trial_sharpes: np.ndarray | list[float]
) -> float:
    """Return the deflated Sharpe ratio: P(true Sharpe > 0) after selecting among trials.

    ``returns`` are the chosen strategy's periodic returns; ``trial_sharpes`` the per-period
    (not annualized) Sharpe ratios of every trial of the search. Skewness and kurtosis of the
    returns widen the Sharpe's standard error (Bailey & López de Prado, 2014).
    """
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    trials = trials[np.isfinite(trials)]
    if r.size < 3 or r.std(ddof=1) == 0:
        return math.nan
    sr = float(r.mean() / r.std(ddof=1))
    sr0 = expected_max_sharpe(trials.size, float(trials.var(ddof=1)) if trials.size > 1 else 0.0)
    centered = r - r.mean()
    m2 = float(np.mean(centered**2))
    skew = float(np.mean(centered**3) / m2**1.5) if m2 > 0 else 0.0
    kurt = float(np.mean(centered**4) / m2**2) if m2 > 0 else 3.0
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    if denom <= 0:
        return math.nan
    z = (sr - sr0) * math.sqrt(r.size - 1) / math.sqrt(denom)
    return float(NormalDist().cdf(z))


def percentile_of(value: float, population: np.ndarray) -> float:
    """Return the percentile (0..100) of ``value`` in ``population`` (ties count half)."""
    pop = np.asarray(population, dtype=np.float64)
    pop = pop[np.isfinite(pop)]
    if pop.size == 0 or not math.isfinite(value):
        return math.nan
    below = float(np.sum(pop < value)) + 0.5 * float(np.sum(pop == value))
    return 100.0 * below / pop.size


def json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with NaN/inf as ``None`` and numpy scalars as Python numbers."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = json_ready(value)
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, float | np.floating):
            out[key] = float(value) if math.isfinite(value) else None
        else:
            out[key] = value
    return out
