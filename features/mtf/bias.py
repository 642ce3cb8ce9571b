"""A timeframe's directional bias: bullish (+1), bearish (-1) or neutral (0), with a strength.

Three votes in -1..1 make a signed score, weighted by :class:`~features.mtf.config.BiasWeights`:

- **structure**: the trend after the last BOS/CHoCH, ``(2 * struct_ext_trend +
  struct_int_trend) / 3`` (the swing level weighs twice the internal one);
- **range**: where the close sits in the dealing range, ``2 * pd_pos - 1`` (upper half
  bullish);
- **trend**: the least-squares slope of the last ``trend_window`` closes, as the fitted move
  over the window in units of ``trend_full_atr`` ATRs, clipped to -1..1. A regression over a
  fixed window rather than an EMA, so the value has a finite memory.

The score is the weighted mean of the votes known at that row: a vote not available yet (NaN:
no dealing range before the first swings, fewer than ``trend_window`` closes) is left out and
the others' weights rescaled; the score is NaN only when no vote is known. The bias is the
score's sign when ``|score| >= bias_neutral_band``, else 0; the strength is ``|score|``
(0..1). Every value is computed from the timeframe's own rows, each known at that row's close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.mtf.config import MTFConfig
from features.mtf.inputs import ATR_COLUMN, Frame
from features.mtf.join import take_rows
from features.mtf.rolling import rolling_slope


@dataclass(frozen=True)
class Bias:
    """Per-row bias arrays of one timeframe (float64, NaN during warm-up)."""

    score: np.ndarray
    bias: np.ndarray
    strength: np.ndarray

    def take(self, rows: np.ndarray) -> Bias:
        """Return the rows at positions ``rows`` (-1: NaN)."""
        return Bias(
            score=take_rows(self.score, rows),
            bias=take_rows(self.bias, rows),
            strength=take_rows(self.strength, rows),
        )


def available_mean(terms: list[tuple[float, np.ndarray]], n: int) -> np.ndarray:
    """Return, per row, the weighted mean of the terms known there (NaN where none is).

    Terms are added in their given order, so each result depends only on its row's values.
    """
    total = np.zeros(n)
    weight = np.zeros(n)
    for w, values in terms:
        known = ~np.isnan(values)
        total = total + np.where(known, w * values, 0.0)
        weight = weight + np.where(known, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def trend_vote(close: np.ndarray, atr: np.ndarray, config: MTFConfig) -> np.ndarray:
    """Return the trend vote: the fitted move over ``trend_window`` closes in full-vote ATRs."""
    window = config.trend_window
    move = rolling_slope(np.ascontiguousarray(close), window) * (window - 1)
    scale = config.trend_full_atr * atr
    with np.errstate(divide="ignore", invalid="ignore"):
        vote = np.where(scale > 0, move / scale, np.sign(move))
    vote = np.clip(vote, -1.0, 1.0)
    vote[np.isnan(move) | np.isnan(atr)] = np.nan
    return vote


def score_to_bias(score: np.ndarray, band: float) -> np.ndarray:
    """Return the sign of ``score`` where ``|score| >= band``, else 0; NaN kept."""
    bias = np.where(np.abs(score) >= band, np.sign(score), 0.0)
    bias[np.isnan(score)] = np.nan
    return bias


def timeframe_bias(frame: Frame, config: MTFConfig) -> Bias:
    """Return the bias of every row of one timeframe's frame."""
    weights = config.bias
    votes: list[tuple[float, np.ndarray]] = []
    # A vote of weight 0 is not computed at all.
    if weights.structure > 0:
        structure = (2.0 * frame.col("struct_ext_trend") + frame.col("struct_int_trend")) / 3.0
        votes.append((weights.structure, structure))
    if weights.range > 0:
        votes.append((weights.range, 2.0 * np.clip(frame.col("pd_pos"), 0.0, 1.0) - 1.0))
    if weights.trend > 0:
        trend = trend_vote(frame.col("close"), frame.col(ATR_COLUMN), config)
        votes.append((weights.trend, trend))
    score = np.clip(available_mean(votes, len(frame.data)), -1.0, 1.0)
    return Bias(
        score=score,
        bias=score_to_bias(score, config.bias_neutral_band),
        strength=np.abs(score),
    )
