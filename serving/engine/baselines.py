"""Baselines computed in the same run: buy-and-hold, and random entries under the same risk.

The random-entry baseline keeps everything but the entry decision: the same bars, stops,
liquidity targets, trailing candidates, risk manager, protections and costs; only *when* and
*which way* to enter is drawn at random, as often as the strategy asked to enter. The
strategy's percentile among many seeds says whether its entries beat chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from serving.engine import layout as L
from serving.engine.metrics import curve_metrics, daily_returns, percentile_of, sharpe
from serving.engine.simulate import Bars, simulate


def buy_and_hold(
    bars: Bars, timeframe_ns: int, initial: float, fee: float
) -> tuple[pd.Series, dict[str, float]]:
    """Return the equity curve and metrics of buying at the first open and holding.

    A taker ``fee`` is paid on the way in and (in the final value) on the way out.
    """
    qty = initial * (1.0 - fee) / float(bars.open[0])
    values = qty * bars.close.astype(np.float64)
    values[-1] *= 1.0 - fee
    index = pd.to_datetime(bars.ts.astype(np.int64) + timeframe_ns, utc=True)
    equity = pd.Series(values, index=index, name="buy_and_hold")
    start = pd.Timestamp(int(bars.ts[0]), tz="UTC")
    return equity, curve_metrics(equity, initial, start)


def random_signals(
    signals: np.ndarray,
    n_entries: int,
    rng: np.random.Generator,
    long: bool = True,
    short: bool = True,
) -> np.ndarray:
    """Return the signal rows with ``n_entries`` random entries and no strategy exits.

    Entries are drawn without replacement among the bars where the entry direction has a
    structure stop; the direction is a fair coin (or the only one allowed).
    """
    out = signals.copy()
    out[:, L.SIG_ENTRY] = 0.0
    out[:, L.SIG_EXIT_LONG] = 0.0
    out[:, L.SIG_EXIT_SHORT] = 0.0
    out[:, L.SIG_SCORE] = 0.0
    out[:, L.SIG_FACTORS] = 0.0
    has_long = np.isfinite(signals[:, L.SIG_LONG_STOP]) if long else np.zeros(len(out), bool)
    has_short = np.isfinite(signals[:, L.SIG_SHORT_STOP]) if short else np.zeros(len(out), bool)
    candidates = np.flatnonzero(has_long | has_short)
    if candidates.size == 0 or n_entries <= 0:
        return out
    chosen = rng.choice(candidates, size=min(n_entries, candidates.size), replace=False)
    coin = rng.random(chosen.size) < 0.5
    direction = np.where(coin, 1.0, -1.0)
    direction = np.where(~has_short[chosen], 1.0, direction)
    direction = np.where(~has_long[chosen], -1.0, direction)
    out[chosen, L.SIG_ENTRY] = direction
    return out


@dataclass(frozen=True)
class RandomBaseline:
    """Total returns and Sharpe ratios of the random-entry runs, one per seed."""

    total_returns: np.ndarray
    sharpes: np.ndarray
    n_entries: int

    def percentile(self, total_return: float) -> float:
        """Return the percentile of a total return among the random runs."""
        return percentile_of(total_return, self.total_returns)

    def summary(self, total_return: float) -> dict[str, float]:
        """Return the baseline's headline numbers and the strategy's percentile."""
        r = self.total_returns
        finite = r[np.isfinite(r)]
        return {
            "random_entry_percentile": self.percentile(total_return),
            "random_entry_runs": int(r.size),
            "random_entry_median_return": float(np.median(finite)) if finite.size else np.nan,
            "random_entry_p5_return": float(np.percentile(finite, 5)) if finite.size else np.nan,
            "random_entry_p95_return": float(np.percentile(finite, 95)) if finite.size else np.nan,
            "random_entry_median_sharpe": float(np.nanmedian(self.sharpes))
            if np.isfinite(self.sharpes).any()
            else np.nan,
        }


def random_entries(
    bars: Bars,
    signals: np.ndarray,
    params: np.ndarray,
    seeds: int,
    timeframe_ns: int,
    initial: float,
    long: bool = True,
    short: bool = True,
    seed: int = 0,
) -> RandomBaseline:
    """Run ``seeds`` random-entry backtests with the strategy's entry count."""
    n_entries = int(np.count_nonzero(signals[:, L.SIG_ENTRY]))
    rng = np.random.default_rng(seed)
    index = pd.to_datetime(bars.ts.astype(np.int64) + timeframe_ns, utc=True)
    totals = np.full(seeds, np.nan)
    sharpes = np.full(seeds, np.nan)
    for k in range(seeds):
        sig = random_signals(signals, n_entries, rng, long, short)
        logs, _ = simulate(bars, sig, params)
        equity = pd.Series(logs.equity, index=index)
        totals[k] = logs.equity[-1] / initial - 1.0
        sharpes[k] = sharpe(daily_returns(equity, initial))
    return RandomBaseline(totals, sharpes, n_entries)
