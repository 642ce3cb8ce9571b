"""Fair value gaps: three-candle imbalances, their causal fill, and inverse FVGs.

A bullish FVG is known at the third candle ``t`` when ``low[t] > high[t-2]`` (the gap
``[high[t-2], low[t]]``), optionally with a bullish middle candle, and the gap is at least
``min_size`` (ATRs at ``t``, or basis points of ``close[t]``). From bar ``t+1`` on its fill is
the deepest fraction of the gap traded into so far (``(top - low) / (top - bottom)``, clipped to
0..1). It is *filled* when a wick reaches its far side, and *invalidated* when a candle closes
beyond the far side: it then becomes a bearish inverse FVG (resistance) on the same price range,
itself retired by a close back above its top. Bearish gaps mirror all of this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import FLOAT64, ColumnSpec, age, count, flag, names, ratio
from features.smc import tables as tb
from features.smc.frame import prepare, step_frame
from features.smc.tables import NO_REFCOUNT

SPECS: tuple[ColumnSpec, ...] = (
    flag("fvg_bull_new", "1 when a bullish gap is confirmed (its third candle)", required=True),
    flag("fvg_bear_new", "1 when a bearish gap is confirmed (its third candle)", required=True),
    ratio("fvg_new_size_atr", "ATR", 0.0, None, "the new gap's size in ATRs"),
    # float64: compute_mtf rebuilds the zone edge as close - dist * ATR from it.
    ratio(
        "fvg_bull_dist",
        "ATR",
        0.0,
        None,
        "distance down to the nearest live bullish gap (0 inside)",
        dtype=FLOAT64,
    ),
    ratio("fvg_bull_fill", "fraction", 0.0, 1.0, "that gap's fill"),
    age("fvg_bull_age", "bars since that gap was confirmed"),
    count("fvg_bull_count", "live bullish gaps", required=True),
    ratio(
        "fvg_bear_dist",
        "ATR",
        None,
        0.0,
        "signed distance up to the nearest live bearish gap (0 inside)",
        dtype=FLOAT64,
    ),
    ratio("fvg_bear_fill", "fraction", 0.0, 1.0, "that gap's fill"),
    age("fvg_bear_age", "bars since that gap was confirmed"),
    count("fvg_bear_count", "live bearish gaps", required=True),
    count("fvg_bull_filled", "bullish gaps filled at this bar", required=True),
    count(
        "fvg_bull_inverted", "bullish gaps closed through (now inverse) at this bar", required=True
    ),
    count("fvg_bear_filled", "bearish gaps filled at this bar", required=True),
    count(
        "fvg_bear_inverted", "bearish gaps closed through (now inverse) at this bar", required=True
    ),
    ratio(
        "fvg_ibull_dist", "ATR", 0.0, None, "distance to the nearest bullish (support) inverse gap"
    ),
    count("fvg_ibull_count", "live bullish inverse gaps", required=True),
    ratio(
        "fvg_ibear_dist",
        "ATR",
        None,
        0.0,
        "signed distance to the nearest bearish (resistance) inverse gap",
    ),
    count("fvg_ibear_count", "live bearish inverse gaps", required=True),
    age("fvg_bull_bars_since", "bars since the last new bullish gap"),
    age("fvg_bear_bars_since", "bars since the last new bearish gap"),
)
COLUMNS: tuple[str, ...] = names(SPECS)
(
    BULL_NEW,
    BEAR_NEW,
    NEW_SIZE_ATR,
    BULL_DIST,
    BULL_FILL,
    BULL_AGE,
    BULL_COUNT,
    BEAR_DIST,
    BEAR_FILL,
    BEAR_AGE,
    BEAR_COUNT,
    BULL_FILLED,
    BULL_INVERTED,
    BEAR_FILLED,
    BEAR_INVERTED,
    IBULL_DIST,
    IBULL_COUNT,
    IBEAR_DIST,
    IBEAR_COUNT,
    BULL_BARS_SINCE,
    BEAR_BARS_SINCE,
) = range(21)

# Gap table fields (top, bottom first, as every zone table).
_TOP, _BOTTOM, _FORMED, _CONF, _FILL, _ID, _SIZE = range(7)
_NF = 7
# Inverse table fields.
_ITOP, _IBOTTOM, _IFORMED, _ICONF, _IID = range(5)
_INF = 5
# Header: last bull/bear gap bar; then the tables.
_H_LAST_BULL, _H_LAST_BEAR = range(2)
_HEADER = 2

SIZE_UNITS = ("atr", "bps")


@dataclass(frozen=True)
class FVGConfig:
    """Minimum gap size and how many live gaps to track per table."""

    min_size: float = 0.25
    size_unit: str = "atr"
    require_middle_direction: bool = True
    max_active: int = 16

    def __post_init__(self) -> None:
        if not self.min_size >= 0:
            raise ValueError(f"FVGConfig.min_size must be >= 0, got {self.min_size}")
        if self.size_unit not in SIZE_UNITS:
            raise ValueError(
                f"FVGConfig.size_unit must be one of {SIZE_UNITS}, got {self.size_unit!r}"
            )
        if not 1 <= self.max_active <= 256:
            raise ValueError(f"FVGConfig.max_active must be in 1..256, got {self.max_active}")


def lookback(cfg: FVGConfig) -> int:
    """Return how many bars back ``step`` reads (the three candles)."""
    return 3


def _layout(cap: int) -> tuple[int, int, int, int, int]:
    """Return the offsets of the bull, bear, inverse bull, inverse bear tables and the size."""
    bull = _HEADER
    bear = bull + tb.table_size(cap, _NF)
    ibull = bear + tb.table_size(cap, _NF)
    ibear = ibull + tb.table_size(cap, _INF)
    return bull, bear, ibull, ibear, ibear + tb.table_size(cap, _INF)


def init_state(cfg: FVGConfig) -> np.ndarray:
    """Return a fresh state: empty tables."""
    bull, bear, ibull, ibear, size = _layout(cfg.max_active)
    state = np.full(size, np.nan)
    for t0, side in ((bull, 1.0), (bear, -1.0), (ibull, 1.0), (ibear, -1.0)):
        tb.init_table(state, t0, side)
    return state


def make_params(cfg: FVGConfig) -> tuple[float, int, int, int]:
    """Return ``(min_size, size_in_bps, require_middle_direction, max_active)``."""
    return (
        float(cfg.min_size),
        1 if cfg.size_unit == "bps" else 0,
        1 if cfg.require_middle_direction else 0,
        int(cfg.max_active),
    )


@njit(cache=True, **NO_REFCOUNT)
def _add_inverse(
    state: np.ndarray,
    t0: int,
    cap: int,
    top: float,
    bottom: float,
    formed: float,
    n: int,
    side: float,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Open an inverse gap of side ``side`` on ``[bottom, top]`` at bar ``n``."""
    k, evicted = tb.claim(state, t0, _INF, cap, _ICONF)
    r = tb.row(t0, _INF, k)
    if evicted:
        tb.log_event(
            log,
            logn,
            state[r + _IID],
            tb.EV_EXPIRE,
            n,
            tb.KIND_IFVG,
            side,
            state[r + _ITOP],
            state[r + _IBOTTOM],
            state[r + _IFORMED],
            np.nan,
            np.nan,
        )
    zid = tb.new_id(log, logn)
    state[r + _ITOP] = top
    state[r + _IBOTTOM] = bottom
    state[r + _IFORMED] = formed
    state[r + _ICONF] = n
    state[r + _IID] = zid
    tb.log_event(
        log, logn, zid, tb.EV_CREATE, n, tb.KIND_IFVG, side, top, bottom, formed, np.nan, np.nan
    )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _update_inverse(
    state: np.ndarray,
    t0: int,
    side: float,
    ci: float,
    n: int,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Retire inverse gaps closed through: support below its bottom, resistance above its top."""
    changed = False
    k = tb.count(state, t0) - 1
    while k >= 0:
        r = tb.row(t0, _INF, k)
        if ci < state[r + _IBOTTOM] if side > 0 else ci > state[r + _ITOP]:
            tb.log_event(
                log,
                logn,
                state[r + _IID],
                tb.EV_INVALIDATE,
                n,
                tb.KIND_IFVG,
                side,
                state[r + _ITOP],
                state[r + _IBOTTOM],
                state[r + _IFORMED],
                np.nan,
                np.nan,
            )
            tb.remove(state, t0, _INF, k)
            changed = True
        k -= 1
    if changed:
        tb.summarize(state, t0, _INF, side, _ICONF, -1)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _update_gaps(
    state: np.ndarray,
    t0: int,
    side: float,
    hi: float,
    li: float,
    ci: float,
    n: int,
    inv_t0: int,
    cap: int,
    log: np.ndarray,
    logn: np.ndarray,
) -> tuple[float, float]:
    """Update fills; retire filled gaps; turn closed-through gaps into inverse gaps.

    Returns the number of gaps filled and inverted at this bar.
    """
    filled = 0.0
    inverted = 0.0
    # Price beyond every gap (the cached extreme): nothing can fill, nothing can close through.
    ext = state[t0 + tb.H_EXT]
    if (li >= ext) if side > 0 else (hi <= ext):
        return filled, inverted
    k = tb.count(state, t0) - 1
    while k >= 0:
        r = tb.row(t0, _NF, k)
        top = state[r + _TOP]
        bottom = state[r + _BOTTOM]
        if (li >= top) if side > 0 else (hi <= bottom):
            k -= 1
            continue
        height = top - bottom
        depth = (top - li) / height if side > 0 else (hi - bottom) / height
        depth = min(max(depth, 0.0), 1.0)
        if depth > state[r + _FILL]:
            state[r + _FILL] = depth
        zid = state[r + _ID]
        formed = state[r + _FORMED]
        if ci < bottom if side > 0 else ci > top:
            inverted += 1.0
            tb.log_event(
                log,
                logn,
                zid,
                tb.EV_INVALIDATE,
                n,
                tb.KIND_FVG,
                side,
                top,
                bottom,
                formed,
                np.nan,
                np.nan,
            )
            tb.remove(state, t0, _NF, k)
            _add_inverse(state, inv_t0, cap, top, bottom, formed, n, -side, log, logn)
        elif state[r + _FILL] >= 1.0:
            filled += 1.0
            tb.log_event(
                log,
                logn,
                zid,
                tb.EV_FILL,
                n,
                tb.KIND_FVG,
                side,
                top,
                bottom,
                formed,
                np.nan,
                np.nan,
            )
            tb.remove(state, t0, _NF, k)
        k -= 1
    if filled + inverted > 0:
        tb.summarize(state, t0, _NF, side, _CONF, -1)
    if inverted > 0:
        tb.summarize(state, inv_t0, _INF, -side, _ICONF, -1)
    return filled, inverted


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _detect(
    i: int,
    n: int,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    a: float,
    min_size: float,
    in_bps: int,
    need_middle: int,
) -> tuple[float, float, float]:
    """Return ``(direction, top, bottom)`` of a gap confirmed at bar ``i`` (direction 0: none)."""
    if n < 2:
        return 0.0, 0.0, 0.0
    direction = 0.0
    top = 0.0
    bottom = 0.0
    if lo[i] > h[i - 2] and (need_middle == 0 or c[i - 1] > o[i - 1]):
        direction, top, bottom = 1.0, lo[i], h[i - 2]
    elif h[i] < lo[i - 2] and (need_middle == 0 or c[i - 1] < o[i - 1]):
        direction, top, bottom = -1.0, lo[i - 2], h[i]
    if direction == 0.0 or min_size == 0.0:
        return direction, top, bottom
    size = top - bottom
    big = size >= min_size * c[i] / 10_000.0 if in_bps else size >= min_size * a
    return (direction, top, bottom) if big else (0.0, 0.0, 0.0)


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
    params: tuple[float, int, int, int],
    out: np.ndarray,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Advance every gap by bar ``i``, detect a new gap at ``i`` and write the FVG columns."""
    min_size, in_bps, need_middle, cap = params
    bull_t = _HEADER
    bear_t = bull_t + tb.TH + cap * _NF
    ibull_t = bear_t + tb.TH + cap * _NF
    ibear_t = ibull_t + tb.TH + cap * _INF
    hi, li, ci, a = h[i], lo[i], c[i], atr[i]
    # Inverse gaps first, so that those born at this bar are only tested from the next one.
    _update_inverse(state, ibull_t, 1.0, ci, n, log, logn)
    _update_inverse(state, ibear_t, -1.0, ci, n, log, logn)
    bf, bi = _update_gaps(state, bull_t, 1.0, hi, li, ci, n, ibear_t, cap, log, logn)
    sf, si = _update_gaps(state, bear_t, -1.0, hi, li, ci, n, ibull_t, cap, log, logn)
    out[BULL_FILLED] = bf
    out[BULL_INVERTED] = bi
    out[BEAR_FILLED] = sf
    out[BEAR_INVERTED] = si
    # A new gap at this bar (the third candle).
    out[BULL_NEW] = 0.0
    out[BEAR_NEW] = 0.0
    out[NEW_SIZE_ATR] = np.nan
    direction, top, bottom = _detect(i, n, o, h, lo, c, a, min_size, in_bps, need_middle)
    if direction != 0.0:
        t0 = bull_t if direction > 0 else bear_t
        k, evicted = tb.claim(state, t0, _NF, cap, _CONF)
        r = tb.row(t0, _NF, k)
        if evicted:
            tb.log_event(
                log,
                logn,
                state[r + _ID],
                tb.EV_EXPIRE,
                n,
                tb.KIND_FVG,
                direction,
                state[r + _TOP],
                state[r + _BOTTOM],
                state[r + _FORMED],
                np.nan,
                state[r + _FILL],
            )
        zid = tb.new_id(log, logn)
        size_atr = (top - bottom) / a
        state[r + _TOP] = top
        state[r + _BOTTOM] = bottom
        state[r + _FORMED] = n - 2
        state[r + _CONF] = n
        state[r + _FILL] = 0.0
        state[r + _ID] = zid
        state[r + _SIZE] = size_atr
        tb.summarize(state, t0, _NF, direction, _CONF, -1)
        tb.log_event(
            log,
            logn,
            zid,
            tb.EV_CREATE,
            n,
            tb.KIND_FVG,
            direction,
            top,
            bottom,
            n - 2,
            np.nan,
            size_atr,
        )
        out[NEW_SIZE_ATR] = size_atr
        if direction > 0:
            out[BULL_NEW] = 1.0
            state[_H_LAST_BULL] = n
        else:
            out[BEAR_NEW] = 1.0
            state[_H_LAST_BEAR] = n
    out[BULL_BARS_SINCE] = n - state[_H_LAST_BULL]
    out[BEAR_BARS_SINCE] = n - state[_H_LAST_BEAR]
    # Nearest live zones.
    for side in (1.0, -1.0):
        t0 = bull_t if side > 0 else bear_t
        col = BULL_DIST if side > 0 else BEAR_DIST
        k = tb.nearest(state, t0, _NF, side, ci, _CONF)
        if k >= 0:
            r = tb.row(t0, _NF, k)
            out[col] = tb.zone_distance(ci, state[r + _TOP], state[r + _BOTTOM]) / a
            out[col + 1] = state[r + _FILL]
            out[col + 2] = n - state[r + _CONF]
        else:
            out[col] = np.nan
            out[col + 1] = np.nan
            out[col + 2] = np.nan
        out[col + 3] = tb.count(state, t0)
    for side in (1.0, -1.0):
        t0 = ibull_t if side > 0 else ibear_t
        col = IBULL_DIST if side > 0 else IBEAR_DIST
        k = tb.nearest(state, t0, _INF, side, ci, _ICONF)
        if k >= 0:
            r = tb.row(t0, _INF, k)
            out[col] = tb.zone_distance(ci, state[r + _ITOP], state[r + _IBOTTOM]) / a
        else:
            out[col] = np.nan
        out[col + 1] = tb.count(state, t0)


def compute(
    candles: pd.DataFrame, cfg: FVGConfig | None = None, *, atr_period: int = 14
) -> pd.DataFrame:
    """Return the FVG columns for every bar (reference batch path)."""
    cfg = cfg or FVGConfig()
    arrays = prepare(candles, atr_period)
    state, params = init_state(cfg), make_params(cfg)
    return step_frame(candles, arrays, step, state, params, COLUMNS, tb.no_log())
