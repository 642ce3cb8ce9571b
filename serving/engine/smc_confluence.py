"""``smc_confluence``: a rule-based Smart Money Concepts entry on a minimum confluence score.

Factors for a long (a short mirrors each one), all read from features known at the bar's close:

==============  =================================================================================
``htf_bias``    the higher timeframe's bias is bullish (``features.mtf``: structure, dealing-range
                position and trend votes of its last *closed* candle), at least
                ``htf_min_strength`` strong
``zone``        price is in the discount half of the dealing range (``pd_zone == -1``)
``order_block`` reaction at a bullish order block: the bar's low reached the block (within
                ``poi_atr`` ATRs above it) and the bar closed up
``fvg``         the same reaction at a bullish fair value gap
``sweep``       sell-side liquidity was swept within the last ``sweep_lookback`` bars
``structure``   internal structure is bullish (a CHoCH/BOS up since the last break down)
``ote``         price is in the optimal-trade-entry band of an up-leg
``kill_zone``   the bar is inside a kill zone (Asia, London, NY AM, London close, NY PM)
==============  =================================================================================

The score is the weighted sum of the factors present. A long is signalled when the required
factors are present (by default: HTF bias, discount zone and an order block or FVG reaction),
the score reaches ``min_score``, the regime (``ctx_regime``: ADX trending/ranging) is allowed and
the volatility percentile (``ctx_vol_pct``) is inside the band. Every bar also carries the
structure stop (beyond the last internal swing low and this bar's low, plus ``stop_buffer_atr``
ATRs), the next buy-side liquidity target (nearest of the BSL pool, the previous day's high and
the last external swing high above the close, minus ``target_buffer_atr`` ATRs), a trailing
candidate when a new internal swing low is confirmed, and the exit flag (HTF bias flipped, or an
internal bearish CHoCH when ``exit_on_choch``). The risk manager decides what to do with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from features.candles.schema import Timeframe
from serving.engine import layout as L
from serving.engine.strategy import StrategyInputs
from serving.engine.validation import ConfigError, choice, in_range, integer

COLUMNS: tuple[str, ...] = (
    "open", "high", "low", "close", "ctx_atr", "smc_warm",
    "swing_int_high", "swing_int_low", "swing_int_high_new", "swing_int_low_new",
    "struct_int_trend", "struct_int_choch", "pd_zone", "pd_in_ote", "pd_leg_dir",
    "ob_bull_dist", "ob_bear_dist", "fvg_bull_dist", "fvg_bear_dist",
    "liq_bsl_dist", "liq_ssl_dist", "liq_ssl_sweep_bars_since", "liq_bsl_sweep_bars_since",
    "liq_pdh", "liq_pdl", "swing_ext_high", "swing_ext_low",
    "sess_kz_asia", "sess_kz_london", "sess_kz_ny_am", "sess_kz_london_close", "sess_kz_ny_pm",
    "ctx_regime", "ctx_vol_pct",
)  # fmt: skip
HTF_COLUMNS: tuple[str, ...] = ("smc_warm", "bias", "bias_strength")
(
    X_O, X_H, X_L, X_C, X_ATR, X_WARM,
    X_SW_INT_HIGH, X_SW_INT_LOW, X_SW_INT_HIGH_NEW, X_SW_INT_LOW_NEW,
    X_INT_TREND, X_INT_CHOCH, X_PD_ZONE, X_PD_OTE, X_PD_LEG,
    X_OB_BULL, X_OB_BEAR, X_FVG_BULL, X_FVG_BEAR,
    X_BSL, X_SSL, X_SSL_SWEEP_SINCE, X_BSL_SWEEP_SINCE,
    X_PDH, X_PDL, X_SW_EXT_HIGH, X_SW_EXT_LOW,
    X_KZ0, X_KZ1, X_KZ2, X_KZ3, X_KZ4,
    X_REGIME, X_VOL_PCT,
    X_HTF_WARM, X_HTF_BIAS, X_HTF_STRENGTH,
) = range(len(COLUMNS) + len(HTF_COLUMNS))  # fmt: skip

FACTORS: tuple[str, ...] = (
    "htf_bias", "zone", "order_block", "fvg", "sweep", "structure", "ote", "kill_zone",
)  # fmt: skip
F_HTF, F_ZONE, F_OB, F_FVG, F_SWEEP, F_STRUCT, F_OTE, F_KZ = range(len(FACTORS))
REGIMES = ("ranging", "trending")  # ctx_regime 0 / 1
DIRECTIONS = ("both", "long", "short")

# strategy parameter vector
S_W0 = 0  # the 8 factor weights
S_MIN_SCORE = 8
S_REQ_HTF = 9
S_REQ_ZONE = 10
S_REQ_POI = 11
S_POI_ATR = 12
S_SWEEP_LOOKBACK = 13
S_STOP_BUFFER = 14
S_TRAIL_BUFFER = 15
S_TARGET_BUFFER = 16
S_ALLOW_RANGING = 17
S_ALLOW_TRENDING = 18
S_VOL_MIN = 19
S_VOL_MAX = 20
S_EXIT_HTF = 21
S_EXIT_CHOCH = 22
S_LONG = 23
S_SHORT = 24
S_HTF_MIN_STRENGTH = 25  # weakest HTF bias strength that counts
NSP = 26


@dataclass(frozen=True)
class FactorWeights:
    """Weight of each confluence factor in the score."""

    htf_bias: float = 1.0
    zone: float = 1.0
    order_block: float = 1.0
    fvg: float = 1.0
    sweep: float = 1.0
    structure: float = 1.0
    ote: float = 1.0
    kill_zone: float = 1.0

    def __post_init__(self) -> None:
        for name in FACTORS:
            in_range("FactorWeights", name, getattr(self, name), 0.0, 100.0)


@dataclass(frozen=True)
class SMCConfluenceConfig:
    """Parameters of the ``smc_confluence`` strategy (see the module docstring)."""

    htf_timeframe: str = "1h"
    htf_min_strength: float = 0.0
    directions: str = "both"
    min_score: float = 4.0
    weights: FactorWeights = field(default_factory=FactorWeights)
    require_htf_bias: bool = True
    require_zone: bool = True
    require_poi: bool = True
    poi_atr: float = 0.5
    sweep_lookback: int = 24
    stop_buffer_atr: float = 0.25
    trail_buffer_atr: float = 0.1
    target_buffer_atr: float = 0.1
    regimes: tuple[str, ...] = REGIMES
    vol_pct_min: float = 0.0
    vol_pct_max: float = 1.0
    exit_on_htf_flip: bool = True
    exit_on_choch: bool = False

    def __post_init__(self) -> None:
        o = "SMCConfluenceConfig"
        try:
            tf = Timeframe.parse(self.htf_timeframe)
        except ValueError as exc:
            raise ConfigError(f"{o}.htf_timeframe: {exc}") from None
        object.__setattr__(self, "htf_timeframe", tf.label)
        in_range(o, "htf_min_strength", self.htf_min_strength, 0.0, 1.0)
        choice(o, "directions", self.directions, DIRECTIONS)
        if not isinstance(self.weights, FactorWeights):
            raise ConfigError(f"{o}.weights must be FactorWeights, got {self.weights!r}")
        in_range(o, "min_score", self.min_score, 0.0, 800.0)
        for flag in (
            "require_htf_bias",
            "require_zone",
            "require_poi",
            "exit_on_htf_flip",
            "exit_on_choch",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{o}.{flag} must be true or false, got {getattr(self, flag)!r}")
        in_range(o, "poi_atr", self.poi_atr, 0.0, 20.0)
        integer(o, "sweep_lookback", self.sweep_lookback, 0, 100_000)
        for name in ("stop_buffer_atr", "trail_buffer_atr", "target_buffer_atr"):
            in_range(o, name, getattr(self, name), 0.0, 20.0)
        regimes = tuple(self.regimes) if isinstance(self.regimes, list | tuple) else ()
        if not regimes or any(r not in REGIMES for r in regimes):
            raise ConfigError(f"{o}.regimes must be a non-empty subset of {list(REGIMES)}")
        object.__setattr__(self, "regimes", regimes)
        in_range(o, "vol_pct_min", self.vol_pct_min, 0.0, 1.0)
        in_range(o, "vol_pct_max", self.vol_pct_max, self.vol_pct_min, 1.0)

    def vector(self) -> np.ndarray:
        """Return the strategy's parameter vector."""
        v = np.zeros(NSP)
        for j, name in enumerate(FACTORS):
            v[S_W0 + j] = getattr(self.weights, name)
        v[S_MIN_SCORE] = self.min_score
        v[S_REQ_HTF] = float(self.require_htf_bias)
        v[S_REQ_ZONE] = float(self.require_zone)
        v[S_REQ_POI] = float(self.require_poi)
        v[S_POI_ATR] = self.poi_atr
        v[S_SWEEP_LOOKBACK] = self.sweep_lookback
        v[S_STOP_BUFFER] = self.stop_buffer_atr
        v[S_TRAIL_BUFFER] = self.trail_buffer_atr
        v[S_TARGET_BUFFER] = self.target_buffer_atr
        v[S_ALLOW_RANGING] = float("ranging" in self.regimes)
        v[S_ALLOW_TRENDING] = float("trending" in self.regimes)
        v[S_VOL_MIN] = self.vol_pct_min
        v[S_VOL_MAX] = self.vol_pct_max
        v[S_EXIT_HTF] = float(self.exit_on_htf_flip)
        v[S_EXIT_CHOCH] = float(self.exit_on_choch)
        v[S_LONG] = float(self.directions in ("both", "long"))
        v[S_SHORT] = float(self.directions in ("both", "short"))
        v[S_HTF_MIN_STRENGTH] = self.htf_min_strength
        return v


@njit(cache=True)
def _reaction(x: np.ndarray, d: float, dist: float, atr: float, poi_atr: float) -> bool:
    """Return whether this bar reacted off a zone ``dist`` ATRs away (signed as the column)."""
    if not np.isfinite(dist):
        return False
    gap = d * dist  # ATRs from the zone's near edge, >= 0 on the reacting side
    if gap < 0.0 or gap > poi_atr:
        return False
    edge = x[X_C] - d * gap * atr
    touched = x[X_L] <= edge if d > 0 else x[X_H] >= edge
    closed_away = d * (x[X_C] - x[X_O]) > 0.0
    return touched and closed_away


@njit(cache=True)
def _score(x: np.ndarray, d: float, htf: float, p: np.ndarray) -> tuple[float, int, bool]:
    """Return (score, factor bits, required factors present) for direction ``d``."""
    atr = x[X_ATR]
    f = np.zeros(len(FACTORS))
    f[F_HTF] = 1.0 if htf == d else 0.0
    f[F_ZONE] = 1.0 if x[X_PD_ZONE] == -d else 0.0
    f[F_OB] = (
        1.0 if _reaction(x, d, x[X_OB_BULL] if d > 0 else x[X_OB_BEAR], atr, p[S_POI_ATR]) else 0.0
    )
    f[F_FVG] = (
        1.0
        if _reaction(x, d, x[X_FVG_BULL] if d > 0 else x[X_FVG_BEAR], atr, p[S_POI_ATR])
        else 0.0
    )
    since = x[X_SSL_SWEEP_SINCE] if d > 0 else x[X_BSL_SWEEP_SINCE]
    f[F_SWEEP] = 1.0 if since <= p[S_SWEEP_LOOKBACK] else 0.0
    f[F_STRUCT] = 1.0 if x[X_INT_TREND] == d else 0.0
    f[F_OTE] = 1.0 if x[X_PD_OTE] == 1.0 and x[X_PD_LEG] == d else 0.0
    kz = x[X_KZ0] + x[X_KZ1] + x[X_KZ2] + x[X_KZ3] + x[X_KZ4]
    f[F_KZ] = 1.0 if kz > 0.0 else 0.0
    score = 0.0
    bits = 0
    for j in range(len(FACTORS)):
        score += p[S_W0 + j] * f[j]
        if f[j] > 0.0:
            bits |= 1 << j
    ok = True
    if p[S_REQ_HTF] > 0.5 and f[F_HTF] == 0.0:
        ok = False
    if p[S_REQ_ZONE] > 0.5 and f[F_ZONE] == 0.0:
        ok = False
    if p[S_REQ_POI] > 0.5 and f[F_OB] == 0.0 and f[F_FVG] == 0.0:
        ok = False
    return score, bits, ok


@njit(cache=True)
def _nearest_beyond(d: float, close: float, a: float, b: float, c: float) -> float:
    """Return the nearest of three levels strictly beyond ``close`` in direction ``d``."""
    best = np.nan
    for level in (a, b, c):
        beyond = np.isfinite(level) and d * (level - close) > 0.0
        if beyond and (np.isnan(best) or d * (level - best) < 0.0):
            best = level
    return best


@njit(cache=True)
def signal_row(x: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """Write the signal row of one bar's feature row ``x``."""
    out[:] = np.nan
    out[L.SIG_ENTRY] = 0.0
    out[L.SIG_SCORE] = 0.0
    out[L.SIG_FACTORS] = 0.0
    out[L.SIG_EXIT_LONG] = 0.0
    out[L.SIG_EXIT_SHORT] = 0.0
    atr = x[X_ATR]
    out[L.SIG_ATR] = atr
    if not (np.isfinite(atr) and atr > 0.0):
        return
    c = x[X_C]
    # stops, targets and trailing candidates: every bar (the random baseline uses them too)
    if np.isfinite(x[X_SW_INT_LOW]):
        out[L.SIG_LONG_STOP] = min(x[X_SW_INT_LOW], x[X_L]) - p[S_STOP_BUFFER] * atr
    if np.isfinite(x[X_SW_INT_HIGH]):
        out[L.SIG_SHORT_STOP] = max(x[X_SW_INT_HIGH], x[X_H]) + p[S_STOP_BUFFER] * atr
    buffer = p[S_TARGET_BUFFER] * atr
    bsl = c + x[X_BSL] * atr
    ssl = c - x[X_SSL] * atr
    up = _nearest_beyond(1.0, c, bsl, x[X_PDH], x[X_SW_EXT_HIGH])
    dn = _nearest_beyond(-1.0, c, ssl, x[X_PDL], x[X_SW_EXT_LOW])
    out[L.SIG_LONG_TARGET] = up - buffer
    out[L.SIG_SHORT_TARGET] = dn + buffer
    if x[X_SW_INT_LOW_NEW] == 1.0 and np.isfinite(x[X_SW_INT_LOW]):
        out[L.SIG_TRAIL_LONG] = x[X_SW_INT_LOW] - p[S_TRAIL_BUFFER] * atr
    if x[X_SW_INT_HIGH_NEW] == 1.0 and np.isfinite(x[X_SW_INT_HIGH]):
        out[L.SIG_TRAIL_SHORT] = x[X_SW_INT_HIGH] + p[S_TRAIL_BUFFER] * atr
    htf = x[X_HTF_BIAS] if x[X_HTF_STRENGTH] >= p[S_HTF_MIN_STRENGTH] else 0.0
    if p[S_EXIT_HTF] > 0.5:
        out[L.SIG_EXIT_LONG] = 1.0 if htf == -1.0 else 0.0
        out[L.SIG_EXIT_SHORT] = 1.0 if htf == 1.0 else 0.0
    if p[S_EXIT_CHOCH] > 0.5:
        if x[X_INT_CHOCH] == -1.0:
            out[L.SIG_EXIT_LONG] = 1.0
        if x[X_INT_CHOCH] == 1.0:
            out[L.SIG_EXIT_SHORT] = 1.0
    # entries
    if x[X_WARM] != 1.0 or x[X_HTF_WARM] != 1.0:
        return
    regime = x[X_REGIME]
    if not (p[S_ALLOW_RANGING] > 0.5 and p[S_ALLOW_TRENDING] > 0.5):
        if not np.isfinite(regime):
            return
        if regime == 1.0 and p[S_ALLOW_TRENDING] < 0.5:
            return
        if regime == 0.0 and p[S_ALLOW_RANGING] < 0.5:
            return
    if p[S_VOL_MIN] > 0.0 or p[S_VOL_MAX] < 1.0:
        vol = x[X_VOL_PCT]
        if not (np.isfinite(vol) and p[S_VOL_MIN] <= vol <= p[S_VOL_MAX]):
            return
    best = 0.0
    best_score = -1.0
    best_bits = 0
    tie = False
    for d in (1.0, -1.0):
        if (d > 0 and p[S_LONG] < 0.5) or (d < 0 and p[S_SHORT] < 0.5):
            continue
        score, bits, ok = _score(x, d, htf, p)
        if not ok or score < p[S_MIN_SCORE]:
            continue
        if score > best_score:
            best, best_score, best_bits, tie = d, score, bits, False
        elif score == best_score:
            tie = True
    if best != 0.0 and not tie:
        out[L.SIG_ENTRY] = best
        out[L.SIG_SCORE] = best_score
        out[L.SIG_FACTORS] = float(best_bits)


@njit(cache=True)
def signal_rows(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return the signal rows of every bar of the feature matrix ``x``."""
    out = np.empty((x.shape[0], L.NS))
    for i in range(x.shape[0]):
        signal_row(x[i], p, out[i])
    return out


class SMCConfluence:
    """The ``smc_confluence`` strategy (implements :class:`serving.engine.strategy.Strategy`)."""

    name = "smc_confluence"

    def __init__(self, config: SMCConfluenceConfig | None = None) -> None:
        """Build the strategy from its config (defaults when ``None``)."""
        self.config = config or SMCConfluenceConfig()
        self._p = self.config.vector()

    def inputs(self) -> StrategyInputs:
        """Return the base and higher-timeframe columns the strategy reads."""
        return StrategyInputs(COLUMNS, self.config.htf_timeframe, HTF_COLUMNS)

    def signals(self, features: np.ndarray) -> np.ndarray:
        """Return the signal rows of a whole feature matrix."""
        x = np.ascontiguousarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(COLUMNS) + len(HTF_COLUMNS):
            raise ValueError(f"smc_confluence: feature matrix of shape {x.shape} is not (n, 37)")
        return np.asarray(signal_rows(x, self._p))

    def signal(self, row: np.ndarray) -> np.ndarray:
        """Return the signal row of one bar."""
        out = np.empty(L.NS)
        signal_row(np.ascontiguousarray(row, dtype=np.float64), self._p, out)
        return out
