"""Liquidity: buy-side and sell-side pools, equal highs/lows, sweeps and runs, day/week levels.

Pools come from pivots of length ``pivot_length`` (confirmed ``pivot_length`` bars after the
pivot, as in :mod:`features.smc.swings`). Each confirmed pivot high rests buy-side liquidity
(BSL) at its high; a later pivot high within ``equal_tolerance`` ATRs (the ATR at its
confirmation, never a dataset-wide range) joins that pool instead of making a new one: two or
more make equal highs. Pools never move: their level is the first pivot's price. Sell-side (SSL)
pools mirror this on lows.

From the bar after its confirmation, the first bar whose high trades more than
``sweep_margin`` ATRs above a BSL pool takes it: a *sweep* when that bar closes back at or below
the level, a *run* when it closes above. Either way the pool is spent.

Previous day and week high/low (UTC days, ISO weeks from Monday 00:00 UTC) are known at the
close of the last candle of that day/week (its close time reaches the day's end), or at the first
candle of the next one when the data has a gap. A first day (week) that the data starts inside is
incomplete and is skipped. Each level is swept or run at most once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.candles.schema import Timeframe
from features.schema import FLOAT64, ColumnSpec, age, count, flag, names, price, ratio
from features.smc import tables as tb
from features.smc.frame import prepare, step_frame
from features.smc.swings import is_pivot_high, is_pivot_low
from features.smc.tables import NO_REFCOUNT

SPECS: tuple[ColumnSpec, ...] = (
    # float64 (both distances): read by the strategies.
    ratio(
        "liq_bsl_dist",
        "ATR",
        0.0,
        None,
        "distance up to the nearest buy-side pool",
        dtype=FLOAT64,
    ),
    count("liq_bsl_count", "pivots resting in that pool (2+: equal highs)", lo=1.0),
    count("liq_bsl_n", "live buy-side pools", required=True),
    ratio(
        "liq_ssl_dist",
        "ATR",
        0.0,
        None,
        "distance down to the nearest sell-side pool",
        dtype=FLOAT64,
    ),
    count("liq_ssl_count", "pivots resting in that pool (2+: equal lows)", lo=1.0),
    count("liq_ssl_n", "live sell-side pools", required=True),
    flag("liq_eqh_new", "1 when a pool becomes equal highs", required=True),
    flag("liq_eql_new", "1 when a pool becomes equal lows", required=True),
    ratio("liq_eqh_dist", "ATR", 0.0, None, "distance to the nearest equal-highs pool"),
    ratio("liq_eql_dist", "ATR", 0.0, None, "distance to the nearest equal-lows pool"),
    flag(
        "liq_bsl_sweep",
        "1 when a buy-side pool is swept (wick beyond, close back inside)",
        required=True,
    ),
    flag("liq_bsl_run", "1 when a buy-side pool is run (close beyond)", required=True),
    flag("liq_ssl_sweep", "1 when a sell-side pool is swept", required=True),
    flag("liq_ssl_run", "1 when a sell-side pool is run", required=True),
    count(
        "liq_bsl_swept_count", "the largest buy-side pool count taken at this bar", required=True
    ),
    count(
        "liq_ssl_swept_count", "the largest sell-side pool count taken at this bar", required=True
    ),
    age("liq_bsl_sweep_bars_since", "bars since the last buy-side sweep"),
    age("liq_ssl_sweep_bars_since", "bars since the last sell-side sweep"),
    price("liq_pdh", "previous UTC day's high"),
    price("liq_pdl", "previous UTC day's low"),
    ratio("liq_pdh_dist", "ATR", None, None, "(pdh - close) / ATR"),
    ratio("liq_pdl_dist", "ATR", None, None, "(close - pdl) / ATR"),
    flag("liq_pdh_sweep", "1 at the first sweep of the previous day's high", required=True),
    flag("liq_pdh_run", "1 at the first run of the previous day's high", required=True),
    flag("liq_pdl_sweep", "1 at the first sweep of the previous day's low", required=True),
    flag("liq_pdl_run", "1 at the first run of the previous day's low", required=True),
    price("liq_pwh", "previous ISO week's high"),
    price("liq_pwl", "previous ISO week's low"),
    ratio("liq_pwh_dist", "ATR", None, None, "(pwh - close) / ATR"),
    ratio("liq_pwl_dist", "ATR", None, None, "(close - pwl) / ATR"),
    flag("liq_pwh_sweep", "1 at the first sweep of the previous week's high", required=True),
    flag("liq_pwh_run", "1 at the first run of the previous week's high", required=True),
    flag("liq_pwl_sweep", "1 at the first sweep of the previous week's low", required=True),
    flag("liq_pwl_run", "1 at the first run of the previous week's low", required=True),
)
COLUMNS: tuple[str, ...] = names(SPECS)
(
    BSL_DIST,
    BSL_COUNT,
    BSL_N,
    SSL_DIST,
    SSL_COUNT,
    SSL_N,
    EQH_NEW,
    EQL_NEW,
    EQH_DIST,
    EQL_DIST,
    BSL_SWEEP,
    BSL_RUN,
    SSL_SWEEP,
    SSL_RUN,
    BSL_SWEPT_COUNT,
    SSL_SWEPT_COUNT,
    BSL_SINCE,
    SSL_SINCE,
) = range(18)
PDH_BLOCK, PWH_BLOCK = 18, 26  # high, low, high_dist, low_dist, high sweep/run, low sweep/run

# Pool row fields: a pool is a zone with top == bottom == its level.
_LEVEL, _LEVEL_B, _COUNT, _FORMED, _CONF, _EQ_N, _ID = range(7)
_NF = 7
# Period tracker (day or week): id, current high/low, complete flag, previous high/low, taken.
(
    _P_ID,
    _P_HI,
    _P_LO,
    _P_FULL,
    _P_PHI,
    _P_PLO,
    _P_HI_TAKEN,
    _P_LO_TAKEN,
    _P_FIRST,
    _P_HI_ID,
    _P_LO_ID,
) = range(11)
_PW = 11
# Header: last sweep bars; then the day and week trackers; then the BSL and SSL pool tables
# (BSL pools rest above price: a resistance-side table; SSL pools a support-side one).
_H_BSL_LAST, _H_SSL_LAST = range(2)
_DAY = 2
_WEEK = _DAY + _PW
_HEADER = _WEEK + _PW

_DAY_NS = 86_400_000_000_000


@dataclass(frozen=True)
class LiquidityConfig:
    """Pool pivots, equal-level tolerance and sweep margin (ATRs), candle timeframe."""

    pivot_length: int = 3
    equal_tolerance: float = 0.1
    sweep_margin: float = 0.0
    max_active: int = 16
    timeframe: str = "5m"

    def __post_init__(self) -> None:
        if not isinstance(self.pivot_length, int) or not 1 <= self.pivot_length <= 200:
            raise ValueError(
                f"LiquidityConfig.pivot_length must be an int in 1..200, got {self.pivot_length!r}"
            )
        if not self.equal_tolerance >= 0:
            raise ValueError(
                f"LiquidityConfig.equal_tolerance must be >= 0, got {self.equal_tolerance}"
            )
        if not self.sweep_margin >= 0:
            raise ValueError(f"LiquidityConfig.sweep_margin must be >= 0, got {self.sweep_margin}")
        if not 1 <= self.max_active <= 256:
            raise ValueError(f"LiquidityConfig.max_active must be in 1..256, got {self.max_active}")
        try:
            Timeframe.parse(self.timeframe)
        except ValueError as exc:
            raise ValueError(f"LiquidityConfig.timeframe: {exc}") from None


def lookback(cfg: LiquidityConfig) -> int:
    """Return how many bars back ``step`` reads (the pool pivot window)."""
    return 2 * cfg.pivot_length + 1


def init_state(cfg: LiquidityConfig) -> np.ndarray:
    """Return a fresh state: no pools, no day or week seen."""
    size = tb.table_size(cfg.max_active, _NF)
    state = np.full(_HEADER + 2 * size, np.nan)
    tb.init_table(state, _HEADER, -1.0)
    tb.init_table(state, _HEADER + size, 1.0)
    return state


def make_params(cfg: LiquidityConfig) -> tuple[int, float, float, int, int]:
    """Return ``(pivot_length, equal_tolerance, sweep_margin, max_active, timeframe_ns)``."""
    return (
        int(cfg.pivot_length),
        float(cfg.equal_tolerance),
        float(cfg.sweep_margin),
        int(cfg.max_active),
        int(Timeframe.parse(cfg.timeframe).ns),
    )


@njit(cache=True, **NO_REFCOUNT)
def _summary(state: np.ndarray, t0: int, d: float) -> None:
    """Rebuild a pool table's cache, and the nearest equal pool beyond price (``H_AUX``)."""
    side = -d  # buy-side pools rest above price: the resistance side
    tb.summarize(state, t0, _NF, side, _CONF, -1)
    best = -1
    best_level = np.inf if d > 0 else -np.inf
    for k in range(tb.count(state, t0)):
        r = tb.row(t0, _NF, k)
        level = state[r + _LEVEL]
        if state[r + _COUNT] >= 2.0 and ((level < best_level) if d > 0 else (level > best_level)):
            best = k
            best_level = level
    state[t0 + tb.H_AUX] = best


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _take_pools(
    state: np.ndarray,
    t0: int,
    d: float,
    hi: float,
    li: float,
    ci: float,
    margin: float,
    n: int,
    log: np.ndarray,
    logn: np.ndarray,
) -> tuple[float, float, float]:
    """Spend the pools this bar trades beyond; return (sweeps, runs, max count taken)."""
    sweeps = 0.0
    runs = 0.0
    best = 0.0
    ext = state[t0 + tb.H_EXT]  # the lowest BSL level / the highest SSL level
    if (hi <= ext + margin) if d > 0 else (li >= ext - margin):
        return sweeps, runs, best
    k = tb.count(state, t0) - 1
    while k >= 0:
        r = tb.row(t0, _NF, k)
        level = state[r + _LEVEL]
        if (hi > level + margin) if d > 0 else (li < level - margin):
            run = ci > level if d > 0 else ci < level
            if run:
                runs += 1.0
            else:
                sweeps += 1.0
            best = max(best, state[r + _COUNT])
            tb.log_event(
                log,
                logn,
                state[r + _ID],
                tb.EV_RUN if run else tb.EV_SWEEP,
                n,
                tb.KIND_POOL,
                d,
                level,
                level,
                state[r + _FORMED],
                state[r + _COUNT],
                np.nan,
            )
            tb.remove(state, t0, _NF, k)
        k -= 1
    if sweeps + runs > 0:
        _summary(state, t0, d)
    return sweeps, runs, best


@njit(cache=True, **NO_REFCOUNT)
def _add_pivot(
    state: np.ndarray,
    t0: int,
    cap: int,
    d: float,
    level: float,
    p: int,
    n: int,
    tol: float,
    log: np.ndarray,
    logn: np.ndarray,
) -> bool:
    """Rest a confirmed pivot's liquidity; return True when it makes an equal high/low."""
    best = -1
    best_gap = np.inf
    for k in range(tb.count(state, t0)):
        gap = abs(state[tb.row(t0, _NF, k) + _LEVEL] - level)
        if gap <= tol and gap < best_gap:
            best = k
            best_gap = gap
    if best >= 0:
        r = tb.row(t0, _NF, best)
        state[r + _COUNT] += 1.0
        if state[r + _COUNT] == 2.0:
            state[r + _EQ_N] = n
        tb.log_event(
            log,
            logn,
            state[r + _ID],
            tb.EV_EQUAL,
            n,
            tb.KIND_POOL,
            d,
            level,
            level,
            p,
            state[r + _COUNT],
            level,
        )
        _summary(state, t0, d)
        return state[r + _COUNT] == 2.0
    k, evicted = tb.claim(state, t0, _NF, cap, _CONF)
    r = tb.row(t0, _NF, k)
    if evicted:
        tb.log_event(
            log,
            logn,
            state[r + _ID],
            tb.EV_EXPIRE,
            n,
            tb.KIND_POOL,
            d,
            state[r + _LEVEL],
            state[r + _LEVEL],
            state[r + _FORMED],
            state[r + _COUNT],
            np.nan,
        )
    zid = tb.new_id(log, logn)
    state[r + _LEVEL] = level
    state[r + _LEVEL_B] = level
    state[r + _COUNT] = 1.0
    state[r + _FORMED] = p
    state[r + _CONF] = n
    state[r + _EQ_N] = np.nan
    state[r + _ID] = zid
    tb.log_event(log, logn, zid, tb.EV_CREATE, n, tb.KIND_POOL, d, level, level, p, 1.0, np.nan)
    _summary(state, t0, d)
    return False


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _nearest_equal(state: np.ndarray, t0: int, d: float, ci: float) -> int:
    """Return the row of the equal pool (count >= 2) nearest to ``ci``, or -1."""
    ext = state[t0 + tb.H_EXT]
    if (ci < ext) if d > 0 else (ci > ext):
        return int(state[t0 + tb.H_AUX])
    best = -1
    best_gap = np.inf
    for k in range(tb.count(state, t0)):
        r = tb.row(t0, _NF, k)
        gap = abs(state[r + _LEVEL] - ci)
        if state[r + _COUNT] >= 2.0 and gap < best_gap:
            best = k
            best_gap = gap
    return best


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _day_of(t: int, known: float) -> int:
    """Return the UTC day index of ``t``; the last bar's day is tried first (no division)."""
    if known == known:  # not NaN
        day = int(known)
        start = day * _DAY_NS
        if start <= t < start + _DAY_NS:
            return day
    return t // _DAY_NS


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _week_of(day: int, known: float) -> int:
    """Return the ISO week index (weeks start on Monday, 1970-01-05 is week 1) of a day."""
    if known == known:
        week = int(known)
        first = week * 7 - 3
        if first <= day < first + 7:
            return week
    return (day + 3) // 7


@njit(cache=True, **NO_REFCOUNT)
def _roll(
    state: np.ndarray, p0: int, n: int, kind: float, log: np.ndarray, logn: np.ndarray
) -> None:
    """Make the current period's high/low the previous period's levels (known at bar ``n``)."""
    hi = state[p0 + _P_HI]
    lo = state[p0 + _P_LO]
    state[p0 + _P_PHI] = hi
    state[p0 + _P_PLO] = lo
    state[p0 + _P_HI_TAKEN] = 0.0
    state[p0 + _P_LO_TAKEN] = 0.0
    if log.shape[0] > 0:
        first = state[p0 + _P_FIRST]
        state[p0 + _P_HI_ID] = tb.new_id(log, logn)
        tb.log_event(
            log,
            logn,
            state[p0 + _P_HI_ID],
            tb.EV_CREATE,
            n,
            kind,
            1.0,
            hi,
            hi,
            first,
            np.nan,
            np.nan,
        )
        state[p0 + _P_LO_ID] = tb.new_id(log, logn)
        tb.log_event(
            log,
            logn,
            state[p0 + _P_LO_ID],
            tb.EV_CREATE,
            n,
            kind,
            -1.0,
            lo,
            lo,
            first,
            np.nan,
            np.nan,
        )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _period(
    state: np.ndarray,
    p0: int,
    kind: float,
    pid: int,
    first_bar: bool,
    start_ns: int,
    end_ns: int,
    n: int,
    ts_i: int,
    tf_ns: int,
    hi: float,
    li: float,
    ci: float,
    margin: float,
    a: float,
    out: np.ndarray,
    o0: int,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Advance a day/week tracker by one bar and write its 8 columns at ``out[o0:]``."""
    if state[p0 + _P_ID] != pid:
        # A period left without its last candle (a gap): its levels are known now.
        if state[p0 + _P_FULL] == 1.0 and not np.isnan(state[p0 + _P_HI]):
            _roll(state, p0, n, kind, log, logn)
        state[p0 + _P_ID] = pid
        state[p0 + _P_HI] = np.nan
        state[p0 + _P_LO] = np.nan
        state[p0 + _P_FIRST] = n
        # The very first period seen is complete only if its first candle covers its start.
        state[p0 + _P_FULL] = 1.0 if (not first_bar or ts_i - start_ns < tf_ns) else 0.0
    phi = state[p0 + _P_PHI]
    plo = state[p0 + _P_PLO]
    out[o0 + 4] = 0.0
    out[o0 + 5] = 0.0
    out[o0 + 6] = 0.0
    out[o0 + 7] = 0.0
    if state[p0 + _P_HI_TAKEN] == 0.0 and hi > phi + margin:
        state[p0 + _P_HI_TAKEN] = 1.0
        run = ci > phi
        out[o0 + (5 if run else 4)] = 1.0
        tb.log_event(
            log,
            logn,
            state[p0 + _P_HI_ID],
            tb.EV_RUN if run else tb.EV_SWEEP,
            n,
            kind,
            1.0,
            phi,
            phi,
            np.nan,
            np.nan,
            np.nan,
        )
    if state[p0 + _P_LO_TAKEN] == 0.0 and li < plo - margin:
        state[p0 + _P_LO_TAKEN] = 1.0
        run = ci < plo
        out[o0 + (7 if run else 6)] = 1.0
        tb.log_event(
            log,
            logn,
            state[p0 + _P_LO_ID],
            tb.EV_RUN if run else tb.EV_SWEEP,
            n,
            kind,
            -1.0,
            plo,
            plo,
            np.nan,
            np.nan,
            np.nan,
        )
    cur_hi = state[p0 + _P_HI]
    state[p0 + _P_HI] = hi if np.isnan(cur_hi) else max(cur_hi, hi)
    cur_lo = state[p0 + _P_LO]
    state[p0 + _P_LO] = li if np.isnan(cur_lo) else min(cur_lo, li)
    # The period is over at this candle's close: its levels are known now.
    if ts_i + tf_ns >= end_ns and state[p0 + _P_FULL] == 1.0:
        _roll(state, p0, n, kind, log, logn)
        state[p0 + _P_FULL] = 0.0  # consumed: the rollover at the next period adds nothing
    # The levels known at this bar's close (a period ending now shows its own levels).
    phi = state[p0 + _P_PHI]
    plo = state[p0 + _P_PLO]
    out[o0] = phi
    out[o0 + 1] = plo
    out[o0 + 2] = (phi - ci) / a
    out[o0 + 3] = (ci - plo) / a


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
    params: tuple[int, float, float, int, int],
    out: np.ndarray,
    log: np.ndarray,
    logn: np.ndarray,
) -> None:
    """Advance pools and day/week levels by bar ``i`` and write the liquidity columns."""
    length, tol_atr, margin_atr, cap, tf_ns = params
    bsl_t = _HEADER
    ssl_t = _HEADER + tb.TH + cap * _NF
    hi, li, ci, a = h[i], lo[i], c[i], atr[i]
    margin = margin_atr * a if margin_atr > 0 else 0.0
    # 1. Spend pools traded through (pools confirmed at earlier bars only).
    bs, br, bc = _take_pools(state, bsl_t, 1.0, hi, li, ci, margin, n, log, logn)
    ss, sr, sc = _take_pools(state, ssl_t, -1.0, hi, li, ci, margin, n, log, logn)
    out[BSL_SWEEP] = 1.0 if bs > 0 else 0.0
    out[BSL_RUN] = 1.0 if br > 0 else 0.0
    out[SSL_SWEEP] = 1.0 if ss > 0 else 0.0
    out[SSL_RUN] = 1.0 if sr > 0 else 0.0
    out[BSL_SWEPT_COUNT] = bc
    out[SSL_SWEPT_COUNT] = sc
    if bs > 0:
        state[_H_BSL_LAST] = n
    if ss > 0:
        state[_H_SSL_LAST] = n
    out[BSL_SINCE] = n - state[_H_BSL_LAST]
    out[SSL_SINCE] = n - state[_H_SSL_LAST]
    # 2. Rest the liquidity of pivots confirmed at this bar.
    tol = tol_atr * a if a > 0 else 0.0
    out[EQH_NEW] = 0.0
    out[EQL_NEW] = 0.0
    if is_pivot_high(h, i, n, length, length) and _add_pivot(
        state, bsl_t, cap, 1.0, h[i - length], n - length, n, tol, log, logn
    ):
        out[EQH_NEW] = 1.0
    if is_pivot_low(lo, i, n, length, length) and _add_pivot(
        state, ssl_t, cap, -1.0, lo[i - length], n - length, n, tol, log, logn
    ):
        out[EQL_NEW] = 1.0
    # 3. Nearest pools.
    for d in (1.0, -1.0):
        t0 = bsl_t if d > 0 else ssl_t
        col = BSL_DIST if d > 0 else SSL_DIST
        k = tb.nearest(state, t0, _NF, -d, ci, _CONF)
        if k >= 0:
            r = tb.row(t0, _NF, k)
            out[col] = d * (state[r + _LEVEL] - ci) / a
            out[col + 1] = state[r + _COUNT]
        else:
            out[col] = np.nan
            out[col + 1] = np.nan
        out[col + 2] = tb.count(state, t0)
        k = _nearest_equal(state, t0, d, ci)
        eq_col = EQH_DIST if d > 0 else EQL_DIST
        out[eq_col] = d * (state[tb.row(t0, _NF, k) + _LEVEL] - ci) / a if k >= 0 else np.nan
    # 4. Previous day and week.
    t = ts[i]
    first_bar = np.isnan(state[_DAY + _P_ID])
    day = _day_of(t, state[_DAY + _P_ID])
    _period(
        state,
        _DAY,
        tb.KIND_DAY,
        day,
        first_bar,
        day * _DAY_NS,
        (day + 1) * _DAY_NS,
        n,
        t,
        tf_ns,
        hi,
        li,
        ci,
        margin,
        a,
        out,
        PDH_BLOCK,
        log,
        logn,
    )
    week = _week_of(day, state[_WEEK + _P_ID])
    w_start = (week * 7 - 3) * _DAY_NS
    _period(
        state,
        _WEEK,
        tb.KIND_WEEK,
        week,
        first_bar,
        w_start,
        w_start + 7 * _DAY_NS,
        n,
        t,
        tf_ns,
        hi,
        li,
        ci,
        margin,
        a,
        out,
        PWH_BLOCK,
        log,
        logn,
    )


def compute(
    candles: pd.DataFrame, cfg: LiquidityConfig | None = None, *, atr_period: int = 14
) -> pd.DataFrame:
    """Return the liquidity columns for every bar (reference batch path)."""
    cfg = cfg or LiquidityConfig()
    tf_ns = Timeframe.parse(cfg.timeframe).ns
    arrays = prepare(candles, atr_period, tf_ns)
    state, params = init_state(cfg), make_params(cfg)
    return step_frame(candles, arrays, step, state, params, COLUMNS, tb.no_log())
