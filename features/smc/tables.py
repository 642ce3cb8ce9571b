"""Fixed-capacity zone tables kept inside a module's state array, and the zone event log.

A table is a header of ``TH`` floats followed by ``cap`` rows of ``nf`` float64 fields, all at
``state[t0:]``. Rows ``0..count-1`` are live; removing a row moves the last row into its place.
When a table is full, the row with the smallest value of a chosen field (the oldest) is evicted.
Each row starts with the zone's top and bottom price (fields 0 and 1).

Every table has a side: *support* (+1, zones below price: order blocks and gaps of a bullish
move) or *resistance* (-1). The header caches the table's extreme (the highest top of a support
table, the lowest bottom of a resistance table) and the row holding it. While price stays beyond
the extreme, no zone can be touched and the nearest zone is that row, so most bars cost O(1) per
table instead of a pass over every zone; a pass runs only when price reaches the zones, and the
cache is rebuilt after any change. All of it is plain numba code on the state array, so a
snapshot of the state is a snapshot of every zone.

The event log records the life of each zone for :func:`features.smc.detect_zones`: one row of
``LOG_FIELDS`` floats per event. Logging is off when the log array has no rows (the
``compute_smc`` and streaming paths), so it costs one branch per event there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# Steps and their helpers touch no reference-counted object (they only read and write arrays
# their caller owns), so numba's reference counting is switched off for them: with it, every call
# passing a dozen arrays pays an atomic increment and decrement per array.
NO_REFCOUNT: dict[str, Any] = {"_nrt": False}

# Table header.
TH = 5
H_COUNT, H_EXT, H_NEAR, H_FLAG, H_AUX = range(5)

# Log row layout.
LOG_FIELDS = 10
L_ID, L_CODE, L_N, L_KIND, L_DIR, L_TOP, L_BOTTOM, L_FORMED, L_STRENGTH, L_EXTRA = range(10)

# Event codes.
EV_CREATE = 1.0
EV_TOUCH = 2.0
EV_MITIGATE = 3.0
EV_INVALIDATE = 4.0
EV_FILL = 5.0
EV_SWEEP = 6.0
EV_RUN = 7.0
EV_EQUAL = 8.0
EV_EXPIRE = 9.0

# Zone kinds.
KIND_OB = 1.0
KIND_BREAKER = 2.0
KIND_FVG = 3.0
KIND_IFVG = 4.0
KIND_POOL = 5.0
KIND_DAY = 6.0
KIND_WEEK = 7.0

# Most log rows one zone table can write for one bar: a few events per live row plus creations.
EVENTS_PER_ROW = 4


def table_size(cap: int, nf: int) -> int:
    """Return the floats a table of ``cap`` rows of ``nf`` fields takes."""
    return TH + cap * nf


def init_table(state: np.ndarray, t0: int, side: float) -> None:
    """Make the table at ``t0`` empty."""
    state[t0 + H_COUNT] = 0.0
    state[t0 + H_EXT] = -np.inf if side > 0 else np.inf
    state[t0 + H_NEAR] = -1.0
    state[t0 + H_FLAG] = 0.0
    state[t0 + H_AUX] = -1.0


def new_log(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Return an empty event log with room for ``capacity`` events, and its counters."""
    return np.full((capacity, LOG_FIELDS), np.nan), np.zeros(2, dtype=np.int64)


def no_log() -> tuple[np.ndarray, np.ndarray]:
    """Return a disabled log (zero rows): steps skip logging."""
    return np.empty((0, LOG_FIELDS)), np.zeros(2, dtype=np.int64)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def new_id(log: np.ndarray, logn: np.ndarray) -> float:
    """Return the next zone id (counter ``logn[1]``), or 0 when logging is off."""
    if log.shape[0] == 0:
        return 0.0
    logn[1] += 1
    return float(logn[1])


@njit(cache=True, **NO_REFCOUNT)
def log_event(
    log: np.ndarray,
    logn: np.ndarray,
    zid: float,
    code: float,
    n: int,
    kind: float,
    direction: float,
    top: float,
    bottom: float,
    formed: float,
    strength: float,
    extra: float,
) -> None:
    """Append one event row when logging is on; the engine guarantees the room."""
    if log.shape[0] == 0:
        return
    k = logn[0]
    if k >= log.shape[0]:
        return
    log[k, L_ID] = zid
    log[k, L_CODE] = code
    log[k, L_N] = n
    log[k, L_KIND] = kind
    log[k, L_DIR] = direction
    log[k, L_TOP] = top
    log[k, L_BOTTOM] = bottom
    log[k, L_FORMED] = formed
    log[k, L_STRENGTH] = strength
    log[k, L_EXTRA] = extra
    logn[0] = k + 1


@njit(cache=True, inline="always", **NO_REFCOUNT)
def count(state: np.ndarray, t0: int) -> int:
    """Return the number of live rows."""
    return int(state[t0 + H_COUNT])


@njit(cache=True, inline="always", **NO_REFCOUNT)
def row(t0: int, nf: int, k: int) -> int:
    """Return the offset of row ``k``."""
    return t0 + TH + k * nf


@njit(cache=True, **NO_REFCOUNT)
def claim(state: np.ndarray, t0: int, nf: int, cap: int, age_f: int) -> tuple[int, bool]:
    """Return a row to write a new zone into, and whether it evicts the oldest live row."""
    live = int(state[t0 + H_COUNT])
    if live < cap:
        state[t0 + H_COUNT] = live + 1
        return live, False
    best = 0
    best_v = state[t0 + TH + age_f]
    for k in range(1, live):
        val = state[t0 + TH + k * nf + age_f]
        if val < best_v:
            best_v = val
            best = k
    return best, True


@njit(cache=True, **NO_REFCOUNT)
def remove(state: np.ndarray, t0: int, nf: int, k: int) -> None:
    """Remove live row ``k`` by moving the last live row into its place."""
    last = int(state[t0 + H_COUNT]) - 1
    if k != last:
        dst = t0 + TH + k * nf
        src = t0 + TH + last * nf
        for f in range(nf):
            state[dst + f] = state[src + f]
    state[t0 + H_COUNT] = last


@njit(cache=True, **NO_REFCOUNT)
def summarize(state: np.ndarray, t0: int, nf: int, side: float, conf_f: int, flag_f: int) -> None:
    """Rebuild the header cache: extreme, its row (ties: the latest), OR of field ``flag_f``."""
    ext = -np.inf if side > 0 else np.inf
    near = -1
    near_conf = -np.inf
    flag = 0.0
    for k in range(int(state[t0 + H_COUNT])):
        r = t0 + TH + k * nf
        key = state[r] if side > 0 else state[r + 1]
        conf = state[r + conf_f]
        better = key > ext if side > 0 else key < ext
        if better or (key == ext and conf > near_conf):
            ext = key
            near = k
            near_conf = conf
        if flag_f >= 0 and state[r + flag_f] != 0.0:
            flag = 1.0
    state[t0 + H_EXT] = ext
    state[t0 + H_NEAR] = near
    state[t0 + H_FLAG] = flag


@njit(cache=True, inline="always", **NO_REFCOUNT)
def zone_distance(price: float, top: float, bottom: float) -> float:
    """Return the signed price distance from ``price`` to ``[bottom, top]`` (0 inside)."""
    if price > top:
        return price - top
    if price < bottom:
        return price - bottom
    return 0.0


@njit(cache=True, inline="always", **NO_REFCOUNT)
def nearest(state: np.ndarray, t0: int, nf: int, side: float, price: float, conf_f: int) -> int:
    """Return the live row nearest to ``price`` (ties: the latest), or -1 when empty.

    Needs a fresh header cache (``summarize`` after the bar's changes).
    """
    ext = state[t0 + H_EXT]
    if (price > ext) if side > 0 else (price < ext):
        return int(state[t0 + H_NEAR])
    best = -1
    best_d = np.inf
    best_conf = -np.inf
    for k in range(int(state[t0 + H_COUNT])):
        r = t0 + TH + k * nf
        dist = abs(zone_distance(price, state[r], state[r + 1]))
        conf = state[r + conf_f]
        if dist < best_d or (dist == best_d and conf > best_conf):
            best = k
            best_d = dist
            best_conf = conf
    return best
