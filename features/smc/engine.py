"""The fused SMC kernel: every concept's numba ``step`` in one loop, for batch and stream alike.

One bar is one call of :func:`_bar`: it advances the ATR, then each concept in dependency order
(swings before structure, structure before order blocks, ...), each writing its columns into its
slice of a scratch row and reading what it needs of the earlier slices. The batch path
(:func:`run`) calls ``_bar`` for every bar on the rows of a small scratch and casts them into
one ``(columns, bars)`` array per dtype, whose rows become the frame's columns without a copy.
The stream (:mod:`features.smc.stream`) calls the same ``_bar`` on a sliding window of the last
bars. Because both paths run the same steps on the
same state, batch equals stream and prefix invariance hold by construction (and are tested).

All state lives in one float64 array, split into per-concept views; a snapshot is a copy of it
plus the sliding window. The steps write float64 rows into a small scratch that ``run`` casts,
every few hundred bars, into the compact columns of the schema (``features.schema``): int8 /
int16 / int32 with the dtype's minimum for "not yet known", float32, float64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from features.schema import ColumnSpec, flag, names
from features.smc import (
    context,
    crt,
    displacement,
    fvg,
    liquidity,
    order_blocks,
    patterns,
    premium_discount,
    sessions,
    structure,
    swings,
)
from features.smc import tables as tb
from features.smc.atr import atr_init, atr_step
from features.smc.config import SMCConfig
from features.smc.tables import NO_REFCOUNT
from features.smc.validate import candle_arrays

ENGINE_SPECS: tuple[ColumnSpec, ...] = (
    flag("smc_warm", "1 once the ATR and every look-back window are full", required=True),
)
ENGINE_COLUMNS: tuple[str, ...] = names(ENGINE_SPECS)

# The concepts in kernel order: (name in SMCConfig, module). Index 0 of every split is the
# engine's own slice (ATR state / engine columns).
CONCEPTS: tuple[tuple[str, Any], ...] = (
    ("swings", swings),
    ("structure", structure),
    ("displacement", displacement),
    ("fvg", fvg),
    ("order_blocks", order_blocks),
    ("liquidity", liquidity),
    ("premium_discount", premium_discount),
    ("sessions", sessions),
    ("crt", crt),
    ("patterns", patterns),
    ("context", context),
)
_SLICES = len(CONCEPTS) + 1
# The concepts whose rows a concept's step reads (the row views ``_bar`` passes it): a concept
# may be skipped (``on``) only when no concept that runs needs it.
NEEDS: dict[str, tuple[str, ...]] = {
    "structure": ("swings",),
    "order_blocks": ("swings", "structure", "displacement", "fvg"),
    "premium_discount": ("swings",),
}
# ``on[_PROFILE]``: the context's volume profile runs (``context.advance``); it is most of the
# context's work and only its own columns read it.
_PROFILE = _SLICES
# Every slice on (a full row). Passed as an argument, never read as a global inside a kernel:
# numba would type the global as a read-only array and compile ``_bar`` a second time.
ALL_ON = np.ones(_SLICES + 1, dtype=np.bool_)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _split(a: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the views ``a[off[k]:off[k+1]]`` for every slice."""
    return (
        a[off[0] : off[1]],
        a[off[1] : off[2]],
        a[off[2] : off[3]],
        a[off[3] : off[4]],
        a[off[4] : off[5]],
        a[off[5] : off[6]],
        a[off[6] : off[7]],
        a[off[7] : off[8]],
        a[off[8] : off[9]],
        a[off[9] : off[10]],
        a[off[10] : off[11]],
        a[off[11] : off[12]],
    )


@njit(cache=True, **NO_REFCOUNT)
def _bar(
    i: int,
    n: int,
    ts: np.ndarray,
    b: np.ndarray,
    state: np.ndarray,
    s_off: np.ndarray,
    row: np.ndarray,
    c_off: np.ndarray,
    p: tuple[Any, ...],
    log: np.ndarray,
    logn: np.ndarray,
    on: np.ndarray,
) -> None:
    """Advance the concepts ``on`` (all: :data:`ALL_ON`) by bar ``i`` (absolute bar number
    ``n``) into ``row``; the ATR and the engine's own columns always advance.

    ``b`` holds the bars' open, high, low, close, volume and ATR (rows 0..5). The arrays come
    whole and are split here: a call passes every argument flattened, and the per-concept
    views of ``state`` and ``row`` as arguments made the call cost as much as the steps.
    """
    s = _split(state, s_off)
    r = _split(row, c_off)
    o, h, lo, c, v, atr = b[0], b[1], b[2], b[3], b[4], b[5]
    atr_period, warmup = p[0]
    atr[i] = atr_step(h[i], lo[i], c[i], atr_period, s[0])
    if on[1]:
        swings.step(i, n, ts, o, h, lo, c, v, atr, s[1], p[1], r[1])
    if on[2]:
        structure.step(i, n, ts, o, h, lo, c, v, atr, s[2], p[2], r[2], r[1])
    if on[3]:
        displacement.step(i, n, ts, o, h, lo, c, v, atr, s[3], p[3], r[3])
    if on[4]:
        fvg.step(i, n, ts, o, h, lo, c, v, atr, s[4], p[4], r[4], log, logn)
    if on[5]:
        order_blocks.step(
            i, n, ts, o, h, lo, c, v, atr, s[5], p[5], r[5], r[1], r[2], r[3], r[4], log, logn
        )
    if on[6]:
        liquidity.step(i, n, ts, o, h, lo, c, v, atr, s[6], p[6], r[6], log, logn)
    if on[7]:
        premium_discount.step(i, n, ts, o, h, lo, c, v, atr, s[7], p[7], r[7], r[1])
    if on[8]:
        sessions.step(i, n, ts, o, h, lo, c, v, atr, s[8], p[8], r[8])
    if on[9]:
        crt.step(i, n, ts, o, h, lo, c, v, atr, s[9], p[9], r[9])
    if on[10]:
        patterns.step(i, n, ts, o, h, lo, c, v, atr, s[10], p[10], r[10])
    if on[11]:
        context.advance(i, n, ts, o, h, lo, c, v, atr, s[11], p[11], r[11], on[_PROFILE])
    r[0][0] = 1.0 if n + 1 >= warmup else 0.0


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _pack_ints(
    src: np.ndarray, n: int, j0: int, idx: np.ndarray, dst: np.ndarray, missing: int
) -> None:
    """Write ``src[:n, idx[k]]`` into ``dst[k, j0:j0 + n]``; NaN becomes ``missing``."""
    for k in range(idx.shape[0]):
        c = idx[k]
        for r in range(n):
            x = src[r, c]
            dst[k, j0 + r] = missing if np.isnan(x) else int(x)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _pack_floats(src: np.ndarray, n: int, j0: int, idx: np.ndarray, dst: np.ndarray) -> None:
    """Write ``src[:n, idx[k]]`` into ``dst[k, j0:j0 + n]`` (float32: rounded to nearest)."""
    for k in range(idx.shape[0]):
        c = idx[k]
        for r in range(n):
            dst[k, j0 + r] = src[r, c]


# How a float64 value column is read from the scratch: the dtype it is stored in.
_AS_F64, _AS_F32, _AS_I8, _AS_I16, _AS_I32 = range(5)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _as_stored(x: float, kind: int) -> float:
    """Return scratch value ``x`` as ``to_float64`` reads it once stored as ``kind``."""
    if kind == _AS_F64:
        return x
    if kind == _AS_F32:
        return np.float64(np.float32(x))
    if np.isnan(x):
        return np.nan
    if kind == _AS_I8:
        w = np.int64(np.int8(int(x)))
        return np.nan if w == -128 else np.float64(w)
    if kind == _AS_I16:
        w = np.int64(np.int16(int(x)))
        return np.nan if w == -32768 else np.float64(w)
    w = np.int64(np.int32(int(x)))
    return np.nan if w == -2147483648 else np.float64(w)


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _pack_values(
    src: np.ndarray, n: int, j0: int, sel: np.ndarray, kinds: np.ndarray, dst: np.ndarray
) -> None:
    """Write ``src[:n, sel[k]]`` as stored (:func:`_as_stored`) into ``dst[j0:j0 + n, k]``."""
    for r in range(n):
        for k in range(sel.shape[0]):
            dst[j0 + r, k] = _as_stored(src[r, sel[k]], kinds[k])


@njit(cache=True, **NO_REFCOUNT)
def _pack(
    src: np.ndarray,
    n: int,
    j0: int,
    g: tuple[np.ndarray, ...],
    sel: np.ndarray,
    kinds: np.ndarray,
    vals: np.ndarray,
) -> None:
    """Cast the first ``n`` scratch rows into the compact columns ``g`` and the float64
    values ``vals`` (columns ``sel``), from row ``j0``."""
    _pack_ints(src, n, j0, g[0], g[1], -128)
    _pack_ints(src, n, j0, g[2], g[3], -32768)
    _pack_ints(src, n, j0, g[4], g[5], -2147483648)
    _pack_floats(src, n, j0, g[6], g[7])
    _pack_floats(src, n, j0, g[8], g[9])
    _pack_values(src, n, j0, sel, kinds, vals)


@njit(cache=True, **NO_REFCOUNT)
def run(
    ts: np.ndarray,
    b: np.ndarray,
    i0: int,
    n0: int,
    j0: int,
    state: np.ndarray,
    s_off: np.ndarray,
    c_off: np.ndarray,
    p: tuple[Any, ...],
    scratch: np.ndarray,
    g: tuple[np.ndarray, ...],
    sel: np.ndarray,
    kinds: np.ndarray,
    vals: np.ndarray,
    log: np.ndarray,
    logn: np.ndarray,
    headroom: int,
    on: np.ndarray,
) -> int:
    """Run bars ``i0..`` (absolute numbers from ``n0``) writing output rows ``j0 + i - i0``.

    ``b``: the bars' open, high, low, close, volume (rows 0..4) and their ATR (row 5, written
    here). The steps write float64 rows into ``scratch`` (a few hundred rows, reused: it stays in
    cache); each time it is full its rows are cast into the compact columns ``g`` (see
    :data:`DTYPE_GROUPS`) and the columns ``sel`` are written as float64 into ``vals``
    (``(rows, len(sel))``), each as ``to_float64`` reads it from its compact dtype (``kinds``).
    Either output may be empty (:meth:`Layout.no_output`, :data:`NO_VALUES`). Only the
    concepts ``on`` run (:data:`ALL_ON`, or :meth:`Layout.concepts_for` the columns read from
    ``vals``): the other columns and states are left as they were. Returns the
    index of the first bar not run: ``len(ts)``, or earlier when the event log is within
    ``headroom`` rows of full (the caller grows it and resumes).
    """
    nb = ts.shape[0]
    cap = scratch.shape[0]
    k = 0
    j = j0
    for i in range(i0, nb):
        if log.shape[0] > 0 and logn[0] + headroom > log.shape[0]:
            _pack(scratch, k, j, g, sel, kinds, vals)
            return i
        # Every step writes all its columns every bar, so a scratch row needs no reset.
        _bar(i, n0 + (i - i0), ts, b, state, s_off, scratch[k], c_off, p, log, logn, on)
        k += 1
        if k == cap:
            _pack(scratch, k, j, g, sel, kinds, vals)
            j += k
            k = 0
    _pack(scratch, k, j, g, sel, kinds, vals)
    return nb


@njit(cache=True)
def push(
    t: int,
    bo: float,
    bh: float,
    bl: float,
    bc: float,
    bv: float,
    tsb: np.ndarray,
    buf: np.ndarray,
    meta: np.ndarray,
    state: np.ndarray,
    s_off: np.ndarray,
    c_off: np.ndarray,
    p: tuple[Any, ...],
    row: np.ndarray,
    f32: np.ndarray,
    on: np.ndarray,
) -> None:
    """Append one closed bar (open time ``t``, OHLCV) to the sliding window; compute its row.

    The columns ``f32`` (stored as float32 in frames) are rounded to float32 in ``row``, so the
    row equals ``to_float64`` of the batch row. ``on``: the concepts to run (the stream passes
    :data:`ALL_ON`).

    ``tsb``/``buf`` (rows: open, high, low, close, volume, atr) hold the window; ``meta`` is
    ``[index of the last bar in the window (-1: none), bars seen, window]``. When the window
    array is full the last ``window - 1`` bars move to its front: O(1) amortized.
    """
    cap = tsb.shape[0]
    window = meta[2]
    pos = meta[0] + 1
    if pos >= cap:
        keep = window - 1
        src = cap - keep
        for k in range(keep):
            tsb[k] = tsb[src + k]
            for f in range(6):
                buf[f, k] = buf[f, src + k]
        pos = keep
    tsb[pos] = t
    buf[0, pos] = bo
    buf[1, pos] = bh
    buf[2, pos] = bl
    buf[3, pos] = bc
    buf[4, pos] = bv
    log = np.empty((0, tb.LOG_FIELDS))
    logn = np.zeros(2, dtype=np.int64)
    _bar(pos, meta[1], tsb, buf, state, s_off, row, c_off, p, log, logn, on)
    for k in range(f32.shape[0]):
        row[f32[k]] = np.float32(row[f32[k]])
    meta[0] = pos
    meta[1] += 1


# The compact dtypes, in the order of the column groups ``run`` packs (``_pack``).
DTYPE_GROUPS: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in (np.int8, np.int16, np.int32, np.float32, np.float64)
)
# ``run``'s value kind of each group (``_as_stored``).
_VALUE_KINDS: tuple[int, ...] = (_AS_I8, _AS_I16, _AS_I32, _AS_F32, _AS_F64)
# ``run``'s float64 value output when none is wanted: ``(sel, kinds, vals)``.
NO_VALUES: tuple[np.ndarray, np.ndarray, np.ndarray] = (
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=np.int64),
    np.empty((0, 0)),
)
# Scratch rows the kernel writes before casting them into the compact columns: 256 rows of
# 220 float64 columns (440 KB) stay in cache between the kernel writing and the cast reading;
# the output is written once, in its compact dtypes, so a first call faults in 76 MiB of fresh
# pages instead of 169 MiB.
SCRATCH_ROWS = 256


@dataclass(frozen=True)
class Layout:
    """Where each concept lives in the state and the row, and the kernel parameters."""

    columns: tuple[str, ...]
    s_off: np.ndarray
    c_off: np.ndarray
    params: tuple[Any, ...]
    state0: np.ndarray
    window: int
    warmup: int
    log_headroom: int
    group_idx: tuple[np.ndarray, ...]
    places: tuple[tuple[int, int], ...]

    def fresh_state(self) -> np.ndarray:
        """Return a copy of the initial state."""
        return self.state0.copy()

    @property
    def f32(self) -> np.ndarray:
        """Positions of the columns stored as float32."""
        return self.group_idx[DTYPE_GROUPS.index(np.dtype(np.float32))]

    def new_output(self, bars: int) -> tuple[np.ndarray, ...]:
        """Return ``run``'s column groups for ``bars`` rows: ``(positions, values) * 5``."""
        groups: list[np.ndarray] = []
        for dtype, idx in zip(DTYPE_GROUPS, self.group_idx, strict=True):
            groups += [idx, np.empty((idx.shape[0], bars), dtype=dtype)]
        return tuple(groups)

    def no_output(self) -> tuple[np.ndarray, ...]:
        """Return empty column groups: ``run`` writes no compact column."""
        groups: list[np.ndarray] = []
        for dtype in DTYPE_GROUPS:
            groups += [np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=dtype)]
        return tuple(groups)

    def values(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``run``'s ``(sel, kinds)`` for the float64 values of the columns ``names``.

        Raises:
            KeyError: A name is not a column of this layout.
        """
        return _value_sink(self, names)

    def concepts_for(self, names: tuple[str, ...]) -> np.ndarray:
        """Return ``run``'s ``on``: the slices the columns ``names`` need (with :data:`NEEDS`).

        Raises:
            KeyError: A name is not a column of this layout.
        """
        sel, _ = _value_sink(self, names)
        concept = np.searchsorted(self.c_off, sel, side="right") - 1
        on = np.zeros(_SLICES + 1, dtype=np.bool_)
        on[0] = True
        on[_PROFILE] = any(c in context.PROFILE_COLUMNS for c in names)
        wanted = [CONCEPTS[k - 1][0] for k in set(concept.tolist()) if k > 0]
        while wanted:
            name = wanted.pop()
            k = [n for n, _ in CONCEPTS].index(name) + 1
            if not on[k]:
                on[k] = True
                wanted.extend(NEEDS.get(name, ()))
        return on

    def frame(self, groups: tuple[np.ndarray, ...], index: pd.Index) -> pd.DataFrame:
        """Return the filled column groups as a frame (no copy: each column is a view)."""
        data = {
            name: groups[2 * g + 1][k]
            for name, (g, k) in zip(self.columns, self.places, strict=True)
        }
        return pd.DataFrame(data, index=index, copy=False)


def _value_sink(lay: Layout, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    position = {c: j for j, c in enumerate(lay.columns)}
    missing = [c for c in names if c not in position]
    if missing:
        raise KeyError(f"column(s) {missing} are not SMC engine columns")
    sel = np.array([position[c] for c in names], dtype=np.int64)
    kinds = np.array([_VALUE_KINDS[lay.places[j][0]] for j in sel], dtype=np.int64)
    return sel, kinds


def _lookback(name: str, module: Any, cfg: SMCConfig) -> int:
    part = getattr(cfg, name)
    if module is order_blocks:
        return int(order_blocks.lookback(part, cfg.swings))
    return int(module.lookback(part))


def _groups(
    column_specs: list[ColumnSpec],
) -> tuple[tuple[np.ndarray, ...], tuple[tuple[int, int], ...]]:
    """Return the positions of each dtype group and each column's (group, index in group)."""
    members: list[list[int]] = [[] for _ in DTYPE_GROUPS]
    places = []
    for j, spec in enumerate(column_specs):
        if spec.dtype not in DTYPE_GROUPS:
            raise RuntimeError(f"SMC column {spec.name!r} has dtype {spec.dtype}: not packable")
        g = DTYPE_GROUPS.index(spec.dtype)
        places.append((g, len(members[g])))
        members[g].append(j)
    return tuple(np.array(m, dtype=np.int64) for m in members), tuple(places)


@functools.lru_cache(maxsize=32)
def layout(cfg: SMCConfig) -> Layout:
    """Return the kernel layout for ``cfg`` (cached: configs are frozen)."""
    states = [atr_init()]
    params: list[Any] = []
    column_specs: list[ColumnSpec] = list(ENGINE_SPECS)
    widths = [len(ENGINE_SPECS)]
    window = 1
    for name, module in CONCEPTS:
        part = getattr(cfg, name)
        states.append(np.asarray(module.init_state(part), dtype=np.float64))
        params.append(module.make_params(part))
        column_specs.extend(module.SPECS)
        widths.append(len(module.SPECS))
        window = max(window, _lookback(name, module, cfg))
    columns = [s.name for s in column_specs]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise RuntimeError(f"SMC column names collide: {dup}")
    warmup = max(cfg.atr_period, window)
    s_off = np.cumsum([0] + [s.shape[0] for s in states]).astype(np.int64)
    c_off = np.cumsum([0, *widths]).astype(np.int64)
    caps = 4 * cfg.fvg.max_active + 4 * cfg.order_blocks.max_active + 2 * cfg.liquidity.max_active
    group_idx, places = _groups(column_specs)
    return Layout(
        columns=tuple(columns),
        s_off=s_off,
        c_off=c_off,
        params=((cfg.atr_period, warmup), *params),
        state0=np.concatenate(states),
        window=window,
        warmup=warmup,
        log_headroom=tb.EVENTS_PER_ROW * caps + 64,
        group_idx=group_idx,
        places=places,
    )


def columns(cfg: SMCConfig | None = None) -> tuple[str, ...]:
    """Return the output columns of ``compute_smc``, in order."""
    return layout(cfg or SMCConfig()).columns


def new_scratch(lay: Layout, bars: int = SCRATCH_ROWS) -> np.ndarray:
    """Return the kernel's float64 scratch rows."""
    return np.empty((max(min(bars, SCRATCH_ROWS), 1), len(lay.columns)))


def execute(
    lay: Layout,
    arrays: tuple[np.ndarray, ...],
    *,
    with_log: bool = False,
    scratch: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Run the kernel over validated ``ts, o, h, l, c, v``; return ``(groups, log)``.

    ``groups`` are the compact column groups (:meth:`Layout.frame` makes them a frame);
    ``log`` holds the zone events when ``with_log``.
    """
    ts = arrays[0]
    nb = ts.shape[0]
    b = np.empty((6, nb))  # open .. volume, then the ATR the kernel writes
    for f in range(5):
        b[f] = arrays[f + 1]
    groups = lay.new_output(nb)
    scratch = new_scratch(lay, nb) if scratch is None else scratch
    state = lay.fresh_state()
    common = (state, lay.s_off, lay.c_off, lay.params, scratch, groups, *NO_VALUES)
    if not with_log:
        log, logn = tb.no_log()
        run(ts, b, 0, 0, 0, *common, log, logn, 0, ALL_ON)
        return groups, log
    log, logn = tb.new_log(max(4 * lay.log_headroom, nb))
    i = 0
    while i < nb:
        i = run(ts, b, i, i, i, *common, log, logn, lay.log_headroom, ALL_ON)
        if i < nb:
            bigger = np.full((2 * log.shape[0], tb.LOG_FIELDS), np.nan)
            bigger[: log.shape[0]] = log
            log = bigger
    return groups, log[: logn[0]]


def compute_smc(candles: pd.DataFrame, config: SMCConfig | None = None) -> pd.DataFrame:
    """Return every SMC feature for every bar, each known at that bar's close.

    ``candles``: the canonical frame (UTC open-time ``DatetimeIndex``, float columns open, high,
    low, close, volume), strictly increasing, at least ``config.timeframe`` apart, no NaN. The
    result has the same index and the columns of :func:`columns` (see ``docs/smc.md``), each
    stored in its compact dtype (``features.schema``: int8 flags, directions and codes, int16
    counts, int32 ages, float32 ratios, float64 prices). Values that need more history than
    exists (ATR warm-up, no swing yet) are "not yet known": NaN in float columns, the dtype's
    minimum in integer ones; ``features.schema.to_float64`` turns the frame (or some columns)
    into a float64 matrix with NaN there. ``smc_warm`` flags the rows past the engine's
    warm-up. Raises ``CandleDataError`` (a ``ValueError``) naming the problem for bad input.
    """
    cfg = _config(config)
    lay = layout(cfg)
    arrays = candle_arrays(candles, cfg.bar.ns)
    groups, _ = execute(lay, arrays)
    return lay.frame(groups, candles.index)


def _config(config: SMCConfig | None) -> SMCConfig:
    if config is None:
        return SMCConfig()
    if not isinstance(config, SMCConfig):
        raise TypeError(f"config must be an SMCConfig, got {type(config).__name__}")
    return config
