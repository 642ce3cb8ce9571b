"""Premium and discount: where price sits in the current dealing range.

The dealing range runs from a trailing low to a trailing high of one structure level (swing by
default). When a swing high is confirmed the trailing high restarts at its price; every bar
raises it to a new high (and likewise for the low), so the range always contains the current
bar and the position ``(close - low) / (high - low)`` is in 0..1. Equilibrium is the midpoint;
above it is premium (+1), below it discount (-1), within ``equilibrium_band`` of it 0.

The leg direction is up when the trailing high was set after the trailing low. The optimal trade
entry (OTE) band is the ``ote_low``..``ote_high`` retracement of that leg: for an up-leg the
prices ``high - ote_high * range`` to ``high - ote_low * range``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import FLOAT64, ColumnSpec, direction, flag, names, price, ratio, state
from features.smc import swings
from features.smc.tables import NO_REFCOUNT

SPECS: tuple[ColumnSpec, ...] = (
    price("pd_high", "dealing range high"),
    price("pd_low", "dealing range low"),
    price("pd_eq", "dealing range equilibrium"),
    # float64: compute_mtf and the strategies compare it with thresholds.
    ratio("pd_pos", "fraction", 0.0, 1.0, "position of the close in the range", dtype=FLOAT64),
    state(
        "pd_zone",
        ("discount", "equilibrium", "premium"),
        "where the close is in the range",
        lo=-1.0,
    ),
    direction("pd_leg_dir", "+1 up-leg (high after low), -1 down-leg"),
    flag("pd_in_ote", "1 inside the OTE band"),
    price("pd_ote_top", "the OTE band's top"),
    price("pd_ote_bottom", "the OTE band's bottom"),
    ratio("pd_range_atr", "ATR", 0.0, None, "range height in ATRs"),
    ratio("pd_eq_dist", "ATR", None, None, "(close - eq) / ATR"),
)
COLUMNS: tuple[str, ...] = names(SPECS)
HIGH, LOW, EQ, POS, ZONE, LEG_DIR, IN_OTE, OTE_TOP, OTE_BOTTOM, RANGE_ATR, EQ_DIST = range(11)

_HI, _HI_N, _LO, _LO_N = range(4)

LEVEL_CHOICES = ("internal", "swing")


@dataclass(frozen=True)
class PremiumDiscountConfig:
    """Structure level of the dealing range, OTE retracement band, equilibrium band."""

    level: str = "swing"
    ote_low: float = 0.62
    ote_high: float = 0.79
    equilibrium_band: float = 0.0

    def __post_init__(self) -> None:
        if self.level not in LEVEL_CHOICES:
            raise ValueError(
                f"PremiumDiscountConfig.level must be one of {LEVEL_CHOICES}, got {self.level!r}"
            )
        if not 0.0 < self.ote_low < self.ote_high < 1.0:
            raise ValueError(
                "PremiumDiscountConfig needs 0 < ote_low < ote_high < 1, "
                f"got ote_low={self.ote_low}, ote_high={self.ote_high}"
            )
        if not 0.0 <= self.equilibrium_band < 1.0:
            raise ValueError(
                "PremiumDiscountConfig.equilibrium_band must be in [0, 1), "
                f"got {self.equilibrium_band}"
            )


def lookback(cfg: PremiumDiscountConfig) -> int:
    """Return how many bars back ``step`` reads (only the current bar)."""
    return 1


def init_state(cfg: PremiumDiscountConfig) -> np.ndarray:
    """Return a fresh state: no range yet."""
    return np.full(4, np.nan)


def make_params(cfg: PremiumDiscountConfig) -> tuple[int, float, float, float]:
    """Return ``(swing column block, ote_low, ote_high, equilibrium_band)``."""
    level = swings.INTERNAL if cfg.level == "internal" else swings.EXTERNAL
    return (
        level * swings.LEVEL_WIDTH,
        float(cfg.ote_low),
        float(cfg.ote_high),
        float(cfg.equilibrium_band),
    )


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
    params: tuple[int, float, float, float],
    out: np.ndarray,
    sw: np.ndarray,
) -> None:
    """Advance the dealing range by bar ``i``; ``sw`` is this bar's swing columns."""
    w0, ote_low, ote_high, band = params
    hi, li, ci = h[i], lo[i], c[i]
    if not hi <= state[_HI]:
        state[_HI] = hi
        state[_HI_N] = n
    if not li >= state[_LO]:
        state[_LO] = li
        state[_LO_N] = n
    if sw[w0 + swings.HIGH_NEW] == 1.0:
        state[_HI] = sw[w0 + swings.HIGH]
        state[_HI_N] = n - sw[w0 + swings.HIGH_AGE]
    if sw[w0 + swings.LOW_NEW] == 1.0:
        state[_LO] = sw[w0 + swings.LOW]
        state[_LO_N] = n - sw[w0 + swings.LOW_AGE]
    # The range exists once both sides come from a confirmed swing.
    top = state[_HI] if not np.isnan(sw[w0 + swings.HIGH]) else np.nan
    bottom = state[_LO] if not np.isnan(sw[w0 + swings.LOW]) else np.nan
    width = top - bottom
    if not width > 0:
        for k in range(len(out)):
            out[k] = np.nan
        return
    pos = (ci - bottom) / width
    up = state[_HI_N] > state[_LO_N]
    retrace = (top - ci) / width if up else pos
    out[HIGH] = top
    out[LOW] = bottom
    out[EQ] = bottom + 0.5 * width
    out[POS] = pos
    half = 0.5 * band
    out[ZONE] = 1.0 if pos > 0.5 + half else (-1.0 if pos < 0.5 - half else 0.0)
    out[LEG_DIR] = 1.0 if up else -1.0
    out[IN_OTE] = 1.0 if ote_low <= retrace <= ote_high else 0.0
    if up:
        out[OTE_TOP] = top - ote_low * width
        out[OTE_BOTTOM] = top - ote_high * width
    else:
        out[OTE_TOP] = bottom + ote_high * width
        out[OTE_BOTTOM] = bottom + ote_low * width
    out[RANGE_ATR] = width / atr[i]
    out[EQ_DIST] = (ci - out[EQ]) / atr[i]


def compute(
    candles: pd.DataFrame,
    cfg: PremiumDiscountConfig | None = None,
    *,
    swings_cfg: swings.SwingsConfig | None = None,
    atr_period: int = 14,
) -> pd.DataFrame:
    """Return the premium/discount columns for every bar (reference batch path, with swings)."""
    cfg = cfg or PremiumDiscountConfig()
    state, params = init_state(cfg), make_params(cfg)
    return swings.with_swings_frame(candles, step, state, params, COLUMNS, swings_cfg, atr_period)
