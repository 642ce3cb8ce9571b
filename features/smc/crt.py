"""Candle range theory (CRT) on a higher timeframe built causally from the base bars.

Higher-timeframe (HTF) candles are buckets of the UTC grid (weeks start on Monday 00:00 UTC). An
HTF candle is *complete* at the base bar whose close is the bucket's close, and only if every base
bar of the bucket was seen (the first, partial bucket of a series and buckets with holes never
count). When a complete HTF candle follows a complete previous one and takes exactly one side of
the previous candle's range (high above its high, or low below its low) and closes back inside
that range, it is a CRT: bearish after a sweep of the high (target: the previous low), bullish
after a sweep of the low (target: the previous high). The signal appears at the completing base
bar, never earlier. After it, the setup's outcome is tracked bar by bar: the target is hit when
price touches it, the setup fails when price trades beyond the sweep extreme (if both happen in
one bar, the failure counts: the order inside a bar is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.candles.schema import CandleDataError, Timeframe
from features.schema import ColumnSpec, age, direction, names, price, state
from features.smc.frame import step_frame
from features.smc.tables import NO_REFCOUNT
from features.smc.validate import candle_arrays

SPECS: tuple[ColumnSpec, ...] = (
    direction("crt_signal", "CRT signal on the bar completing the HTF candle", required=True),
    direction("crt_dir", "direction of the latest setup", required=True),
    price("crt_range_high", "the setup's range high"),
    price("crt_range_low", "the setup's range low"),
    price("crt_target", "the setup's target"),
    price("crt_stop", "the setup's stop"),
    age("crt_bars_since", "bars since the latest setup"),
    state("crt_outcome", ("failed", "running", "target"), "outcome of the latest setup", lo=-1.0),
    price("crt_htf_high", "last complete HTF candle's high"),
    price("crt_htf_low", "last complete HTF candle's low"),
)
COLUMNS: tuple[str, ...] = names(SPECS)

_WEEK_NS = 7 * 86_400 * 1_000_000_000
_MONDAY_ANCHOR_NS = 4 * 86_400 * 1_000_000_000  # 1970-01-05, the first Monday after the epoch

# State layout.
_BUCKET, _HIGH, _LOW, _COUNT = 0, 1, 2, 3
_PREV_BUCKET, _PREV_HIGH, _PREV_LOW = 4, 5, 6
_DIR, _SIG_N, _RANGE_HIGH, _RANGE_LOW, _TARGET, _STOP, _OUTCOME = 7, 8, 9, 10, 11, 12, 13
_STATE_SIZE = 14

Params = tuple[int, int, int, int]


@dataclass(frozen=True)
class CRTConfig:
    """CRT settings: the base timeframe of the bars and the higher timeframe of the ranges."""

    timeframe: str = "5m"
    htf: str = "1h"

    def __post_init__(self) -> None:
        base = _parse(self.timeframe, "timeframe")
        htf = _parse(self.htf, "htf")
        if htf.seconds <= base.seconds or htf.seconds % base.seconds:
            raise ValueError(
                f"CRTConfig.htf: {htf} must be a whole multiple (>= 2) of timeframe {base}"
            )

    @property
    def base_ns(self) -> int:
        """The base bar length in nanoseconds."""
        return Timeframe.parse(self.timeframe).ns

    @property
    def htf_ns(self) -> int:
        """The higher-timeframe candle length in nanoseconds."""
        return Timeframe.parse(self.htf).ns


def _parse(value: str, name: str) -> Timeframe:
    try:
        return Timeframe.parse(value)
    except CandleDataError as exc:
        raise ValueError(f"CRTConfig.{name}: {exc}") from exc


def lookback(cfg: CRTConfig) -> int:
    """Return how many bars back ``step`` reads (only the current bar)."""
    return 1


def init_state(cfg: CRTConfig) -> np.ndarray:
    """Return a fresh state: no bucket, no previous HTF candle, no setup."""
    state = np.full(_STATE_SIZE, np.nan)
    state[_COUNT] = 0.0
    return state


def make_params(cfg: CRTConfig) -> Params:
    """Return ``(base_ns, htf_ns, anchor_ns, bars_per_htf)``."""
    anchor = _MONDAY_ANCHOR_NS if cfg.htf_ns % _WEEK_NS == 0 else 0
    return cfg.base_ns, cfg.htf_ns, anchor, cfg.htf_ns // cfg.base_ns


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
    """Advance the HTF candle and the CRT setup by bar ``i``; write ``COLUMNS`` into ``out``."""
    base_ns, htf_ns, anchor, per_htf = params
    t = ts[i]
    h = hi[i]
    low = lo[i]
    bucket = (t - anchor) // htf_ns
    if state[_BUCKET] != bucket:
        state[_BUCKET] = bucket
        state[_HIGH] = h
        state[_LOW] = low
        state[_COUNT] = 1.0
    else:
        state[_HIGH] = max(state[_HIGH], h)
        state[_LOW] = min(state[_LOW], low)
        state[_COUNT] += 1.0

    # Outcome of the running setup, from the bar after its signal on.
    if state[_OUTCOME] == 0.0 and n > state[_SIG_N]:
        if state[_DIR] < 0.0:
            if h > state[_STOP]:
                state[_OUTCOME] = -1.0
            elif low <= state[_TARGET]:
                state[_OUTCOME] = 1.0
        elif low < state[_STOP]:
            state[_OUTCOME] = -1.0
        elif h >= state[_TARGET]:
            state[_OUTCOME] = 1.0

    signal = 0.0
    if t + base_ns == anchor + (bucket + 1) * htf_ns and state[_COUNT] == per_htf:
        high = state[_HIGH]
        low_htf = state[_LOW]
        close = cl[i]
        if state[_PREV_BUCKET] == bucket - 1:
            prev_high = state[_PREV_HIGH]
            prev_low = state[_PREV_LOW]
            took_high = high > prev_high
            took_low = low_htf < prev_low
            if took_high and not took_low and close <= prev_high:
                signal = -1.0
                _start(state, n, -1.0, prev_high, prev_low, prev_low, high)
            elif took_low and not took_high and close >= prev_low:
                signal = 1.0
                _start(state, n, 1.0, prev_high, prev_low, prev_high, low_htf)
        state[_PREV_BUCKET] = bucket
        state[_PREV_HIGH] = high
        state[_PREV_LOW] = low_htf

    out[0] = signal
    has_setup = not np.isnan(state[_DIR])
    out[1] = state[_DIR] if has_setup else 0.0
    out[2] = state[_RANGE_HIGH]
    out[3] = state[_RANGE_LOW]
    out[4] = state[_TARGET]
    out[5] = state[_STOP]
    out[6] = n - state[_SIG_N] if has_setup else np.nan
    out[7] = state[_OUTCOME]
    out[8] = state[_PREV_HIGH]
    out[9] = state[_PREV_LOW]


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _start(
    state: np.ndarray,
    n: int,
    direction: float,
    range_high: float,
    range_low: float,
    target: float,
    stop: float,
) -> None:
    state[_DIR] = direction
    state[_SIG_N] = n
    state[_RANGE_HIGH] = range_high
    state[_RANGE_LOW] = range_low
    state[_TARGET] = target
    state[_STOP] = stop
    state[_OUTCOME] = 0.0


def compute(candles: pd.DataFrame, cfg: CRTConfig | None = None) -> pd.DataFrame:
    """Return the CRT columns for every bar (reference batch path)."""
    cfg = cfg or CRTConfig()
    arrays = candle_arrays(candles, cfg.base_ns)
    atr = np.full(arrays[0].shape[0], np.nan)
    return step_frame(candles, (*arrays, atr), step, init_state(cfg), make_params(cfg), COLUMNS)
