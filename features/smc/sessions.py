"""Trading sessions and ICT kill zones in local time with IANA zones, so daylight saving is right.

A bar belongs to a window when its *open* time, read in the window's time zone, lies in
``[start, end)`` (a window whose end is not after its start runs over midnight). For each of the
four sessions the module reports the flag, the high/low so far, the previous completed session's
high/low and whether price has traded beyond them since; kill zones are flags. A session is known
to be over at the first bar outside it (or in its next occurrence after a data gap): that bar is
where the ``*_prev_*`` values change. All values are known at the bar's close.

UTC offsets come from ``zoneinfo`` as transition tables for 1970-2100 (``utc_offset_table``),
looked up in numba code; the state caches the current table slot, so a bar costs O(1).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numba import njit

from features.schema import ColumnSpec, flag, names, price
from features.smc.frame import step_frame
from features.smc.tables import NO_REFCOUNT
from features.smc.validate import candle_arrays

NEW_YORK = "America/New_York"
LONDON = "Europe/London"

SESSIONS: tuple[str, ...] = ("asia", "london", "ny_am", "ny_pm")
KILL_ZONES: tuple[str, ...] = ("asia", "london", "ny_am", "london_close", "ny_pm")


def _session_specs(s: str) -> tuple[ColumnSpec, ...]:
    p = f"sess_{s}"
    return (
        flag(p, f"1 in the {s} session", required=True),
        price(f"{p}_high", "session high so far (NaN outside it)"),
        price(f"{p}_low", "session low so far (NaN outside it)"),
        price(f"{p}_prev_high", "last completed session's high"),
        price(f"{p}_prev_low", "last completed session's low"),
        flag(f"{p}_prev_high_swept", "1 once traded above the last session's high"),
        flag(f"{p}_prev_low_swept", "1 once traded below the last session's low"),
    )


SPECS: tuple[ColumnSpec, ...] = tuple(x for s in SESSIONS for x in _session_specs(s)) + tuple(
    flag(f"sess_kz_{k}", f"1 in the {k} kill zone", required=True) for k in KILL_ZONES
)
COLUMNS: tuple[str, ...] = names(SPECS)

_TABLE_FIRST_YEAR = 1970
_TABLE_END_YEAR = 2101  # exclusive
_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_DAY_NS = 86_400 * _NS

# State layout: one cached table slot per time zone, then per session
# [instance, high, low, prev_high, prev_low, prev_high_swept, prev_low_swept].
_SESSION_STATE = 7

Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_N_SESSIONS = len(SESSIONS)


@dataclass(frozen=True)
class Window:
    """A daily time window ``[start, end)`` in the local time of an IANA zone."""

    tz: str
    start: str
    end: str

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"Window.tz: unknown IANA time zone {self.tz!r}") from exc
        start, end = _minutes(self.start, "start"), _minutes(self.end, "end")
        if start == end:
            raise ValueError(f"Window: start and end are both {self.start!r}; the window is empty")

    @property
    def start_minute(self) -> int:
        """Minutes after local midnight at which the window opens."""
        return _minutes(self.start, "start")

    @property
    def end_minute(self) -> int:
        """Minutes after local midnight at which the window closes (exclusive)."""
        return _minutes(self.end, "end")


def _minutes(value: str, name: str) -> int:
    parts = str(value).split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"Window.{name}: expected 'HH:MM', got {value!r}")
    hours, minutes = int(parts[0]), int(parts[1])
    if hours > 23 or minutes > 59:
        raise ValueError(f"Window.{name}: {value!r} is not a time of day (00:00-23:59)")
    return hours * 60 + minutes


@dataclass(frozen=True)
class SessionsConfig:
    """Session and kill-zone windows (ICT conventions; see docs/smc-context.md)."""

    asia: Window = field(default_factory=lambda: Window(NEW_YORK, "20:00", "00:00"))
    london: Window = field(default_factory=lambda: Window(LONDON, "08:00", "16:00"))
    ny_am: Window = field(default_factory=lambda: Window(NEW_YORK, "09:30", "12:00"))
    ny_pm: Window = field(default_factory=lambda: Window(NEW_YORK, "13:30", "16:00"))
    kz_asia: Window = field(default_factory=lambda: Window(NEW_YORK, "20:00", "22:00"))
    kz_london: Window = field(default_factory=lambda: Window(NEW_YORK, "02:00", "05:00"))
    kz_ny_am: Window = field(default_factory=lambda: Window(NEW_YORK, "07:00", "10:00"))
    kz_london_close: Window = field(default_factory=lambda: Window(NEW_YORK, "10:00", "12:00"))
    kz_ny_pm: Window = field(default_factory=lambda: Window(NEW_YORK, "13:30", "16:00"))

    def __post_init__(self) -> None:
        for name in (*SESSIONS, *(f"kz_{k}" for k in KILL_ZONES)):
            if not isinstance(getattr(self, name), Window):
                raise ValueError(
                    f"SessionsConfig.{name}: expected a Window, got {getattr(self, name)!r}"
                )

    def windows(self) -> tuple[Window, ...]:
        """Return the sessions then the kill zones, in ``COLUMNS`` order."""
        names = (*SESSIONS, *(f"kz_{k}" for k in KILL_ZONES))
        return tuple(getattr(self, name) for name in names)


@functools.lru_cache(maxsize=16)
def _offset_table_seconds(tz: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    zone = ZoneInfo(tz)
    t = int(datetime(_TABLE_FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(_TABLE_END_YEAR, 1, 1, tzinfo=UTC).timestamp())

    def offset(at: int) -> int:
        delta = datetime.fromtimestamp(at, tz=zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    starts, offsets = [t], [offset(t)]
    day = 86_400
    current = offsets[0]
    while t < end:
        nxt = min(t + day, end)
        off = offset(nxt)
        if off != current:
            lo, hi = t, nxt  # offset(lo) == current, offset(hi) == off
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            starts.append(hi)
            offsets.append(off)
            current = off
        t = nxt
    return tuple(starts), tuple(offsets)


def utc_offset_table(tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(starts_ns, offsets_ns)``: the UTC offset valid from each start, 1970-2100.

    Daily sampling finds every change of offset (zones change at most once a day), bisection
    places it to the second. Before the first start the first offset applies; after 2100 the last.
    """
    starts, offsets = _offset_table_seconds(tz)
    return np.array(starts, dtype=np.int64) * _NS, np.array(offsets, dtype=np.int64) * _NS


def lookback(cfg: SessionsConfig) -> int:
    """Return how many bars back ``step`` reads (only the current bar)."""
    return 1


def _zones(cfg: SessionsConfig) -> list[str]:
    zones: list[str] = []
    for w in cfg.windows():
        if w.tz not in zones:
            zones.append(w.tz)
    return zones


def init_state(cfg: SessionsConfig) -> np.ndarray:
    """Return a fresh state (all unknown).

    Per zone: its offset-table slot and the local-minute span ``[from, to)`` over which the
    windows' flags hold; per window: its flag and occurrence (local day it started); per session:
    its tracker ``[occurrence, high, low, prev_high, prev_low, prev_high_swept, prev_low_swept]``.
    """
    n_tz = len(_zones(cfg))
    n_win = len(cfg.windows())
    state = np.full(3 * n_tz + 2 * n_win + _SESSION_STATE * len(SESSIONS), np.nan)
    state[0 : 3 * n_tz : 3] = 0.0
    return state


def make_params(cfg: SessionsConfig) -> Params:
    """Return ``(starts_ns[z, k], offsets_ns[z, k], counts[z], zone[w], start[w], end[w])``.

    Tables are padded with ``int64 max``; windows (the sessions then the kill zones) are given by
    their zone number and start/end minutes after local midnight.
    """
    zones = _zones(cfg)
    tables = [utc_offset_table(z) for z in zones]
    width = max(len(t[0]) for t in tables) + 1
    starts = np.full((len(zones), width), np.iinfo(np.int64).max, dtype=np.int64)
    offsets = np.zeros((len(zones), width), dtype=np.int64)
    counts = np.zeros(len(zones), dtype=np.int64)
    for k, (s, o) in enumerate(tables):
        starts[k, : len(s)] = s
        offsets[k, : len(o)] = o
        offsets[k, len(o) :] = o[-1]
        counts[k] = len(s)
    windows = cfg.windows()
    zone_of = np.array([zones.index(w.tz) for w in windows], dtype=np.int64)
    start_of = np.array([w.start_minute for w in windows], dtype=np.float64)
    end_of = np.array([w.end_minute for w in windows], dtype=np.float64)
    return starts, offsets, counts, zone_of, start_of, end_of


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _offset(
    t: int,
    zone: int,
    starts: np.ndarray,
    offsets: np.ndarray,
    counts: np.ndarray,
    state: np.ndarray,
) -> int:
    slot = int(state[3 * zone])
    if starts[zone, slot] <= t < starts[zone, slot + 1]:
        return offsets[zone, slot]
    # Binary search for the last start <= t (before the first start, the first offset applies).
    slot = 0
    hi = counts[zone]
    while hi - slot > 1:
        mid = (slot + hi) >> 1
        if starts[zone, mid] <= t:
            slot = mid
        else:
            hi = mid
    state[3 * zone] = slot
    return offsets[zone, slot]


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
    """Advance the session state by bar ``i`` and write its ``COLUMNS`` into ``out``."""
    starts, offsets, counts, zone_of, start_of, end_of = params
    n_tz = counts.shape[0]
    n_win = zone_of.shape[0]
    t = ts[i]
    for zone in range(n_tz):
        local_minutes = (t + _offset(t, zone, starts, offsets, counts, state)) // 60_000_000_000
        # The windows' flags hold until the zone's next boundary (or a step back in local time).
        if not state[3 * zone + 1] <= local_minutes < state[3 * zone + 2]:
            _windows(zone, local_minutes, state, n_tz, zone_of, start_of, end_of)
    h = hi[i]
    low = lo[i]
    flags = 3 * n_tz
    trackers = flags + 2 * n_win
    for w in range(_N_SESSIONS):
        inside = state[flags + 2 * w] != 0.0
        _session(state, trackers + 7 * w, inside, state[flags + 2 * w + 1], h, low, out, 7 * w)
    for w in range(_N_SESSIONS, n_win):
        out[6 * _N_SESSIONS + w] = state[flags + 2 * w]


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _windows(
    zone: int,
    local_minutes: int,
    state: np.ndarray,
    n_tz: int,
    zone_of: np.ndarray,
    start_of: np.ndarray,
    end_of: np.ndarray,
) -> None:
    """Set the flag and occurrence of the zone's windows, and how long they hold."""
    day = local_minutes // 1440
    minute = local_minutes - day * 1440
    following = 2880.0
    for w in range(zone_of.shape[0]):
        if zone_of[w] != zone:
            continue
        start = start_of[w]
        end = end_of[w]
        if start < end:
            inside = start <= minute < end
            instance = day
        else:
            inside = minute >= start or minute < end
            instance = day if minute >= start else day - 1
        state[3 * n_tz + 2 * w] = 1.0 if inside else 0.0
        state[3 * n_tz + 2 * w + 1] = instance
        following = min(following, start if start > minute else start + 1440.0)
        following = min(following, end if end > minute else end + 1440.0)
    state[3 * zone + 1] = local_minutes
    state[3 * zone + 2] = day * 1440 + following


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _session(
    state: np.ndarray,
    base: int,
    inside: bool,
    instance: float,
    h: float,
    low: float,
    out: np.ndarray,
    col: int,
) -> None:
    if inside:
        if state[base] != instance:
            if not np.isnan(state[base]):
                _finish(state, base)
            state[base] = instance
            state[base + 1] = h
            state[base + 2] = low
        else:
            state[base + 1] = max(state[base + 1], h)
            state[base + 2] = min(state[base + 2], low)
    elif not np.isnan(state[base]):
        _finish(state, base)
        state[base] = np.nan
    # Sweeps of the previous completed session; its own bars are never checked.
    if not np.isnan(state[base + 3]):
        if h > state[base + 3]:
            state[base + 5] = 1.0
        if low < state[base + 4]:
            state[base + 6] = 1.0
    out[col] = 1.0 if inside else 0.0
    out[col + 1] = state[base + 1] if inside else np.nan
    out[col + 2] = state[base + 2] if inside else np.nan
    out[col + 3] = state[base + 3]
    out[col + 4] = state[base + 4]
    out[col + 5] = state[base + 5]
    out[col + 6] = state[base + 6]


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _finish(state: np.ndarray, base: int) -> None:
    state[base + 3] = state[base + 1]
    state[base + 4] = state[base + 2]
    state[base + 5] = 0.0
    state[base + 6] = 0.0


def compute(candles: pd.DataFrame, cfg: SessionsConfig | None = None) -> pd.DataFrame:
    """Return the session and kill-zone columns for every bar (reference batch path)."""
    cfg = cfg or SessionsConfig()
    arrays = candle_arrays(candles, 1)
    atr = np.full(arrays[0].shape[0], np.nan)
    return step_frame(candles, (*arrays, atr), step, init_state(cfg), make_params(cfg), COLUMNS)
