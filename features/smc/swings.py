"""Swing points: pivot highs and lows on two levels, internal and swing (external).

A pivot high at bar ``p`` with lengths ``left``/``right`` has ``high[p]`` strictly above the
``left`` highs before it and at or above the ``right`` highs after it (so the first of equal highs
wins); pivot lows mirror this. It is confirmed, and every output about it appears, at bar
``p + right``: nothing is back-dated to ``p``. Two levels run side by side: internal structure
(short lengths) and swing structure (long lengths).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from features.schema import ColumnSpec, age, direction, flag, names, price, ratio
from features.smc.frame import prepare, step_frame
from features.smc.tables import NO_REFCOUNT

LEVELS = ("int", "ext")
_LEVEL_WORD = {"int": "internal", "ext": "swing"}


def _level_specs(lv: str) -> tuple[ColumnSpec, ...]:
    w = _LEVEL_WORD[lv]
    a = "an" if lv == "int" else "a"
    p = f"swing_{lv}_"
    return (
        flag(f"{p}high_new", f"1 when {a} {w} pivot high is confirmed", required=True),
        flag(f"{p}low_new", f"1 when {a} {w} pivot low is confirmed", required=True),
        price(f"{p}high", f"price of the last confirmed {w} pivot high"),
        price(f"{p}low", f"price of the last confirmed {w} pivot low"),
        age(f"{p}high_age", "bars since that pivot high's bar (>= right)"),
        age(f"{p}low_age", "bars since that pivot low's bar (>= right)"),
        direction(f"{p}high_kind", "at a new pivot high: +1 higher (HH), -1 lower (LH), 0 equal"),
        direction(f"{p}low_kind", "at a new pivot low: +1 higher (HL), -1 lower (LL), 0 equal"),
        ratio(f"{p}high_dist", "ATR", None, None, "(pivot high - close) / ATR"),
        ratio(f"{p}low_dist", "ATR", None, None, "(close - pivot low) / ATR"),
    )


SPECS: tuple[ColumnSpec, ...] = tuple(s for lv in LEVELS for s in _level_specs(lv))
COLUMNS: tuple[str, ...] = names(SPECS)

# Column offsets inside one level's block; a level's block starts at LEVEL_WIDTH * level.
HIGH_NEW, LOW_NEW, HIGH, LOW, HIGH_AGE, LOW_AGE, HIGH_KIND, LOW_KIND, HIGH_DIST, LOW_DIST = range(
    10
)
LEVEL_WIDTH = 10
INTERNAL, EXTERNAL = 0, 1

# State per level: last high, its pivot bar, last low, its pivot bar.
_S_HI, _S_HI_N, _S_LO, _S_LO_N = range(4)
_S_WIDTH = 4


@dataclass(frozen=True)
class SwingsConfig:
    """Pivot lengths of the two structure levels (bars left and right of the pivot)."""

    internal_left: int = 5
    internal_right: int = 5
    swing_left: int = 20
    swing_right: int = 20

    def __post_init__(self) -> None:
        for name in ("internal_left", "internal_right", "swing_left", "swing_right"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SwingsConfig.{name} must be an int >= 1, got {value!r}")
            if value > 500:
                raise ValueError(f"SwingsConfig.{name} must be <= 500, got {value}")


def lookback(cfg: SwingsConfig) -> int:
    """Return how many bars back ``step`` reads (the pivot window)."""
    return max(cfg.internal_left + cfg.internal_right, cfg.swing_left + cfg.swing_right) + 1


def init_state(cfg: SwingsConfig) -> np.ndarray:
    """Return a fresh state: no swing seen on either level."""
    return np.full(_S_WIDTH * 2, np.nan)


def make_params(cfg: SwingsConfig) -> tuple[int, int, int, int]:
    """Return ``(internal_left, internal_right, swing_left, swing_right)``."""
    return (cfg.internal_left, cfg.internal_right, cfg.swing_left, cfg.swing_right)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def is_pivot_high(h: np.ndarray, i: int, n: int, left: int, right: int) -> bool:
    """Return whether bar ``i - right`` is a pivot high confirmed at bar ``i``."""
    if n < left + right:
        return False
    p = i - right
    level = h[p]
    for k in range(1, left + 1):
        if h[p - k] >= level:
            return False
    for k in range(1, right + 1):  # noqa: SIM110 (a plain loop compiles to tight numba code)
        if h[p + k] > level:
            return False
    return True


@njit(cache=True, inline="always", **NO_REFCOUNT)
def is_pivot_low(lo: np.ndarray, i: int, n: int, left: int, right: int) -> bool:
    """Return whether bar ``i - right`` is a pivot low confirmed at bar ``i``."""
    if n < left + right:
        return False
    p = i - right
    level = lo[p]
    for k in range(1, left + 1):
        if lo[p - k] <= level:
            return False
    for k in range(1, right + 1):  # noqa: SIM110 (a plain loop compiles to tight numba code)
        if lo[p + k] < level:
            return False
    return True


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _kind(new: float, old: float) -> float:
    if np.isnan(old):
        return np.nan
    if new > old:
        return 1.0
    if new < old:
        return -1.0
    return 0.0


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _level_step(
    i: int,
    n: int,
    h: np.ndarray,
    lo: np.ndarray,
    c: float,
    atr: float,
    left: int,
    right: int,
    state: np.ndarray,
    s0: int,
    out: np.ndarray,
    o0: int,
) -> None:
    out[o0 + HIGH_NEW] = 0.0
    out[o0 + LOW_NEW] = 0.0
    out[o0 + HIGH_KIND] = np.nan
    out[o0 + LOW_KIND] = np.nan
    if is_pivot_high(h, i, n, left, right):
        level = h[i - right]
        out[o0 + HIGH_NEW] = 1.0
        out[o0 + HIGH_KIND] = _kind(level, state[s0 + _S_HI])
        state[s0 + _S_HI] = level
        state[s0 + _S_HI_N] = n - right
    if is_pivot_low(lo, i, n, left, right):
        level = lo[i - right]
        out[o0 + LOW_NEW] = 1.0
        out[o0 + LOW_KIND] = _kind(level, state[s0 + _S_LO])
        state[s0 + _S_LO] = level
        state[s0 + _S_LO_N] = n - right
    hi = state[s0 + _S_HI]
    low = state[s0 + _S_LO]
    out[o0 + HIGH] = hi
    out[o0 + LOW] = low
    out[o0 + HIGH_AGE] = n - state[s0 + _S_HI_N]
    out[o0 + LOW_AGE] = n - state[s0 + _S_LO_N]
    out[o0 + HIGH_DIST] = (hi - c) / atr
    out[o0 + LOW_DIST] = (c - low) / atr


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
    params: tuple[int, int, int, int],
    out: np.ndarray,
) -> None:
    """Advance both swing levels by bar ``i`` and write the swing columns."""
    il, ir, sl, sr = params
    _level_step(i, n, h, lo, c[i], atr[i], il, ir, state, 0, out, 0)
    _level_step(i, n, h, lo, c[i], atr[i], sl, sr, state, _S_WIDTH, out, LEVEL_WIDTH)


def compute(
    candles: pd.DataFrame, cfg: SwingsConfig | None = None, *, atr_period: int = 14
) -> pd.DataFrame:
    """Return the swing columns for every bar (reference batch path of this module alone)."""
    cfg = cfg or SwingsConfig()
    arrays = prepare(candles, atr_period)
    return step_frame(candles, arrays, step, init_state(cfg), make_params(cfg), COLUMNS)


# Not cached: it takes the dependent step as an argument (see ``frame._run_step``).
@njit
def _run_with_swings(
    dependent: Any,
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    atr: np.ndarray,
    sw_state: np.ndarray,
    sw_params: tuple[int, int, int, int],
    state: np.ndarray,
    params: Any,
    n_cols: int,
) -> np.ndarray:
    sw = np.empty(len(COLUMNS))
    out = np.full((ts.shape[0], n_cols), np.nan)
    for i in range(ts.shape[0]):
        step(i, i, ts, o, h, lo, c, v, atr, sw_state, sw_params, sw)
        dependent(i, i, ts, o, h, lo, c, v, atr, state, params, out[i], sw)
    return out


def with_swings_frame(
    candles: pd.DataFrame,
    dependent: Any,
    state: np.ndarray,
    params: Any,
    columns: Sequence[str],
    cfg: SwingsConfig | None = None,
    atr_period: int = 14,
) -> pd.DataFrame:
    """Run a concept whose step reads this bar's swing row, after the swings; frame its columns.

    The standalone ``compute`` of structure and premium/discount.
    """
    cfg = cfg or SwingsConfig()
    ts, o, h, lo, c, v, atr = prepare(candles, atr_period)
    sw_state, sw_params = init_state(cfg), make_params(cfg)
    out = _run_with_swings(
        dependent, ts, o, h, lo, c, v, atr, sw_state, sw_params, state, params, len(columns)
    )
    return pd.DataFrame(out, index=candles.index, columns=list(columns), copy=False)
