"""Order blocks and breaker blocks, known at the structure break they precede.

For each structure level, a tracker follows the leg since the latest confirmed swing high: its
lowest low so far and the last bearish candle at or before that low (the candle itself when no
bearish candle came first). When structure breaks that swing high upwards (BOS or CHoCH, see
:mod:`features.smc.structure`), that candle becomes a bullish order block: its range (``zone``:
wick or body) is a support zone, stamped at the break bar. Bearish blocks mirror this from swing
lows. Optional filters: a displacement candle inside the leg, a minimum relative volume of the
block candle (its volume over the EMA of volume before the break).

From the bar after the break, each block carries a state: untouched (0), tested (1: price
entered the zone; every new entry is a touch), mitigated (2: price reached ``mitigation`` of the
way through the zone). A close beyond the far side (or a wick, ``invalidate_on="wick"``)
invalidates it: it becomes a breaker block of the opposite direction on the same range, retired
in turn by a close back beyond its own far side. Nothing is deleted from history: every event is
logged for :func:`features.smc.detect_zones`; only the ``max_active`` most recent blocks per
table are tracked bar by bar.

Strength (0..100): ``100 * (w_disp * min(leg / disp_cap, 1) + w_volume * min(relvol / volume_cap,
1) + w_fvg * left_fvg) * touch_decay ** touches * 0.5 ** (age / half_life)``, where ``leg`` is the
move from the block to the break close in ATRs and ``left_fvg`` whether a same-direction FVG
formed inside the leg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import FLOAT64, INT32, ColumnSpec, age, count, flag, names, ratio, state
from features.smc import displacement, structure, swings
from features.smc import fvg as fvg_mod
from features.smc import tables as tb
from features.smc.frame import prepare
from features.smc.tables import NO_REFCOUNT

_STATES = ("untouched", "tested", "mitigated")
SPECS: tuple[ColumnSpec, ...] = (
    flag("ob_bull_new", "1 when a bullish block forms (at the structure break)", required=True),
    flag("ob_bear_new", "1 when a bearish block forms (at the structure break)", required=True),
    ratio("ob_new_strength", "score", 0.0, 100.0, "strength of the block formed at this bar"),
    ratio("ob_new_relvol", "x", 0.0, None, "relative volume of the block formed at this bar"),
    # float64: compute_mtf rebuilds the zone edge as close - dist * ATR from it.
    ratio(
        "ob_bull_dist",
        "ATR",
        0.0,
        None,
        "distance down to the nearest live bullish block (0 inside)",
        dtype=FLOAT64,
    ),
    state("ob_bull_state", _STATES, "that block's state"),
    count("ob_bull_touches", "that block's touches", dtype=INT32),
    ratio("ob_bull_depth", "fraction", 0.0, 1.0, "its deepest penetration"),
    age("ob_bull_age", "bars since it formed"),
    ratio(
        "ob_bull_strength", "score", 0.0, 100.0, "its strength now (decays with touches and age)"
    ),
    count("ob_bull_count", "live bullish blocks", required=True),
    ratio(
        "ob_bear_dist",
        "ATR",
        None,
        0.0,
        "signed distance up to the nearest live bearish block (0 inside)",
        dtype=FLOAT64,
    ),
    state("ob_bear_state", _STATES, "that block's state"),
    count("ob_bear_touches", "that block's touches", dtype=INT32),
    ratio("ob_bear_depth", "fraction", 0.0, 1.0, "its deepest penetration"),
    age("ob_bear_age", "bars since it formed"),
    ratio(
        "ob_bear_strength", "score", 0.0, 100.0, "its strength now (decays with touches and age)"
    ),
    count("ob_bear_count", "live bearish blocks", required=True),
    count("ob_bull_touch", "bullish blocks entered at this bar", required=True),
    count("ob_bull_mitigated", "bullish blocks mitigated at this bar", required=True),
    count(
        "ob_bull_invalidated",
        "bullish blocks invalidated (now breakers) at this bar",
        required=True,
    ),
    count("ob_bear_touch", "bearish blocks entered at this bar", required=True),
    count("ob_bear_mitigated", "bearish blocks mitigated at this bar", required=True),
    count(
        "ob_bear_invalidated",
        "bearish blocks invalidated (now breakers) at this bar",
        required=True,
    ),
    ratio(
        "ob_brk_bull_dist", "ATR", 0.0, None, "distance to the nearest bullish (support) breaker"
    ),
    count("ob_brk_bull_count", "live bullish breakers", required=True),
    count("ob_brk_bull_touch", "bullish breakers entered at this bar", required=True),
    ratio(
        "ob_brk_bear_dist",
        "ATR",
        None,
        0.0,
        "signed distance to the nearest bearish (resistance) breaker",
    ),
    count("ob_brk_bear_count", "live bearish breakers", required=True),
    count("ob_brk_bear_touch", "bearish breakers entered at this bar", required=True),
)
COLUMNS: tuple[str, ...] = names(SPECS)
BULL_NEW, BEAR_NEW, NEW_STRENGTH, NEW_RELVOL = range(4)
BULL_BLOCK, BEAR_BLOCK = 4, 11  # dist, state, touches, depth, age, strength, count
BULL_EVENTS, BEAR_EVENTS = 18, 21  # touch, mitigated, invalidated
BRK_BULL, BRK_BEAR = 24, 27  # dist, count, touch

# Block row fields (breakers use the same layout).
(
    _TOP,
    _BOTTOM,
    _FORMED,
    _CONF,
    _LEVEL,
    _STATE,
    _TOUCHES,
    _DEPTH,
    _IN_ZONE,
    _RELVOL,
    _DISP,
    _FVG,
    _BASE,
    _ID,
) = range(14)
_NF = 14
# Leg tracker fields.
(_T_VALID, _T_EXT, _T_CTOP, _T_CBOT, _T_CN, _T_CVOL, _T_OTOP, _T_OBOT, _T_ON, _T_OVOL) = range(10)
_TW = 10
# Header: the volume EMA; then 4 leg trackers ((level 0, bull), (level 0, bear), (level 1, bull),
# (level 1, bear)); then the tables: bull blocks, bear blocks, bull breakers, bear breakers.
_H_VOL_EMA = 0
_TRACKERS = 1

LEVEL_CHOICES = ("internal", "swing", "both")
_LN2 = float(np.log(2.0))
ZONES = ("wick", "body")
INVALIDATIONS = ("close", "wick")


@dataclass(frozen=True)
class OrderBlocksConfig:
    """Which breaks make blocks, how blocks are drawn, mitigated, filtered and scored."""

    levels: str = "both"
    zone: str = "wick"
    invalidate_on: str = "close"
    mitigation: float = 0.5
    require_displacement: bool = False
    min_relvol: float = 0.0
    volume_span: int = 20
    max_active: int = 16
    w_disp: float = 0.4
    w_volume: float = 0.3
    w_fvg: float = 0.3
    disp_cap: float = 3.0
    volume_cap: float = 2.0
    touch_decay: float = 0.75
    half_life: float = 288.0

    def __post_init__(self) -> None:
        for name, choices in (
            ("levels", LEVEL_CHOICES),
            ("zone", ZONES),
            ("invalidate_on", INVALIDATIONS),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"OrderBlocksConfig.{name} must be one of {choices}, "
                    f"got {getattr(self, name)!r}"
                )
        if not 0.0 < self.mitigation <= 1.0:
            raise ValueError(
                f"OrderBlocksConfig.mitigation must be in (0, 1], got {self.mitigation}"
            )
        if not self.min_relvol >= 0:
            raise ValueError(f"OrderBlocksConfig.min_relvol must be >= 0, got {self.min_relvol}")
        if not 1 <= self.volume_span <= 10_000:
            raise ValueError(
                f"OrderBlocksConfig.volume_span must be in 1..10000, got {self.volume_span}"
            )
        if not 1 <= self.max_active <= 256:
            raise ValueError(
                f"OrderBlocksConfig.max_active must be in 1..256, got {self.max_active}"
            )
        for name in ("w_disp", "w_volume", "w_fvg"):
            if not getattr(self, name) >= 0:
                raise ValueError(
                    f"OrderBlocksConfig.{name} must be >= 0, got {getattr(self, name)}"
                )
        if abs(self.w_disp + self.w_volume + self.w_fvg - 1.0) > 1e-9:
            raise ValueError("OrderBlocksConfig weights w_disp + w_volume + w_fvg must sum to 1")
        for name in ("disp_cap", "volume_cap", "half_life"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OrderBlocksConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.touch_decay <= 1.0:
            raise ValueError(
                f"OrderBlocksConfig.touch_decay must be in (0, 1], got {self.touch_decay}"
            )


def lookback(cfg: OrderBlocksConfig, swings_cfg: swings.SwingsConfig | None = None) -> int:
    """Return how many bars back ``step`` reads: the swing confirmation window it rescans."""
    swings_cfg = swings_cfg or swings.SwingsConfig()
    return max(swings_cfg.internal_right, swings_cfg.swing_right) + 1


def _layout(cap: int) -> tuple[int, int, int, int, int]:
    """Return the offsets of the four tables and the state size."""
    size = tb.table_size(cap, _NF)
    bull = _TRACKERS + 4 * _TW
    return bull, bull + size, bull + 2 * size, bull + 3 * size, bull + 4 * size


def init_state(cfg: OrderBlocksConfig) -> np.ndarray:
    """Return a fresh state: no volume average, idle trackers, empty tables."""
    bull, bear, bbull, bbear, size = _layout(cfg.max_active)
    state = np.full(size, np.nan)
    for t in range(4):
        state[_TRACKERS + t * _TW + _T_VALID] = 0.0
    for t0, side in ((bull, 1.0), (bear, -1.0), (bbull, 1.0), (bbear, -1.0)):
        tb.init_table(state, t0, side)
    return state


OBParams = tuple[
    int,
    int,
    int,
    int,
    float,
    int,
    float,
    float,
    int,
    float,
    float,
    float,
    float,
    float,
    float,
    float,
]


def make_params(cfg: OrderBlocksConfig) -> OBParams:
    """Return the numba parameter tuple."""
    return (
        1 if cfg.levels in ("internal", "both") else 0,
        1 if cfg.levels in ("swing", "both") else 0,
        1 if cfg.zone == "body" else 0,
        1 if cfg.invalidate_on == "close" else 0,
        float(cfg.mitigation),
        1 if cfg.require_displacement else 0,
        float(cfg.min_relvol),
        2.0 / (cfg.volume_span + 1.0),
        int(cfg.max_active),
        float(cfg.w_disp),
        float(cfg.w_volume),
        float(cfg.w_fvg),
        float(cfg.disp_cap),
        float(cfg.volume_cap),
        float(cfg.touch_decay),
        float(cfg.half_life),
    )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _track(
    state: np.ndarray,
    t0: int,
    d: float,
    ok: float,
    hk: float,
    lk: float,
    ck: float,
    vk: float,
    nk: int,
    body_zone: int,
) -> None:
    """Feed one bar to a leg tracker (bullish ``d=1``: lows and bearish candles)."""
    if state[t0 + _T_VALID] != 1.0:
        return
    top = max(ok, ck) if body_zone else hk
    bottom = min(ok, ck) if body_zone else lk
    if (ck < ok) if d > 0 else (ck > ok):
        state[t0 + _T_OTOP] = top
        state[t0 + _T_OBOT] = bottom
        state[t0 + _T_ON] = nk
        state[t0 + _T_OVOL] = vk
    ext = lk if d > 0 else hk
    cur = state[t0 + _T_EXT]
    if np.isnan(cur) or (ext < cur if d > 0 else ext > cur):
        state[t0 + _T_EXT] = ext
        if np.isnan(state[t0 + _T_ON]):
            state[t0 + _T_CTOP] = top
            state[t0 + _T_CBOT] = bottom
            state[t0 + _T_CN] = nk
            state[t0 + _T_CVOL] = vk
        else:
            state[t0 + _T_CTOP] = state[t0 + _T_OTOP]
            state[t0 + _T_CBOT] = state[t0 + _T_OBOT]
            state[t0 + _T_CN] = state[t0 + _T_ON]
            state[t0 + _T_CVOL] = state[t0 + _T_OVOL]


@njit(cache=True, **NO_REFCOUNT)
def _reset(
    state: np.ndarray,
    t0: int,
    d: float,
    i: int,
    n: int,
    age: float,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    body_zone: int,
) -> None:
    """Restart a tracker at a newly confirmed pivot ``age`` bars back and replay to bar ``i``."""
    state[t0 + _T_VALID] = 1.0
    for f in range(1, _TW):
        state[t0 + f] = np.nan
    back = int(age)
    for k in range(i - back, i + 1):
        _track(state, t0, d, o[k], h[k], lo[k], c[k], v[k], n - (i - k), body_zone)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _update_table(
    state: np.ndarray,
    t0: int,
    d: float,
    kind: float,
    hi: float,
    li: float,
    ci: float,
    n: int,
    on_close: int,
    mitigation: float,
    decay: float,
    brk_t0: int,
    cap: int,
    log: np.ndarray,
    logn: np.ndarray,
) -> tuple[float, float, float]:
    """Advance every live zone of a table by a bar; return (touches, mitigations, invalidations).

    ``d`` is the zone's direction (+1 support, -1 resistance). Invalidated order blocks
    (``brk_t0 >= 0``) become breakers of the opposite direction; invalidated breakers retire.
    """
    touched = 0.0
    mitigated = 0.0
    invalidated = 0.0
    # Price beyond every zone (the cached extreme) and no zone entered last bar: nothing to do.
    ext = state[t0 + tb.H_EXT]
    if state[t0 + tb.H_FLAG] == 0.0 and ((li > ext) if d > 0 else (hi < ext)):
        return touched, mitigated, invalidated
    k = tb.count(state, t0) - 1
    while k >= 0:
        r = tb.row(t0, _NF, k)
        top = state[r + _TOP]
        bottom = state[r + _BOTTOM]
        # Price away from this zone: it can only have left it.
        if (li > top) if d > 0 else (hi < bottom):
            state[r + _IN_ZONE] = 0.0
            k -= 1
            continue
        if d > 0:
            gone = (ci < bottom) if on_close else (li < bottom)
            depth = (top - li) / (top - bottom) if top > bottom else 1.0
        else:
            gone = (ci > top) if on_close else (hi > top)
            depth = (hi - bottom) / (top - bottom) if top > bottom else 1.0
        if gone:
            invalidated += 1.0
            tb.log_event(
                log,
                logn,
                state[r + _ID],
                tb.EV_INVALIDATE,
                n,
                kind,
                d,
                top,
                bottom,
                state[r + _FORMED],
                np.nan,
                np.nan,
            )
            if brk_t0 >= 0:
                _add_breaker(state, brk_t0, r, -d, n, cap, log, logn)
            tb.remove(state, t0, _NF, k)
        else:
            if state[r + _IN_ZONE] == 0.0:
                state[r + _IN_ZONE] = 1.0
                state[r + _TOUCHES] += 1.0
                state[r + _BASE] *= decay  # the score carries the touch decay
                touched += 1.0
                tb.log_event(
                    log,
                    logn,
                    state[r + _ID],
                    tb.EV_TOUCH,
                    n,
                    kind,
                    d,
                    top,
                    bottom,
                    state[r + _FORMED],
                    np.nan,
                    state[r + _TOUCHES],
                )
            depth = min(max(depth, 0.0), 1.0)
            if depth > state[r + _DEPTH]:
                state[r + _DEPTH] = depth
            if state[r + _DEPTH] >= mitigation and state[r + _STATE] < 2.0:
                state[r + _STATE] = 2.0
                mitigated += 1.0
                tb.log_event(
                    log,
                    logn,
                    state[r + _ID],
                    tb.EV_MITIGATE,
                    n,
                    kind,
                    d,
                    top,
                    bottom,
                    state[r + _FORMED],
                    np.nan,
                    state[r + _DEPTH],
                )
            elif state[r + _STATE] == 0.0:
                state[r + _STATE] = 1.0
        k -= 1
    tb.summarize(state, t0, _NF, d, _CONF, _IN_ZONE)
    if invalidated > 0 and brk_t0 >= 0:
        tb.summarize(state, brk_t0, _NF, -d, _CONF, _IN_ZONE)
    return touched, mitigated, invalidated


@njit(cache=True, **NO_REFCOUNT)
def _add_breaker(
    state: np.ndarray,
    t0: int,
    src: int,
    d: float,
    n: int,
    cap: int,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Open a breaker of direction ``d`` from the invalidated block at offset ``src``."""
    k, evicted = tb.claim(state, t0, _NF, cap, _CONF)
    r = tb.row(t0, _NF, k)
    if evicted:
        tb.log_event(
            log,
            logn,
            state[r + _ID],
            tb.EV_EXPIRE,
            n,
            tb.KIND_BREAKER,
            d,
            state[r + _TOP],
            state[r + _BOTTOM],
            state[r + _FORMED],
            np.nan,
            np.nan,
        )
    for f in range(_NF):
        state[r + f] = state[src + f]
    state[r + _CONF] = n
    state[r + _STATE] = 0.0
    state[r + _TOUCHES] = 0.0
    state[r + _DEPTH] = 0.0
    state[r + _IN_ZONE] = 0.0
    zid = tb.new_id(log, logn)
    state[r + _ID] = zid
    tb.log_event(
        log,
        logn,
        zid,
        tb.EV_CREATE,
        n,
        tb.KIND_BREAKER,
        d,
        state[r + _TOP],
        state[r + _BOTTOM],
        state[r + _FORMED],
        np.nan,
        state[src + _ID],
    )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _strength(state: np.ndarray, r: int, n: int, half_life: float) -> float:
    age = n - state[r + _CONF]
    return 100.0 * state[r + _BASE] * np.exp(-age * _LN2 / half_life)


@njit(cache=True, **NO_REFCOUNT)
def _create(
    state: np.ndarray,
    tr: int,
    d: float,
    level: int,
    n: int,
    ci: float,
    a: float,
    params: OBParams,
    disp: np.ndarray,
    fvg: np.ndarray,
    t0: int,
    log: np.ndarray,
    logn: np.ndarray,
    out: np.ndarray,
) -> None:
    """Turn tracker ``tr``'s candidate into a block at a structure break in direction ``d``."""
    require_disp = params[5]
    min_relvol = params[6]
    cap = params[8]
    w_disp, w_vol, w_fvg, disp_cap, vol_cap = (
        params[9],
        params[10],
        params[11],
        params[12],
        params[13],
    )
    if state[tr + _T_VALID] != 1.0 or np.isnan(state[tr + _T_CN]):
        return
    state[tr + _T_VALID] = 0.0
    cand_n = state[tr + _T_CN]
    top = state[tr + _T_CTOP]
    bottom = state[tr + _T_CBOT]
    for k in range(tb.count(state, t0)):
        if state[tb.row(t0, _NF, k) + _FORMED] == cand_n:
            return
    ema = state[_H_VOL_EMA]
    relvol = state[tr + _T_CVOL] / ema if ema > 0 else np.nan
    if min_relvol > 0 and not relvol >= min_relvol:
        return
    disp_since = disp[displacement.BULL_BARS_SINCE if d > 0 else displacement.BEAR_BARS_SINCE]
    if require_disp and not n - disp_since > cand_n:
        return
    fvg_since = fvg[fvg_mod.BULL_BARS_SINCE if d > 0 else fvg_mod.BEAR_BARS_SINCE]
    left_fvg = 1.0 if n - fvg_since >= cand_n + 2 else 0.0
    leg = (ci - bottom) / a if d > 0 else (top - ci) / a
    score = w_fvg * left_fvg
    if leg > 0:
        score += w_disp * min(leg / disp_cap, 1.0)
    if relvol > 0:
        score += w_vol * min(relvol / vol_cap, 1.0)
    k, evicted = tb.claim(state, t0, _NF, cap, _CONF)
    r = tb.row(t0, _NF, k)
    if evicted:
        tb.log_event(
            log,
            logn,
            state[r + _ID],
            tb.EV_EXPIRE,
            n,
            tb.KIND_OB,
            d,
            state[r + _TOP],
            state[r + _BOTTOM],
            state[r + _FORMED],
            np.nan,
            np.nan,
        )
    zid = tb.new_id(log, logn)
    state[r + _TOP] = top
    state[r + _BOTTOM] = bottom
    state[r + _FORMED] = cand_n
    state[r + _CONF] = n
    state[r + _LEVEL] = level
    state[r + _STATE] = 0.0
    state[r + _TOUCHES] = 0.0
    state[r + _DEPTH] = 0.0
    state[r + _IN_ZONE] = 0.0
    state[r + _RELVOL] = relvol
    state[r + _DISP] = leg
    state[r + _FVG] = left_fvg
    state[r + _BASE] = score
    state[r + _ID] = zid
    tb.summarize(state, t0, _NF, d, _CONF, _IN_ZONE)
    tb.log_event(
        log, logn, zid, tb.EV_CREATE, n, tb.KIND_OB, d, top, bottom, cand_n, 100.0 * score, level
    )
    out[BULL_NEW if d > 0 else BEAR_NEW] = 1.0
    if np.isnan(out[NEW_STRENGTH]) or 100.0 * score > out[NEW_STRENGTH]:
        out[NEW_STRENGTH] = 100.0 * score
        out[NEW_RELVOL] = relvol


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
    params: OBParams,
    out: np.ndarray,
    sw: np.ndarray,
    st: np.ndarray,
    disp: np.ndarray,
    fvg: np.ndarray,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Advance blocks and breakers by bar ``i``; form blocks at this bar's structure breaks.

    ``sw``, ``st``, ``disp`` and ``fvg`` are this bar's swing, structure, displacement and FVG
    columns.
    """
    use_int, use_ext, body_zone, on_close, mitigation = (
        params[0],
        params[1],
        params[2],
        params[3],
        params[4],
    )
    alpha = params[7]
    cap = params[8]
    decay, half_life = params[14], params[15]
    size = tb.TH + cap * _NF
    bull_t = _TRACKERS + 4 * _TW
    bear_t = bull_t + size
    bbull_t = bull_t + 2 * size
    bbear_t = bull_t + 3 * size
    hi, li, ci, a = h[i], lo[i], c[i], atr[i]
    # 1. Breakers, then blocks (which may add breakers tested only from the next bar). Per table:
    # its start, side, kind, mitigation level, the breaker table its invalidated zones open (-1:
    # none, they retire) and its first event column (touches; blocks add mitigations, breaks).
    tables = (
        (bbull_t, 1.0, tb.KIND_BREAKER, 2.0, -1, BRK_BULL + 2),
        (bbear_t, -1.0, tb.KIND_BREAKER, 2.0, -1, BRK_BEAR + 2),
        (bull_t, 1.0, tb.KIND_OB, mitigation, bbear_t, BULL_EVENTS),
        (bear_t, -1.0, tb.KIND_OB, mitigation, bbull_t, BEAR_EVENTS),
    )
    for t0, d, kind, mit, brk_t0, col in tables:
        ev = _update_table(
            state, t0, d, kind, hi, li, ci, n, on_close, mit, decay, brk_t0, cap, log, logn
        )
        out[col] = ev[0]
        if brk_t0 >= 0:
            out[col + 1] = ev[1]
            out[col + 2] = ev[2]
    # 2. Leg trackers see this bar.
    for t in range(4):
        d = 1.0 if t % 2 == 0 else -1.0
        _track(state, _TRACKERS + t * _TW, d, o[i], hi, li, ci, v[i], n, body_zone)
    # 3. Blocks at this bar's breaks (of swings confirmed before this bar).
    out[BULL_NEW] = 0.0
    out[BEAR_NEW] = 0.0
    out[NEW_STRENGTH] = np.nan
    out[NEW_RELVOL] = np.nan
    for lv in range(2):
        if (lv == 0 and use_int == 0) or (lv == 1 and use_ext == 0):
            continue
        s0 = lv * structure.LEVEL_WIDTH
        broke = st[s0 + structure.BOS] + st[s0 + structure.CHOCH]
        if broke > 0:
            _create(
                state,
                _TRACKERS + (2 * lv) * _TW,
                1.0,
                lv,
                n,
                ci,
                a,
                params,
                disp,
                fvg,
                bull_t,
                log,
                logn,
                out,
            )
        elif broke < 0:
            _create(
                state,
                _TRACKERS + (2 * lv + 1) * _TW,
                -1.0,
                lv,
                n,
                ci,
                a,
                params,
                disp,
                fvg,
                bear_t,
                log,
                logn,
                out,
            )
    # 4. Trackers restart at swings confirmed at this bar.
    for lv in range(2):
        w0 = lv * swings.LEVEL_WIDTH
        if sw[w0 + swings.HIGH_NEW] == 1.0:
            _reset(
                state,
                _TRACKERS + (2 * lv) * _TW,
                1.0,
                i,
                n,
                sw[w0 + swings.HIGH_AGE],
                o,
                h,
                lo,
                c,
                v,
                body_zone,
            )
        if sw[w0 + swings.LOW_NEW] == 1.0:
            _reset(
                state,
                _TRACKERS + (2 * lv + 1) * _TW,
                -1.0,
                i,
                n,
                sw[w0 + swings.LOW_AGE],
                o,
                h,
                lo,
                c,
                v,
                body_zone,
            )
    # 5. Nearest live blocks and breakers.
    for d in (1.0, -1.0):
        t0 = bull_t if d > 0 else bear_t
        col = BULL_BLOCK if d > 0 else BEAR_BLOCK
        k = tb.nearest(state, t0, _NF, d, ci, _CONF)
        if k >= 0:
            r = tb.row(t0, _NF, k)
            out[col] = tb.zone_distance(ci, state[r + _TOP], state[r + _BOTTOM]) / a
            out[col + 1] = state[r + _STATE]
            out[col + 2] = state[r + _TOUCHES]
            out[col + 3] = state[r + _DEPTH]
            out[col + 4] = n - state[r + _CONF]
            out[col + 5] = _strength(state, r, n, half_life)
        else:
            for f in range(6):
                out[col + f] = np.nan
        out[col + 6] = tb.count(state, t0)
    for d in (1.0, -1.0):
        t0 = bbull_t if d > 0 else bbear_t
        col = BRK_BULL if d > 0 else BRK_BEAR
        k = tb.nearest(state, t0, _NF, d, ci, _CONF)
        if k >= 0:
            r = tb.row(t0, _NF, k)
            out[col] = tb.zone_distance(ci, state[r + _TOP], state[r + _BOTTOM]) / a
        else:
            out[col] = np.nan
        out[col + 1] = tb.count(state, t0)
    # 6. Volume average after use, so a block's relative volume never includes the break bar.
    ema = state[_H_VOL_EMA]
    state[_H_VOL_EMA] = v[i] if np.isnan(ema) else ema + alpha * (v[i] - ema)


@njit(cache=True)
def _loop(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    atr: np.ndarray,
    states: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    sw_p: tuple[int, int, int, int],
    st_p: tuple[int],
    disp_p: tuple[int, float, float, float, int],
    fvg_p: tuple[float, int, int, int],
    params: OBParams,
    out: np.ndarray,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    sw_s, st_s, disp_s, fvg_s, state = states
    sw = np.empty(len(swings.COLUMNS))
    st = np.empty(len(structure.COLUMNS))
    dp = np.empty(len(displacement.COLUMNS))
    fv = np.empty(len(fvg_mod.COLUMNS))
    for i in range(ts.shape[0]):
        swings.step(i, i, ts, o, h, lo, c, v, atr, sw_s, sw_p, sw)
        structure.step(i, i, ts, o, h, lo, c, v, atr, st_s, st_p, st, sw)
        displacement.step(i, i, ts, o, h, lo, c, v, atr, disp_s, disp_p, dp)
        fvg_mod.step(i, i, ts, o, h, lo, c, v, atr, fvg_s, fvg_p, fv, log[:0], logn)
        step(i, i, ts, o, h, lo, c, v, atr, state, params, out[i], sw, st, dp, fv, log, logn)


def compute(
    candles: pd.DataFrame,
    cfg: OrderBlocksConfig | None = None,
    *,
    swings_cfg: swings.SwingsConfig | None = None,
    structure_cfg: structure.StructureConfig | None = None,
    displacement_cfg: displacement.DisplacementConfig | None = None,
    fvg_cfg: fvg_mod.FVGConfig | None = None,
    atr_period: int = 14,
) -> pd.DataFrame:
    """Return the order-block columns for every bar (reference batch path, with its inputs)."""
    cfg = cfg or OrderBlocksConfig()
    sw_c = swings_cfg or swings.SwingsConfig()
    st_c = structure_cfg or structure.StructureConfig()
    dp_c = displacement_cfg or displacement.DisplacementConfig()
    fv_c = fvg_cfg or fvg_mod.FVGConfig()
    ts, o, h, lo, c, v, atr = prepare(candles, atr_period)
    out = np.empty((ts.shape[0], len(COLUMNS)))
    log, logn = tb.no_log()
    states = (
        swings.init_state(sw_c),
        structure.init_state(st_c),
        displacement.init_state(dp_c),
        fvg_mod.init_state(fv_c),
        init_state(cfg),
    )
    _loop(
        ts,
        o,
        h,
        lo,
        c,
        v,
        atr,
        states,
        swings.make_params(sw_c),
        structure.make_params(st_c),
        displacement.make_params(dp_c),
        fvg_mod.make_params(fv_c),
        make_params(cfg),
        out,
        log,
        logn,
    )
    return pd.DataFrame(out, index=candles.index, columns=list(COLUMNS), copy=False)
