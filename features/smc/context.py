"""Market context: ATR, ADX regime, volatility percentile and a rolling volume profile.

All values are known at the bar's close and computed from fixed-size state:

* **ADX** (Wilder: plain sums start the smoothing): +DI/-DI from bar ``period`` on, ADX from bar
  ``2 * period - 1`` on. The regime is *trending* (1) once ADX reaches ``adx_trend`` and stays so
  until ADX falls below ``adx_range`` (hysteresis), else *ranging* (0); the trend direction is the
  sign of ``+DI - -DI``.
* **Volatility percentile**: the mid-rank of the current normalised ATR (ATR / close) among the
  last ``vol_window`` values, 0 = the quietest, 1 = the most volatile. Values are counted on a
  1%-wide log grid, so values within 1% of each other tie; the count below the current bin is
  kept up to date as the bin moves (O(1) amortised per bar).
* **Volume profile** of the last ``vp_window`` candles on a log-price grid of ``vp_bin_bps`` wide
  bins: each candle spreads its volume evenly over the bins from its low to its high. POC is the
  fullest bin (the lowest on ties); the value area grows from the POC one bin at a time towards
  the fuller neighbour (upwards on ties) until it holds ``vp_value_area`` of the volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import FLOAT64, ColumnSpec, direction, flag, names, price, ratio, state
from features.smc.frame import prepare, step_frame
from features.smc.tables import NO_REFCOUNT

SPECS: tuple[ColumnSpec, ...] = (
    price("ctx_atr", "the engine's ATR (Wilder), in price units", required=True),
    ratio("ctx_natr", "%", 0.0, None, "100 * ATR / close", required=True),
    ratio("ctx_adx", "0..100", 0.0, 100.0, "Wilder ADX"),
    ratio("ctx_plus_di", "0..100", 0.0, 100.0, "Wilder +DI"),
    ratio("ctx_minus_di", "0..100", 0.0, 100.0, "Wilder -DI"),
    flag("ctx_regime", "1 trending / 0 ranging (ADX with hysteresis)"),
    direction("ctx_trend_dir", "sign of +DI - -DI"),
    # float64: read by the strategies.
    ratio(
        "ctx_vol_pct",
        "fraction",
        0.0,
        1.0,
        "volatility percentile of normalised ATR",
        dtype=FLOAT64,
    ),
    price("ctx_vp_poc", "rolling volume profile: point of control"),
    price("ctx_vp_vah", "rolling volume profile: value-area high"),
    price("ctx_vp_val", "rolling volume profile: value-area low"),
    ratio("ctx_vp_poc_dist", "ATR", None, None, "(close - POC) / ATR"),
    state("ctx_vp_pos", ("below", "inside", "above"), "close vs the value area", lo=-1.0),
)
COLUMNS: tuple[str, ...] = names(SPECS)
PROFILE_COLUMNS: tuple[str, ...] = COLUMNS[8:]
"""The volume profile's columns: the only ones that need the profile (:func:`advance`)."""

# ADX state.
_PH, _PL, _PC, _COUNT, _TR, _PDM, _MDM, _DX_SUM, _ADX, _REGIME = range(10)
# Volatility-percentile state.
_V_COUNT, _V_HEAD = 10, 11
# Volume-profile state.
_P_COUNT, _P_HEAD, _P_LO, _P_HI, _P_POC, _P_BEST, _P_TOTAL, _P_DIRTY = range(12, 20)
# Cached grid-edge prices of the last POC / value-area bins.
_C_POC, _C_POC_PRICE, _C_UP, _C_VAH, _C_DN, _C_VAL = range(20, 26)
# The volatility rank's current bin and the window's count below it.
_V_CURRENT, _V_BELOW = 26, 27
_HEADER = 28

# The volatility grid: normalised ATR (ATR / close) from 1e-6 in 1% wide bins, 2048 of them
# (up to ~0.7e3: beyond any real market); the percentile is exact up to ties inside one bin.
VOL_GRID_MIN = 1e-6
VOL_BINS = 2048
_VOL_BIN_WIDTH = math.log(1.01)
_VOL_GRID_MAX = VOL_GRID_MIN * 1.01**VOL_BINS
# Prices are read on the log grid from this floor up, so a non-positive low cannot break it.
_PRICE_FLOOR = 1e-300

Params = tuple[int, float, float, int, int, int, float, float, int]


@dataclass(frozen=True)
class ContextConfig:
    """Context settings; ``atr_period`` is used only by the standalone ``compute``."""

    adx_period: int = 14
    adx_trend: float = 25.0
    adx_range: float = 20.0
    vol_window: int = 2000
    vol_min_periods: int = 200
    vp_window: int = 288
    vp_bin_bps: float = 10.0
    vp_value_area: float = 0.7
    vp_max_bins: int = 2048
    atr_period: int = 14

    def __post_init__(self) -> None:
        for name in ("adx_period", "vol_window", "vol_min_periods", "vp_window", "atr_period"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ContextConfig.{name}: must be an int >= 1, got {value!r}")
        if self.vol_min_periods < 2 or self.vol_min_periods > self.vol_window:
            raise ValueError(
                f"ContextConfig.vol_min_periods: must be in [2, vol_window={self.vol_window}], "
                f"got {self.vol_min_periods}"
            )
        if not 0.0 <= self.adx_range <= self.adx_trend <= 100.0:
            raise ValueError(
                "ContextConfig.adx_range/adx_trend: need 0 <= adx_range <= adx_trend <= 100, "
                f"got {self.adx_range} and {self.adx_trend}"
            )
        if not (math.isfinite(self.vp_bin_bps) and self.vp_bin_bps > 0.0):
            raise ValueError(f"ContextConfig.vp_bin_bps: must be > 0, got {self.vp_bin_bps}")
        if not 0.0 < self.vp_value_area < 1.0:
            raise ValueError(
                f"ContextConfig.vp_value_area: must be in (0, 1), got {self.vp_value_area}"
            )
        bins = self.vp_max_bins
        if not isinstance(bins, int) or bins < 16 or bins & (bins - 1):
            raise ValueError(
                f"ContextConfig.vp_max_bins: must be a power of two >= 16, got {bins!r}"
            )


def lookback(cfg: ContextConfig) -> int:
    """Return how many bars back ``step`` reads (only the current bar: history is in state)."""
    return 1


def _layout(cfg: ContextConfig) -> tuple[int, int, int, int, int]:
    """Return the offsets of the state's arrays and its size.

    Volatility: the ring of the window's grid bins, then per-bin counts.
    Profile: the ring of the window's candles ``(low bin, high bin, volume per bin)``, then per-bin
    volumes and candle counts.
    """
    v_ring = _HEADER
    p_ring = v_ring + cfg.vol_window + VOL_BINS
    p_vol = p_ring + 3 * cfg.vp_window
    p_cnt = p_vol + cfg.vp_max_bins
    return v_ring, p_ring, p_vol, p_cnt, p_cnt + cfg.vp_max_bins


def init_state(cfg: ContextConfig) -> np.ndarray:
    """Return a fresh state: headers, the volatility window, the profile's bars and bins."""
    size = _layout(cfg)[-1]
    state = np.zeros(size)
    state[[_PH, _PL, _PC, _ADX, _REGIME, _P_LO, _P_HI]] = np.nan
    state[_P_BEST] = -1.0
    state[[_C_POC, _C_POC_PRICE, _C_UP, _C_VAH, _C_DN, _C_VAL]] = np.nan
    state[_P_DIRTY] = 1.0
    return state


def make_params(cfg: ContextConfig) -> Params:
    """Return ``(adx_period, adx_trend, adx_range, vol_window, vol_min_periods, vp_window,
    log_bin_width, vp_value_area, vp_max_bins)``."""
    return (
        cfg.adx_period,
        cfg.adx_trend,
        cfg.adx_range,
        cfg.vol_window,
        cfg.vol_min_periods,
        cfg.vp_window,
        math.log1p(cfg.vp_bin_bps / 1e4),
        cfg.vp_value_area,
        cfg.vp_max_bins,
    )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def step(
    i: int,
    n: int,
    ts: np.ndarray,
    op: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    cl: np.ndarray,
    vol: np.ndarray,
    atr: np.ndarray,
    state: np.ndarray,
    params: Params,
    out: np.ndarray,
) -> None:
    """Advance ADX, the volatility window and the volume profile by bar ``i``; write ``out``."""
    advance(i, n, ts, op, hi, lo, cl, vol, atr, state, params, out, True)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def advance(
    i: int,
    n: int,
    ts: np.ndarray,
    op: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    cl: np.ndarray,
    vol: np.ndarray,
    atr: np.ndarray,
    state: np.ndarray,
    params: Params,
    out: np.ndarray,
    profile: bool,
) -> None:
    """:func:`step`, the volume profile only when ``profile`` (else its columns are NaN).

    The profile is most of the step's work and nothing else reads it: the engine skips it
    when no :data:`PROFILE_COLUMNS` is wanted (its state then stays as it was).
    """
    period, adx_trend, adx_range, vol_window, vol_min, vp_window, _, _, max_bins = params
    h = hi[i]
    low = lo[i]
    c = cl[i]
    a = atr[i]
    out[0] = a
    out[1] = 100.0 * a / c
    _adx(h, low, c, period, adx_trend, adx_range, state, out)
    out[7] = _vol_rank(a / c, state, _HEADER, vol_window, vol_min)
    if not profile:
        for k in range(8, 13):
            out[k] = np.nan
        return
    p_ring = _HEADER + vol_window + VOL_BINS
    p_vol = p_ring + 3 * vp_window
    _profile(h, low, c, vol[i], a, state, p_ring, p_vol, p_vol + max_bins, params, out)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _adx(
    h: float,
    low: float,
    c: float,
    period: int,
    adx_trend: float,
    adx_range: float,
    state: np.ndarray,
    out: np.ndarray,
) -> None:
    count = state[_COUNT]
    out[2] = np.nan
    out[3] = np.nan
    out[4] = np.nan
    out[5] = np.nan
    out[6] = np.nan
    if count > 0.0:
        pc = state[_PC]
        tr = max(h - low, abs(h - pc), abs(low - pc))
        up = h - state[_PH]
        down = state[_PL] - low
        pdm = up if up > down and up > 0.0 else 0.0
        mdm = down if down > up and down > 0.0 else 0.0
        if count <= period:
            state[_TR] += tr
            state[_PDM] += pdm
            state[_MDM] += mdm
        else:
            state[_TR] += tr - state[_TR] / period
            state[_PDM] += pdm - state[_PDM] / period
            state[_MDM] += mdm - state[_MDM] / period
        if count >= period:
            s_tr = state[_TR]
            plus = 100.0 * state[_PDM] / s_tr if s_tr > 0.0 else 0.0
            minus = 100.0 * state[_MDM] / s_tr if s_tr > 0.0 else 0.0
            total = plus + minus
            dx = 100.0 * abs(plus - minus) / total if total > 0.0 else 0.0
            out[3] = plus
            out[4] = minus
            out[6] = 1.0 if plus > minus else (-1.0 if plus < minus else 0.0)
            if count < 2 * period - 1:
                state[_DX_SUM] += dx
            else:
                if count == 2 * period - 1:
                    adx = (state[_DX_SUM] + dx) / period
                else:
                    adx = (state[_ADX] * (period - 1) + dx) / period
                state[_ADX] = adx
                regime = state[_REGIME]
                if np.isnan(regime):
                    regime = 1.0 if adx >= adx_trend else 0.0
                elif regime == 0.0 and adx >= adx_trend:
                    regime = 1.0
                elif regime == 1.0 and adx < adx_range:
                    regime = 0.0
                state[_REGIME] = regime
                out[2] = adx
                out[5] = regime
    state[_PH] = h
    state[_PL] = low
    state[_PC] = c
    state[_COUNT] = count + 1.0


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _vol_bin(x: float) -> int:
    """Return the volatility grid bin of a normalised ATR (1% wide, clamped to the grid)."""
    if not x > VOL_GRID_MIN:
        return 0
    if not x < _VOL_GRID_MAX:
        return VOL_BINS - 1
    return min(int(math.log(x / VOL_GRID_MIN) / _VOL_BIN_WIDTH), VOL_BINS - 1)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _vol_rank(x: float, state: np.ndarray, ring: int, window: int, min_periods: int) -> float:
    """Slide the window by ``x``; return its mid-rank among the window (NaN while warming up).

    ``below`` (the window's values in bins under the current bin) is kept up to date: when the
    current bin moves, the counts of the bins it passes are added or taken off, so a bar costs
    O(bins moved) and the ATR moves by at most a bin or two a bar.
    """
    if np.isnan(x):
        return np.nan
    counts = ring + window
    count = int(state[_V_COUNT])
    head = int(state[_V_HEAD])
    current = int(state[_V_CURRENT])
    below = state[_V_BELOW]
    q = _vol_bin(x)
    if count == window:
        old = int(state[ring + head])
        state[counts + old] -= 1.0
        if old < current:
            below -= 1.0
        state[ring + head] = q
        state[_V_HEAD] = (head + 1) % window
    else:
        state[ring + count] = q
        count += 1
        state[_V_COUNT] = count
    for k in range(current, q):
        below += state[counts + k]
    for k in range(q, current):
        below -= state[counts + k]
    state[counts + q] += 1.0
    state[_V_CURRENT] = q
    state[_V_BELOW] = below
    if count < min_periods:
        return np.nan
    return (below + 0.5 * (state[counts + q] - 1.0)) / (count - 1)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _profile(
    h: float,
    low: float,
    c: float,
    v: float,
    a: float,
    state: np.ndarray,
    ring: int,
    bins: int,
    counts: int,
    params: Params,
    out: np.ndarray,
) -> None:
    window = params[5]
    width = params[6]
    max_bins = params[8]
    mask = max_bins - 1  # a power of two: ``k & mask`` is k mod max_bins, negative k included
    for k in range(8, 13):
        out[k] = np.nan
    count = int(state[_P_COUNT])
    head = int(state[_P_HEAD])
    poc = int(state[_P_POC])
    if count == window:
        slot = ring + 3 * head
        per_bin = state[slot + 2]
        for k in range(int(state[slot]), int(state[slot + 1]) + 1):
            b = k & mask
            state[counts + b] -= 1.0
            if state[counts + b] == 0.0:
                state[bins + b] = 0.0  # an empty bin is exactly empty: no rounding drift
            else:
                state[bins + b] -= per_bin
            state[_P_TOTAL] -= per_bin
            if k == poc:
                state[_P_DIRTY] = 1.0  # the POC lost volume: find it again
        head = (head + 1) % window
        count -= 1
        lo_k = int(state[_P_LO])
        hi_k = int(state[_P_HI])
        while lo_k < hi_k and state[counts + (lo_k & mask)] == 0.0:
            lo_k += 1
        while hi_k > lo_k and state[counts + (hi_k & mask)] == 0.0:
            hi_k -= 1
        state[_P_LO] = lo_k
        state[_P_HI] = hi_k
    kh = math.floor(math.log(max(h, _PRICE_FLOOR)) / width)
    # A candle never covers more than the grid (only absurd candles get clipped from below).
    kl = max(math.floor(math.log(max(low, _PRICE_FLOOR)) / width), kh - max_bins + 1)
    if count > 0:
        lo_k = min(int(state[_P_LO]), kl)
        hi_k = max(int(state[_P_HI]), kh)
        if hi_k - lo_k >= max_bins:
            # The window spans more bins than the grid holds: restart the profile here.
            for k in range(max_bins):
                state[bins + k] = 0.0
                state[counts + k] = 0.0
            count = 0
            head = 0
    if count == 0:
        lo_k = kl
        hi_k = kh
        state[_P_TOTAL] = 0.0
        state[_P_DIRTY] = 1.0
    per_bin = v / (kh - kl + 1)
    dirty = state[_P_DIRTY] != 0.0
    best = state[_P_BEST]
    for k in range(kl, kh + 1):
        b = k & mask
        x = state[bins + b] + per_bin
        state[bins + b] = x
        state[counts + b] += 1.0
        state[_P_TOTAL] += per_bin
        if not dirty and (x > best or (x == best and k < poc)):
            best = x
            poc = k
    slot = ring + 3 * ((head + count) % window)
    state[slot] = kl
    state[slot + 1] = kh
    state[slot + 2] = per_bin
    count += 1
    state[_P_COUNT] = count
    state[_P_HEAD] = head
    state[_P_LO] = lo_k
    state[_P_HI] = hi_k
    if dirty:
        # The fullest bin, the lowest on ties.
        best = -1.0
        for k in range(lo_k, hi_k + 1):
            x = state[bins + (k & mask)]
            if x > best:
                best = x
                poc = k
        state[_P_DIRTY] = 0.0
    state[_P_BEST] = best
    state[_P_POC] = poc
    if count < window or not best > 0.0:
        return
    _value_area(state, bins, mask, lo_k, hi_k, poc, best, c, a, params, out)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _value_area(
    state: np.ndarray,
    bins: int,
    mask: int,
    lo_k: int,
    hi_k: int,
    poc: int,
    best: float,
    c: float,
    a: float,
    params: Params,
    out: np.ndarray,
) -> None:
    """Grow the value area from the POC towards the fuller neighbour; write the outputs."""
    width = params[6]
    target = params[7] * state[_P_TOTAL]
    acc = best
    up = poc + 1
    dn = poc - 1
    vu = state[bins + (up & mask)] if up <= hi_k else -1.0
    vd = state[bins + (dn & mask)] if dn >= lo_k else -1.0
    while acc < target and (vu >= 0.0 or vd >= 0.0):
        if vu >= vd:
            acc += vu
            up += 1
            vu = state[bins + (up & mask)] if up <= hi_k else -1.0
        else:
            acc += vd
            dn -= 1
            vd = state[bins + (dn & mask)] if dn >= lo_k else -1.0
    # Prices of grid edges, recomputed only when the bin changes.
    if state[_C_POC] != poc:
        state[_C_POC] = poc
        state[_C_POC_PRICE] = math.exp((poc + 0.5) * width)
    if state[_C_UP] != up:
        state[_C_UP] = up
        state[_C_VAH] = math.exp(up * width)
    if state[_C_DN] != dn:
        state[_C_DN] = dn
        state[_C_VAL] = math.exp((dn + 1) * width)
    poc_price = state[_C_POC_PRICE]
    vah = state[_C_VAH]
    val = state[_C_VAL]
    out[8] = poc_price
    out[9] = vah
    out[10] = val
    out[11] = (c - poc_price) / a if a > 0.0 else np.nan
    out[12] = 1.0 if c > vah else (-1.0 if c < val else 0.0)


def compute(candles: pd.DataFrame, cfg: ContextConfig | None = None) -> pd.DataFrame:
    """Return the context columns for every bar (reference batch path, Wilder ATR)."""
    cfg = cfg or ContextConfig()
    arrays = prepare(candles, cfg.atr_period)
    return step_frame(candles, arrays, step, init_state(cfg), make_params(cfg), COLUMNS)
