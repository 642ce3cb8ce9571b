"""Confluence: four weighted components in 0..1 and the market-regime flags.

The setup direction ``D`` is the sign of the weighted mean of the higher timeframes' bias
scores (weights ``log2(htf / trading)``: the higher the timeframe the more it counts; the
trading timeframe's own score when there is no higher one), neutral within the bias band. A
timeframe whose score is not known yet (warm-up) is left out; ``D`` is NaN until one is known.
Every directional component is 0 when ``D`` is 0.

- ``htf_bias``: ``|weighted mean score|``: how strongly the hierarchy leans.
- ``smc``: the share of five SMC facts in favour of ``D``: price on the favourable side of the
  HTF dealing ranges (discount for longs; the mean over the HTFs), in an HTF order block of
  direction ``D``, in an HTF FVG of direction ``D``, trading-timeframe internal structure
  trending ``D``, the opposite side's liquidity swept within ``sweep_window`` bars.
- ``technical``: the share of three trading-timeframe indicators agreeing with ``D``: the
  slope of the last ``tech_window`` closes, the close against their mean, the RSI against 50.
- ``session``: ``session_killzone`` inside a kill zone, else ``session_active`` in the London
  or New York sessions, else 0 (not directional).

``mtf_confluence = sum(weight_i * component_i)``, in 0..1 because the weights sum to 1.
Regime: the trading timeframe's signed efficiency ratio over ``regime_window`` changes gives
``mtf_regime`` (+1 trending up, -1 trending down, 0 ranging); the ratio of the mean true range
over ``vol_short`` bars to that over ``vol_long`` bars gives ``mtf_high_vol``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.mtf.bias import available_mean
from features.mtf.config import MTFConfig
from features.mtf.inputs import ACTIVE_SESSIONS, ATR_COLUMN, KILL_ZONES, Frame
from features.mtf.rolling import (
    efficiency_ratio,
    rolling_mean,
    rolling_rsi,
    rolling_slope,
    true_range,
)


def weighted_direction(
    scores: Sequence[np.ndarray], weights: Sequence[float], band: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(direction -1/0/+1, |weighted mean score|)`` over the scores known per row.

    NaN where no score is known yet.
    """
    mean = np.clip(available_mean(list(zip(weights, scores, strict=True)), len(scores[0])), -1, 1)
    direction = np.where(np.abs(mean) >= band, np.sign(mean), 0.0)
    direction[np.isnan(mean)] = np.nan
    return direction, np.abs(mean)


def agrees(value: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Return 1.0 where ``sign(value) == direction != 0``, else 0.0 (NaN compares false)."""
    return ((np.sign(value) == direction) & (direction != 0)).astype(np.float64)


def directional(parts: Sequence[np.ndarray], direction: np.ndarray) -> np.ndarray:
    """Return the mean of ``parts``: 0 where ``direction`` is 0, NaN where it is NaN."""
    share = np.mean(np.vstack(parts), axis=0) if parts else np.zeros_like(direction)
    share = np.where(direction == 0, 0.0, share)
    share[np.isnan(direction)] = np.nan
    return share


@dataclass(frozen=True)
class HTFZones:
    """Per-trading-bar HTF facts used by the SMC component (one array per higher timeframe)."""

    pd_zone: list[np.ndarray]
    in_ob_bull: list[np.ndarray]
    in_ob_bear: list[np.ndarray]
    in_fvg_bull: list[np.ndarray]
    in_fvg_bear: list[np.ndarray]


def _any_flag(flags: list[np.ndarray], n: int) -> np.ndarray:
    if not flags:
        return np.zeros(n)
    return (np.vstack(flags) == 1.0).any(axis=0).astype(np.float64)


def smc_component(
    base: Frame, zones: HTFZones, direction: np.ndarray, config: MTFConfig
) -> dict[str, np.ndarray]:
    """Return the SMC component and the any-HTF zone flags in direction ``D``."""
    n = direction.shape[0]
    long_, short = direction == 1.0, direction == -1.0
    if zones.pd_zone:
        stacked = np.vstack(zones.pd_zone)
        seen = ~np.isnan(stacked)
        wanted = (stacked == -direction) & seen
        count = seen.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            side = np.where(count > 0, wanted.sum(axis=0) / np.maximum(count, 1), 0.0)
    else:
        side = agrees(0.5 - base.col("pd_pos"), direction)
    in_ob = np.where(
        long_,
        _any_flag(zones.in_ob_bull, n),
        np.where(short, _any_flag(zones.in_ob_bear, n), 0.0),
    )
    in_fvg = np.where(
        long_,
        _any_flag(zones.in_fvg_bull, n),
        np.where(short, _any_flag(zones.in_fvg_bear, n), 0.0),
    )
    structure = agrees(base.col("struct_int_trend"), direction)
    window = float(config.sweep_window)
    swept = np.where(
        long_,
        base.col("liq_ssl_sweep_bars_since") <= window,
        np.where(short, base.col("liq_bsl_sweep_bars_since") <= window, False),
    ).astype(np.float64)
    return {
        "mtf_in_htf_ob": np.where(np.isnan(direction), np.nan, in_ob),
        "mtf_in_htf_fvg": np.where(np.isnan(direction), np.nan, in_fvg),
        "mtf_comp_smc": directional([side, in_ob, in_fvg, structure, swept], direction),
    }


def technical_component(
    base: Frame, direction: np.ndarray, config: MTFConfig
) -> dict[str, np.ndarray]:
    """Return the technical component and its indicators (RSI, trend in ATRs)."""
    close = np.ascontiguousarray(base.col("close"))
    window = config.tech_window
    mean = rolling_mean(close, window)
    slope = rolling_slope(close, window)
    rsi = rolling_rsi(close, config.rsi_window)
    atr = base.col(ATR_COLUMN)
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where(atr > 0, slope * (window - 1) / atr, np.nan)
    parts = [
        agrees(slope, direction),
        agrees(close - mean, direction),
        agrees(rsi - 50.0, direction),
    ]
    component = directional(parts, direction)
    component[np.isnan(slope) | np.isnan(mean) | np.isnan(rsi)] = np.nan
    return {"mtf_rsi": rsi, "mtf_trend_atr": trend, "mtf_comp_technical": component}


def session_component(base: Frame, config: MTFConfig) -> np.ndarray:
    """Return the session component: kill zone, else active session, else 0."""
    kill = np.vstack([base.col(c) for c in KILL_ZONES])
    active = np.vstack([base.col(c) for c in ACTIVE_SESSIONS])
    score = np.where(
        (kill == 1.0).any(axis=0),
        config.session_killzone,
        np.where((active == 1.0).any(axis=0), config.session_active, 0.0),
    )
    score[np.isnan(kill).any(axis=0) | np.isnan(active).any(axis=0)] = np.nan
    return score


def regime(base: Frame, config: MTFConfig) -> dict[str, np.ndarray]:
    """Return the efficiency ratio, the regime flag and the volatility flag."""
    close = np.ascontiguousarray(base.col("close"))
    high = np.ascontiguousarray(base.col("high"))
    low = np.ascontiguousarray(base.col("low"))
    er = efficiency_ratio(close, config.regime_window)
    flag = np.where(np.abs(er) >= config.regime_threshold, np.sign(er), 0.0)
    flag[np.isnan(er)] = np.nan
    ranges = true_range(high, low, close)
    short = rolling_mean(ranges, config.vol_short)
    long_ = rolling_mean(ranges, config.vol_long)
    # The short window is the tail of the long one: a zero long mean means a zero short one.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(long_ > 0, short / long_, 1.0)
    ratio[np.isnan(short) | np.isnan(long_)] = np.nan
    high_vol = (ratio >= config.high_vol_ratio).astype(np.float64)
    high_vol[np.isnan(ratio)] = np.nan
    return {
        "mtf_efficiency": er,
        "mtf_regime": flag,
        "mtf_vol_ratio": ratio,
        "mtf_high_vol": high_vol,
    }


def confluence(components: dict[str, np.ndarray], config: MTFConfig) -> np.ndarray:
    """Return the weighted sum of the components, clipped to 0..1; NaN if a weighted one is."""
    w = config.weights
    total = np.zeros_like(components["mtf_comp_htf_bias"])
    for weight, name in (
        (w.htf_bias, "mtf_comp_htf_bias"),
        (w.smc, "mtf_comp_smc"),
        (w.technical, "mtf_comp_technical"),
        (w.session, "mtf_comp_session"),
    ):
        if weight > 0:  # a component of weight 0 cannot make the score NaN
            total = total + weight * components[name]
    return np.clip(total, 0.0, 1.0)
