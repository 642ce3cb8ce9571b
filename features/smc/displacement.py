"""Displacement: impulsive candles and legs measured against the ATR before them.

A candle is a displacement when its size (body or full range, ``measure``) is at least
``min_atr`` times the ATR of the previous bar (so the candle does not dilute its own yardstick),
its body is at least ``min_body_ratio`` of its range, and it closes in its direction. With
``require_fvg`` the candle must also leave a fair value gap, which is known one bar later: the
event is then stamped at the bar after the candle. A leg is a run of consecutive candles of one
colour; it is a displacement leg once its move from the run's first open reaches ``leg_atr``
ATRs (the ATR before the run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import ColumnSpec, age, count, direction, flag, names, ratio
from features.smc.frame import prepare, step_frame
from features.smc.tables import NO_REFCOUNT

SPECS: tuple[ColumnSpec, ...] = (
    direction("disp_dir", "+1 / -1 displacement candle", required=True),
    ratio("disp_size_atr", "ATR", 0.0, None, "its size in ATRs of the bar before"),
    flag(
        "disp_fvg", "1 when the previous candle was a displacement that left an FVG", required=True
    ),
    direction("disp_leg", "+1 / -1 while the one-colour run has moved >= leg_atr", required=True),
    ratio("disp_leg_size_atr", "ATR", None, None, "signed move of the run in ATRs"),
    count("disp_leg_bars", "length of the run", required=True),
    age("disp_bull_bars_since", "bars since the last bullish displacement"),
    age("disp_bear_bars_since", "bars since the last bearish displacement"),
)
COLUMNS: tuple[str, ...] = names(SPECS)
DIR, SIZE_ATR, FVG, LEG, LEG_SIZE_ATR, LEG_BARS, BULL_BARS_SINCE, BEAR_BARS_SINCE = range(8)

# State: ATR of the previous bar, last bull/bear event bar, run direction/open/bars/ATR,
# previous candle's displacement direction and size (for require_fvg / disp_fvg).
_PREV_ATR, _LAST_BULL, _LAST_BEAR, _RUN_DIR, _RUN_OPEN, _RUN_BARS, _RUN_ATR = range(7)
_PREV_DIR, _PREV_SIZE = 7, 8
_S_WIDTH = 9

MEASURES = ("body", "range")


@dataclass(frozen=True)
class DisplacementConfig:
    """Thresholds of an impulsive candle and leg, in ATRs."""

    measure: str = "body"
    min_atr: float = 1.5
    min_body_ratio: float = 0.6
    leg_atr: float = 2.0
    require_fvg: bool = False

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(
                f"DisplacementConfig.measure must be one of {MEASURES}, got {self.measure!r}"
            )
        if not self.min_atr > 0:
            raise ValueError(f"DisplacementConfig.min_atr must be > 0, got {self.min_atr}")
        if not 0.0 <= self.min_body_ratio <= 1.0:
            raise ValueError(
                f"DisplacementConfig.min_body_ratio must be in [0, 1], got {self.min_body_ratio}"
            )
        if not self.leg_atr > 0:
            raise ValueError(f"DisplacementConfig.leg_atr must be > 0, got {self.leg_atr}")


def lookback(cfg: DisplacementConfig) -> int:
    """Return how many bars back ``step`` reads (three candles for the gap test)."""
    return 3


def init_state(cfg: DisplacementConfig) -> np.ndarray:
    """Return a fresh state."""
    state = np.full(_S_WIDTH, np.nan)
    state[_RUN_DIR] = 0.0
    state[_RUN_BARS] = 0.0
    state[_PREV_DIR] = 0.0
    return state


def make_params(cfg: DisplacementConfig) -> tuple[int, float, float, float, int]:
    """Return ``(use_body, min_atr, min_body_ratio, leg_atr, require_fvg)``."""
    return (
        1 if cfg.measure == "body" else 0,
        float(cfg.min_atr),
        float(cfg.min_body_ratio),
        float(cfg.leg_atr),
        1 if cfg.require_fvg else 0,
    )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _gap_dir(i: int, n: int, h: np.ndarray, lo: np.ndarray) -> float:
    """Return +1/-1 when bars i-2..i form a bullish/bearish three-candle gap, else 0."""
    if n < 2:
        return 0.0
    if lo[i] > h[i - 2]:
        return 1.0
    if h[i] < lo[i - 2]:
        return -1.0
    return 0.0


@njit(cache=True, inline="always", **NO_REFCOUNT)
def step(
    i: int,
    n: int,
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    atr: np.ndarray,
    state: np.ndarray,
    params: tuple[int, float, float, float, int],
    out: np.ndarray,
) -> None:
    """Advance the displacement state by bar ``i`` and write its columns."""
    use_body, min_atr, min_ratio, leg_atr, require_fvg = params
    yard = state[_PREV_ATR]
    body = abs(c[i] - o[i])
    rng = h[i] - lo[i]
    size = body if use_body else rng
    cand = 0.0
    if yard > 0 and size >= min_atr * yard and (rng > 0 and body >= min_ratio * rng):
        cand = 1.0 if c[i] > o[i] else (-1.0 if c[i] < o[i] else 0.0)
    cand_size = size / yard if cand != 0.0 else np.nan
    gap = _gap_dir(i, n, h, lo)
    prev_dir = state[_PREV_DIR]
    left_fvg = prev_dir != 0.0 and gap == prev_dir
    if require_fvg:
        event = prev_dir if left_fvg else 0.0
        event_size = state[_PREV_SIZE] if left_fvg else np.nan
    else:
        event = cand
        event_size = cand_size
    out[DIR] = event
    out[SIZE_ATR] = event_size
    out[FVG] = 1.0 if left_fvg else 0.0
    if event > 0:
        state[_LAST_BULL] = n
    elif event < 0:
        state[_LAST_BEAR] = n
    out[BULL_BARS_SINCE] = n - state[_LAST_BULL]
    out[BEAR_BARS_SINCE] = n - state[_LAST_BEAR]
    state[_PREV_DIR] = cand
    state[_PREV_SIZE] = cand_size
    # The run of consecutive candles of one colour.
    colour = 1.0 if c[i] > o[i] else (-1.0 if c[i] < o[i] else 0.0)
    if colour == 0.0:
        state[_RUN_DIR] = 0.0
        state[_RUN_BARS] = 0.0
    elif colour != state[_RUN_DIR]:
        state[_RUN_DIR] = colour
        state[_RUN_OPEN] = o[i]
        state[_RUN_BARS] = 1.0
        state[_RUN_ATR] = yard
    else:
        state[_RUN_BARS] += 1.0
    if state[_RUN_DIR] != 0.0:
        move = (c[i] - state[_RUN_OPEN]) / state[_RUN_ATR]
        out[LEG_SIZE_ATR] = move
        out[LEG] = state[_RUN_DIR] if abs(move) >= leg_atr else 0.0
    else:
        out[LEG_SIZE_ATR] = np.nan
        out[LEG] = 0.0
    out[LEG_BARS] = state[_RUN_BARS]
    state[_PREV_ATR] = atr[i]


def compute(
    candles: pd.DataFrame, cfg: DisplacementConfig | None = None, *, atr_period: int = 14
) -> pd.DataFrame:
    """Return the displacement columns for every bar (reference batch path)."""
    cfg = cfg or DisplacementConfig()
    arrays = prepare(candles, atr_period)
    return step_frame(candles, arrays, step, init_state(cfg), make_params(cfg), COLUMNS)
