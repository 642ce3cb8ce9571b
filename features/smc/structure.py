"""Market structure: break of structure (BOS) and change of character (CHoCH) on both levels.

Each level keeps the latest confirmed swing high ("top") and swing low ("bottom") from
:mod:`features.smc.swings`. The first bar that closes above the top (or trades above it, with
``break_on="wick"``) breaks it: a CHoCH when the trend was bearish, a BOS otherwise; the trend
becomes bullish and that top cannot be broken again. Breaks of the bottom mirror this. Events are
stamped at the break bar, with the level broken and the trend after the break. A newly confirmed
swing replaces the level only after this bar's break check, so a break always refers to a swing
confirmed on an earlier bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import ColumnSpec, age, direction, flag, names, price, ratio
from features.smc import swings
from features.smc.tables import NO_REFCOUNT

LEVELS = swings.LEVELS


def _level_specs(lv: str) -> tuple[ColumnSpec, ...]:
    w = "internal" if lv == "int" else "swing"
    p = f"struct_{lv}_"
    return (
        direction(
            f"{p}bos", f"+1 / -1 on a bullish / bearish {w} break of structure", required=True
        ),
        direction(
            f"{p}choch", f"+1 / -1 on a bullish / bearish {w} change of character", required=True
        ),
        price(f"{p}level", "the level broken at this bar (NaN without a break)"),
        direction(f"{p}trend", "+1 / -1 after the last break, 0 before any", required=True),
        age(f"{p}bars_since", "bars since the last break"),
        flag(f"{p}last_choch", "1 if the last break was a CHoCH"),
        ratio(f"{p}top_dist", "ATR", 0.0, None, "distance to the unbroken top (NaN once broken)"),
        ratio(
            f"{p}bottom_dist", "ATR", 0.0, None, "distance to the unbroken bottom (NaN once broken)"
        ),
    )


SPECS: tuple[ColumnSpec, ...] = tuple(s for lv in LEVELS for s in _level_specs(lv))
COLUMNS: tuple[str, ...] = names(SPECS)

# Column offsets inside one level's block; a level's block starts at LEVEL_WIDTH * level.
BOS, CHOCH, LEVEL, TREND, BARS_SINCE, LAST_CHOCH, TOP_DIST, BOTTOM_DIST = range(8)
LEVEL_WIDTH = 8

# State per level.
_TOP, _TOP_N, _TOP_X, _BOT, _BOT_N, _BOT_X, _TREND, _LAST_N, _LAST_CHOCH = range(9)
_S_WIDTH = 9

BREAK_MODES = ("close", "wick")


@dataclass(frozen=True)
class StructureConfig:
    """How a swing level is broken: by a close beyond it (default) or by a wick."""

    break_on: str = "close"

    def __post_init__(self) -> None:
        if self.break_on not in BREAK_MODES:
            raise ValueError(
                f"StructureConfig.break_on must be one of {BREAK_MODES}, got {self.break_on!r}"
            )


def lookback(cfg: StructureConfig) -> int:
    """Return how many bars back ``step`` reads (only the current bar)."""
    return 1


def init_state(cfg: StructureConfig) -> np.ndarray:
    """Return a fresh state: no levels, no trend."""
    state = np.full(_S_WIDTH * 2, np.nan)
    for lv in range(2):
        state[lv * _S_WIDTH + _TOP_X] = 1.0
        state[lv * _S_WIDTH + _BOT_X] = 1.0
        state[lv * _S_WIDTH + _TREND] = 0.0
        state[lv * _S_WIDTH + _LAST_CHOCH] = np.nan
    return state


def make_params(cfg: StructureConfig) -> tuple[int]:
    """Return ``(break_on_close,)``."""
    return (1 if cfg.break_on == "close" else 0,)


@njit(cache=True, **NO_REFCOUNT)
def _break(state: np.ndarray, s0: int, n: int, direction: float, out: np.ndarray, o0: int) -> None:
    level = state[s0 + _TOP] if direction > 0 else state[s0 + _BOT]
    choch = state[s0 + _TREND] == -direction
    out[o0 + BOS] = 0.0 if choch else direction
    out[o0 + CHOCH] = direction if choch else 0.0
    out[o0 + LEVEL] = level
    state[s0 + _TREND] = direction
    state[s0 + _LAST_N] = n
    state[s0 + _LAST_CHOCH] = 1.0 if choch else 0.0
    if direction > 0:
        state[s0 + _TOP_X] = 1.0
    else:
        state[s0 + _BOT_X] = 1.0


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _level_step(
    n: int,
    oi: float,
    hi: float,
    li: float,
    ci: float,
    atr: float,
    on_close: int,
    state: np.ndarray,
    s0: int,
    out: np.ndarray,
    o0: int,
    sw: np.ndarray,
    w0: int,
) -> None:
    out[o0 + BOS] = 0.0
    out[o0 + CHOCH] = 0.0
    out[o0 + LEVEL] = np.nan
    up_px = ci if on_close else hi
    dn_px = ci if on_close else li
    up = state[s0 + _TOP_X] == 0.0 and up_px > state[s0 + _TOP]
    dn = state[s0 + _BOT_X] == 0.0 and dn_px < state[s0 + _BOT]
    # A wick break of both sides: take the side away from the close last (its trend stands).
    if up and dn:
        if ci >= oi:
            _break(state, s0, n, -1.0, out, o0)
            _break(state, s0, n, 1.0, out, o0)
        else:
            _break(state, s0, n, 1.0, out, o0)
            _break(state, s0, n, -1.0, out, o0)
    elif up:
        _break(state, s0, n, 1.0, out, o0)
    elif dn:
        _break(state, s0, n, -1.0, out, o0)
    if sw[w0 + swings.HIGH_NEW] == 1.0:
        state[s0 + _TOP] = sw[w0 + swings.HIGH]
        state[s0 + _TOP_N] = n - sw[w0 + swings.HIGH_AGE]
        state[s0 + _TOP_X] = 0.0
    if sw[w0 + swings.LOW_NEW] == 1.0:
        state[s0 + _BOT] = sw[w0 + swings.LOW]
        state[s0 + _BOT_N] = n - sw[w0 + swings.LOW_AGE]
        state[s0 + _BOT_X] = 0.0
    out[o0 + TREND] = state[s0 + _TREND]
    out[o0 + BARS_SINCE] = n - state[s0 + _LAST_N]
    out[o0 + LAST_CHOCH] = state[s0 + _LAST_CHOCH]
    out[o0 + TOP_DIST] = (state[s0 + _TOP] - ci) / atr if state[s0 + _TOP_X] == 0.0 else np.nan
    out[o0 + BOTTOM_DIST] = (ci - state[s0 + _BOT]) / atr if state[s0 + _BOT_X] == 0.0 else np.nan


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
    params: tuple[int],
    out: np.ndarray,
    sw: np.ndarray,
) -> None:
    """Advance both structure levels by bar ``i``; ``sw`` is this bar's swing columns."""
    on_close = params[0]
    for lv in range(2):
        _level_step(
            n,
            o[i],
            h[i],
            lo[i],
            c[i],
            atr[i],
            on_close,
            state,
            lv * _S_WIDTH,
            out,
            lv * LEVEL_WIDTH,
            sw,
            lv * swings.LEVEL_WIDTH,
        )


def compute(
    candles: pd.DataFrame,
    cfg: StructureConfig | None = None,
    *,
    swings_cfg: swings.SwingsConfig | None = None,
    atr_period: int = 14,
) -> pd.DataFrame:
    """Return the structure columns for every bar (reference batch path, with its swings)."""
    cfg = cfg or StructureConfig()
    state, params = init_state(cfg), make_params(cfg)
    return swings.with_swings_frame(candles, step, state, params, COLUMNS, swings_cfg, atr_period)
