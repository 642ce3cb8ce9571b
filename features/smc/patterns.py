"""Candlestick patterns with a strength score, each known at the close of its last candle.

Notation for a candle: ``body = |close - open|``, ``range = high - low``, ``upper`` and ``lower``
the shadows. Every pattern reports a value (a 0/1 flag, or +1 bullish / -1 bearish) and a
strength in [0, 1] (0 when absent)::

    strength = 0.5 * shape + 0.25 * size + 0.25 * volume
    size     = min(1, range of the reference candle / (2 * ATR))
    volume   = min(1, volume / (2 * EMA of the previous bars' volume)), 0.5 while unknown

``shape`` is the pattern's own quality measure in [0, 1], documented per pattern in
docs/smc-context.md. Every column is NaN until the ATR is known (its warm-up). Single-candle
patterns (doji, hammer family, pin bar) need ``range >= min_range_atr * ATR``, an engulfing
candle ``body >= min_range_atr * ATR``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from features.schema import ColumnSpec, Kind, direction, flag, names, ratio, state
from features.smc.frame import prepare, step_frame
from features.smc.tables import NO_REFCOUNT


def _str_spec(name: str, what: str) -> ColumnSpec:
    return ratio(f"{name}_str", "fraction", 0.0, 1.0, f"{what} strength", required=True)


SPECS: tuple[ColumnSpec, ...] = (
    direction("pat_engulfing", "+1 / -1 bullish / bearish engulfing", required=True),
    _str_spec("pat_engulfing", "engulfing"),
    flag("pat_doji", "1 on a doji", required=True),
    state(
        "pat_doji_kind",
        ("none", "standard", "dragonfly", "gravestone", "long_legged"),
        "doji kind",
        required=True,
        kind=Kind.CATEGORICAL,
    ),
    _str_spec("pat_doji", "doji"),
    flag("pat_hammer", "1 on a hammer", required=True),
    _str_spec("pat_hammer", "hammer"),
    flag("pat_inverted_hammer", "1 on an inverted hammer", required=True),
    _str_spec("pat_inverted_hammer", "inverted hammer"),
    flag("pat_shooting_star", "1 on a shooting star", required=True),
    _str_spec("pat_shooting_star", "shooting star"),
    flag("pat_hanging_man", "1 on a hanging man", required=True),
    _str_spec("pat_hanging_man", "hanging man"),
    direction("pat_pin_bar", "+1 / -1 bullish / bearish pin bar", required=True),
    _str_spec("pat_pin_bar", "pin bar"),
    flag("pat_inside", "1 on an inside bar", required=True),
    _str_spec("pat_inside", "inside bar"),
    flag("pat_outside", "1 on an outside bar", required=True),
    _str_spec("pat_outside", "outside bar"),
    direction("pat_star", "+1 / -1 morning / evening star", required=True),
    _str_spec("pat_star", "star"),
    direction("pat_three", "+1 / -1 three soldiers / three crows", required=True),
    _str_spec("pat_three", "three soldiers / crows"),
)
COLUMNS: tuple[str, ...] = names(SPECS)

DOJI_STANDARD, DOJI_DRAGONFLY, DOJI_GRAVESTONE, DOJI_LONG_LEGGED = 1.0, 2.0, 3.0, 4.0

# State layout: [volume EMA].
_STATE_SIZE = 1

Params = tuple[float, float, float, float, float, float, float, float, float, int, float]


@dataclass(frozen=True)
class PatternsConfig:
    """Pattern thresholds (fractions of the candle's range unless named ``*_atr``)."""

    min_range_atr: float = 0.3
    doji_body: float = 0.1
    doji_small_shadow: float = 0.1
    doji_long_legged_atr: float = 1.0
    shadow_body_ratio: float = 2.0
    opposite_shadow_max: float = 0.15
    pin_nose: float = 2.0 / 3.0
    star_body_max: float = 0.3
    long_body_atr: float = 0.5
    trend_bars: int = 5
    volume_ema: int = 20
    atr_period: int = 14

    def __post_init__(self) -> None:
        fractions = (
            "doji_body",
            "doji_small_shadow",
            "opposite_shadow_max",
            "pin_nose",
            "star_body_max",
        )
        for name in fractions:
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"PatternsConfig.{name}: must be in (0, 1), got {value}")
        for name in ("min_range_atr", "doji_long_legged_atr", "shadow_body_ratio", "long_body_atr"):
            value = getattr(self, name)
            if not value >= 0.0 or not np.isfinite(value):
                raise ValueError(
                    f"PatternsConfig.{name}: must be a finite number >= 0, got {value}"
                )
        for name in ("trend_bars", "volume_ema", "atr_period"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"PatternsConfig.{name}: must be an int >= 1, got {value!r}")


def lookback(cfg: PatternsConfig) -> int:
    """Return how many bars back ``step`` reads: three candles and the trend reference."""
    return max(3, cfg.trend_bars + 2)


def init_state(cfg: PatternsConfig) -> np.ndarray:
    """Return a fresh state: the volume EMA is unknown."""
    return np.full(_STATE_SIZE, np.nan)


def make_params(cfg: PatternsConfig) -> Params:
    """Return the thresholds as a numba-friendly tuple (see ``PatternsConfig``)."""
    return (
        cfg.min_range_atr,
        cfg.doji_body,
        cfg.doji_small_shadow,
        cfg.doji_long_legged_atr,
        cfg.shadow_body_ratio,
        cfg.opposite_shadow_max,
        cfg.pin_nose,
        cfg.star_body_max,
        cfg.long_body_atr,
        cfg.trend_bars,
        2.0 / (cfg.volume_ema + 1.0),
    )


@njit(cache=True, inline="always", **NO_REFCOUNT)
def _strength(shape: float, size_range: float, a: float, volume_score: float) -> float:
    size = min(1.0, size_range / (2.0 * a)) if a > 0.0 else 0.0
    return 0.5 * min(1.0, max(0.0, shape)) + 0.25 * size + 0.25 * volume_score


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
    """Detect the patterns that complete at bar ``i``; write ``COLUMNS`` into ``out``."""
    (
        min_range_atr,
        doji_body,
        doji_small,
        long_legged_atr,
        shadow_ratio,
        opposite_max,
        pin_nose,
        star_body_max,
        long_body_atr,
        trend_bars,
        alpha,
    ) = params
    o = op[i]
    h = hi[i]
    low = lo[i]
    c = cl[i]
    v = vol[i]
    ema = state[0]
    vol_score = 0.5 if np.isnan(ema) or ema <= 0.0 else min(1.0, v / (2.0 * ema))
    state[0] = v if np.isnan(ema) else ema + alpha * (v - ema)

    a = atr[i]
    if np.isnan(a):
        for k in range(23):
            out[k] = np.nan
        return
    for k in range(23):
        out[k] = 0.0

    rng = h - low
    body = abs(c - o)
    upper = h - max(o, c)
    lower = min(o, c) - low
    single_ok = rng > 0.0 and rng >= min_range_atr * a

    # Doji: a body of at most doji_body of the range.
    if single_ok and body <= doji_body * rng:
        if upper <= doji_small * rng:
            kind = 2.0  # dragonfly
        elif lower <= doji_small * rng:
            kind = 3.0  # gravestone
        elif upper >= 0.3 * rng and lower >= 0.3 * rng and rng >= long_legged_atr * a:
            kind = 4.0  # long-legged
        else:
            kind = 1.0
        out[2] = 1.0
        out[3] = kind
        out[4] = _strength(1.0 - body / (doji_body * rng), rng, a, vol_score)

    # Prior trend: the previous close against the close trend_bars earlier.
    trend = 0.0
    if n >= trend_bars + 1:
        ref = cl[i - 1 - trend_bars]
        if cl[i - 1] < ref:
            trend = -1.0
        elif cl[i - 1] > ref:
            trend = 1.0

    # Hammer shape (long lower shadow) and inverted shape (long upper shadow).
    if single_ok and trend != 0.0:
        if lower >= shadow_ratio * body and upper <= opposite_max * rng:
            s = _strength(lower / rng, rng, a, vol_score)
            col = 5 if trend < 0.0 else 11  # hammer after a decline, else hanging man
            out[col] = 1.0
            out[col + 1] = s
        elif upper >= shadow_ratio * body and lower <= opposite_max * rng:
            s = _strength(upper / rng, rng, a, vol_score)
            col = 7 if trend < 0.0 else 9  # inverted hammer after a decline, else shooting star
            out[col] = 1.0
            out[col + 1] = s

    if n < 1:
        return
    o1 = op[i - 1]
    h1 = hi[i - 1]
    l1 = lo[i - 1]
    c1 = cl[i - 1]
    rng1 = h1 - l1
    body1 = abs(c1 - o1)

    # Pin bar: a nose of at least pin_nose of the range, sticking out beyond the previous bar.
    if single_ok:
        if lower >= pin_nose * rng and low < l1:
            out[13] = 1.0
            out[14] = _strength(lower / rng, rng, a, vol_score)
        elif upper >= pin_nose * rng and h > h1:
            out[13] = -1.0
            out[14] = _strength(upper / rng, rng, a, vol_score)

    # Engulfing: a body of at least min_range_atr * ATR engulfs the previous, opposite body.
    if body > body1 and body >= min_range_atr * a:
        if c > o and c1 < o1 and c >= o1 and o <= c1:
            out[0] = 1.0
            out[1] = _strength(1.0 - body1 / body, rng, a, vol_score)
        elif c < o and c1 > o1 and c <= o1 and o >= c1:
            out[0] = -1.0
            out[1] = _strength(1.0 - body1 / body, rng, a, vol_score)

    # Inside and outside bars.
    if h <= h1 and low >= l1 and rng < rng1:
        out[15] = 1.0
        out[16] = _strength(1.0 - rng / rng1, rng1, a, vol_score)
    elif h >= h1 and low <= l1 and rng > rng1:
        out[17] = 1.0
        out[18] = _strength(1.0 - rng1 / rng, rng, a, vol_score)

    if n < 2:
        return
    o2 = op[i - 2]
    c2 = cl[i - 2]
    body2 = abs(c2 - o2)
    rng2 = hi[i - 2] - lo[i - 2]
    long_min = long_body_atr * a

    # Morning / evening star: long candle, small star beyond its middle, strong reversal candle.
    if body2 >= long_min and body1 <= star_body_max * body2:
        mid2 = 0.5 * (o2 + c2)
        if c2 < o2 and max(o1, c1) < mid2 and c > o and c > mid2:
            out[19] = 1.0
            out[20] = _strength((c - mid2) / (o2 - mid2), rng, a, vol_score)
        elif c2 > o2 and min(o1, c1) > mid2 and c < o and c < mid2:
            out[19] = -1.0
            out[20] = _strength((mid2 - c) / (mid2 - o2), rng, a, vol_score)

    # Three white soldiers / black crows: three strong candles, each opening inside the previous
    # body and closing beyond the previous close.
    strong = body >= long_min and body1 >= long_min and body2 >= long_min
    if strong and rng > 0.0 and rng1 > 0.0 and rng2 > 0.0:
        shape = (body / rng + body1 / rng1 + body2 / rng2) / 3.0
        solid = body >= 0.5 * rng and body1 >= 0.5 * rng1 and body2 >= 0.5 * rng2
        rising = c2 > o2 and c1 > o1 and c > o
        falling = c2 < o2 and c1 < o1 and c < o
        if solid and rising and o2 <= o1 <= c2 and o1 <= o <= c1 and c1 > c2 and c > c1:
            out[21] = 1.0
            out[22] = _strength(shape, rng, a, vol_score)
        elif solid and falling and c2 <= o1 <= o2 and c1 <= o <= o1 and c1 < c2 and c < c1:
            out[21] = -1.0
            out[22] = _strength(shape, rng, a, vol_score)


def compute(candles: pd.DataFrame, cfg: PatternsConfig | None = None) -> pd.DataFrame:
    """Return the pattern columns for every bar (reference batch path, Wilder ATR)."""
    cfg = cfg or PatternsConfig()
    arrays = prepare(candles, cfg.atr_period)
    return step_frame(candles, arrays, step, init_state(cfg), make_params(cfg), COLUMNS)
