"""The one signal rule, ``smc_confluence``, shared by the backtest, the API and the live loop.

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

Two faces of the same compiled rule:

- :class:`SMCConfluence` (a :class:`serving.engine.strategy.Strategy`): the signal rows the
  engine runs on, a whole matrix at once (``signals``) or one bar (``signal``);
- :func:`make_signal`: one bar's feature row and the risk manager's plan
  (:func:`serving.engine.risk.plan_order`, the engine's own sizing code) as the product's
  signal record (:class:`Signal`, ``docs/backtest.md``), for the API and the live loop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numba import njit

from features.candles.schema import Timeframe
from features.smc.jitcache import cache_dir_of, ensure_fresh
from serving.engine import layout as L
from serving.engine.risk import EntryPlan, EntryRefused, plan_order
from serving.engine.strategy import StrategyInputs
from serving.engine.validation import ConfigError, choice, duration_ns, in_range, integer

if TYPE_CHECKING:  # the engine's config holds this module's config: no import cycle at run time
    from serving.engine.config import BacktestConfig

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
    """Parameters of the ``smc_confluence`` rule (see the module docstring).

    ``moderate_score`` and ``strong_score`` only name a signal's strength (``WEAK`` below the
    first, ``MODERATE``, ``STRONG`` from the second); they take no part in the decision.
    """

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
    moderate_score: float = 5.0
    strong_score: float = 6.0

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
        in_range(o, "moderate_score", self.moderate_score, 0.0, 800.0)
        in_range(o, "strong_score", self.strong_score, self.moderate_score, 800.0)

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


@njit(cache=True, inline="always")
def _score(x: np.ndarray, d: float, htf: float, p: np.ndarray) -> tuple[float, int, bool]:
    """Return (score, factor bits, required factors present) for direction ``d``."""
    atr = x[X_ATR]
    poi = p[S_POI_ATR]
    since = x[X_SSL_SWEEP_SINCE] if d > 0 else x[X_BSL_SWEEP_SINCE]
    kz = x[X_KZ0] + x[X_KZ1] + x[X_KZ2] + x[X_KZ3] + x[X_KZ4]
    # a tuple in FACTORS order, not an array: no allocation per bar and direction
    f = (
        1.0 if htf == d else 0.0,  # F_HTF
        1.0 if x[X_PD_ZONE] == -d else 0.0,  # F_ZONE
        1.0 if _reaction(x, d, x[X_OB_BULL] if d > 0 else x[X_OB_BEAR], atr, poi) else 0.0,
        1.0 if _reaction(x, d, x[X_FVG_BULL] if d > 0 else x[X_FVG_BEAR], atr, poi) else 0.0,
        1.0 if since <= p[S_SWEEP_LOOKBACK] else 0.0,  # F_SWEEP
        1.0 if x[X_INT_TREND] == d else 0.0,  # F_STRUCT
        1.0 if x[X_PD_OTE] == 1.0 and x[X_PD_LEG] == d else 0.0,  # F_OTE
        1.0 if kz > 0.0 else 0.0,  # F_KZ
    )
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


@njit(cache=True, inline="always")
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


# numba checks a cached function against its own file only; this rule's compiled code also
# freezes the engine's signal-row layout: drop it whenever an engine source changes.
ensure_fresh(cache_dir_of(signal_rows), package=Path(L.__file__).resolve().parent)


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


# -- the product's signal record -------------------------------------------------------------------

ENTRY, EXIT, NONE = "ENTRY", "EXIT", "NONE"
SIDES = {1: "LONG", -1: "SHORT"}
FACTOR_NAMES: dict[str, tuple[str, str]] = {
    "htf_bias": ("higher_timeframe_bullish", "higher_timeframe_bearish"),
    "zone": ("discount_zone_entry", "premium_zone_entry"),
    "order_block": ("order_block_support", "order_block_resistance"),
    "fvg": ("fvg_fill_reaction", "fvg_fill_reaction"),
    "sweep": ("sell_side_liquidity_swept", "buy_side_liquidity_swept"),
    "structure": ("internal_structure_bullish", "internal_structure_bearish"),
    "ote": ("optimal_trade_entry", "optimal_trade_entry"),
    "kill_zone": ("kill_zone", "kill_zone"),
}
"""The product's name of each factor, for a long and for a short."""
_SIGNAL_IDS = uuid.UUID("5f0e6a52-6d1c-4f4e-9a55-2c1b7e0d9a61")


def factor_names(bits: int, direction: int) -> tuple[str, ...]:
    """Return the product's names of the factors in a signal row's bit mask, in factor order."""
    side = 0 if direction > 0 else 1
    return tuple(FACTOR_NAMES[f][side] for j, f in enumerate(FACTORS) if bits >> j & 1)


@dataclass(frozen=True)
class SMCAnalysis:
    """The SMC facts of a signal: factors present and the internal structure at the bar."""

    order_block_present: bool
    fvg_confluence: bool
    liquidity_sweep: bool
    market_structure: str | None


@dataclass(frozen=True)
class Signal:
    """The product's signal record (``docs/backtest.md``, "Signal record").

    Attributes:
        signal_id: Deterministic id of (symbol, timeframe, bar, type, direction): the same bar
            gives the same id however many times it is computed.
        type: ``ENTRY``, ``EXIT`` (close the ``direction`` position) or ``NONE``.
        direction: ``LONG`` / ``SHORT``; ``None`` with ``NONE``.
        strength: ``WEAK`` / ``MODERATE`` / ``STRONG`` from the rule's score (entries only).
        entry_price: The price the plan is made at (the bar's close for a market entry).
        stop_loss: The risk manager's stop (the structure stop, widened by its rules).
        take_profit: The take-profit ladder, nearest first (the last is the final target).
        risk_reward_ratio: Reward:risk of the final target.
        confidence_score: The model's calibrated probability x 100; ``None`` (rule only).
        model_version: The model that scored it; ``None`` (rule only).
        score: The rule's confluence score (weighted factors present; 0 without an entry).
        reason: Why a ``NONE`` or ``EXIT`` (a refused entry names the risk rule); else ``None``.
        generated_at: The bar's close, when every input became known.
        expires_at: When the decision lapses: the next bar's close for a market entry, the
            entry timeout for a limit or stop entry.
    """

    signal_id: str
    symbol: str
    type: str
    direction: str | None
    strength: str | None
    timeframe: str
    entry_price: float | None
    stop_loss: float | None
    take_profit: tuple[float, ...]
    risk_reward_ratio: float | None
    confidence_score: int | None
    model_version: str | None
    smc_analysis: SMCAnalysis
    confluence_factors: tuple[str, ...]
    score: float
    reason: str | None
    generated_at: pd.Timestamp
    expires_at: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values (times ISO 8601 UTC, ``...Z``)."""
        return {
            "signal_id": self.signal_id,
            "symbol": self.symbol,
            "type": self.type,
            "direction": self.direction,
            "strength": self.strength,
            "timeframe": self.timeframe,
            "entry_price": self.entry_price,
            "stop_loss": self.stop_loss,
            "take_profit": list(self.take_profit),
            "risk_reward_ratio": self.risk_reward_ratio,
            "confidence_score": self.confidence_score,
            "model_version": self.model_version,
            "smc_analysis": {
                "order_block_present": self.smc_analysis.order_block_present,
                "fvg_confluence": self.smc_analysis.fvg_confluence,
                "liquidity_sweep": self.smc_analysis.liquidity_sweep,
                "market_structure": self.smc_analysis.market_structure,
            },
            "confluence_factors": list(self.confluence_factors),
            "score": self.score,
            "reason": self.reason,
            "generated_at": _iso(self.generated_at),
            "expires_at": _iso(self.expires_at),
        }


def _iso(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _structure(row: np.ndarray) -> str | None:
    """Return the internal structure at the bar: a CHoCH confirmed on it, else the trend."""
    choch, trend = row[X_INT_CHOCH], row[X_INT_TREND]
    if choch in (1.0, -1.0):
        return f"{'bullish' if choch > 0 else 'bearish'}_choch"
    if trend in (1.0, -1.0):
        return f"{'bullish' if trend > 0 else 'bearish'}_trend"
    return None


def _strength(score: float, config: SMCConfluenceConfig) -> str:
    if score >= config.strong_score:
        return "STRONG"
    return "MODERATE" if score >= config.moderate_score else "WEAK"


def plan_for(
    sig: np.ndarray, row: np.ndarray, config: BacktestConfig, equity: float | None = None
) -> EntryPlan | EntryRefused | None:
    """Return the risk manager's plan for a signal row's entry (``None``: no entry intent).

    The plan is :func:`serving.engine.risk.plan_order`: the engine's compiled sizing with a
    fresh account of ``equity`` (``config.initial_cash`` when ``None``), so its stop, ladder
    and reward:risk are the ones the backtest computes for the same bar; a model's size in
    ``sig[SIG_SIZE]`` scales it (0: "declined by the model"), as in the backtest.
    """
    direction = int(sig[L.SIG_ENTRY])
    if direction == 0:
        return None
    stop = sig[L.SIG_LONG_STOP] if direction > 0 else sig[L.SIG_SHORT_STOP]
    target = sig[L.SIG_LONG_TARGET] if direction > 0 else sig[L.SIG_SHORT_TARGET]
    close = float(row[X_C])
    if not np.isfinite(stop):
        return EntryRefused(L.REASONS[L.R_NO_STOP])
    if direction * (close - stop) <= 0.0:
        return EntryRefused(L.REASONS[L.R_STOP_WRONG_SIDE])
    try:
        return plan_order(
            config.risk,
            direction,
            close,
            float(stop),
            float(sig[L.SIG_ATR]),
            float(config.initial_cash if equity is None else equity),
            float(target) if np.isfinite(target) else None,
            taker_fee=config.execution.taker_fee,
            slippage_bps=config.execution.slippage_bps,
            size=float(sig[L.SIG_SIZE]) if np.isfinite(sig[L.SIG_SIZE]) else None,
        )
    except EntryRefused as refused:
        return refused


def to_signal(
    row: np.ndarray,
    sig: np.ndarray,
    plan: EntryPlan | EntryRefused | None,
    *,
    symbol: str,
    timeframe: Timeframe | str,
    opened_at: pd.Timestamp,
    config: BacktestConfig,
    position: int = 0,
) -> Signal:
    """Return the signal record of one bar from its feature row, signal row and plan.

    Args:
        row: The bar's feature row (``SMCConfluence.inputs().names`` order).
        sig: Its signal row (``SMCConfluence.signal``).
        plan: The risk manager's answer to the entry (``plan_for``), ``None`` without one.
        symbol: Market symbol, echoed.
        timeframe: The bar's timeframe.
        opened_at: The bar's open time (UTC); the record is generated at its close.
        config: The strategy, risk and execution settings the plan was made with.
        position: The position held (+1 long, -1 short, 0 flat or unknown): its exit flag
            makes an ``EXIT``, which takes precedence over a new entry.
    """
    tf = Timeframe.parse(timeframe)
    generated = pd.Timestamp(opened_at).tz_convert("UTC") + tf.delta
    lapse = pd.Timedelta(tf.delta)
    if config.risk.entry_order != "market":
        lapse = pd.Timedelta(duration_ns("RiskConfig", "entry_timeout", config.risk.entry_timeout))
    facts = SMCAnalysis(False, False, False, _structure(row))
    kind, direction, reason = NONE, 0, None
    strength: str | None = None
    factors: tuple[str, ...] = ()
    score = 0.0
    exits = {1: sig[L.SIG_EXIT_LONG], -1: sig[L.SIG_EXIT_SHORT]}
    if position in (1, -1) and exits[position] == 1.0:
        kind, direction = EXIT, position
        reason = "exit rule: " + " or ".join(
            name
            for on, name in (
                (config.strategy.exit_on_htf_flip, "higher-timeframe bias against the position"),
                (config.strategy.exit_on_choch, "internal CHoCH against the position"),
            )
            if on
        )
    elif isinstance(plan, EntryRefused):
        side = SIDES[int(sig[L.SIG_ENTRY])].lower()
        reason = f"{side} entry refused by the risk manager: {plan.reason}"
    elif isinstance(plan, EntryPlan):
        kind, direction = ENTRY, plan.direction
        bits = int(sig[L.SIG_FACTORS])
        score = float(sig[L.SIG_SCORE])
        strength = _strength(score, config.strategy)
        factors = factor_names(bits, direction)
        facts = SMCAnalysis(
            order_block_present=bool(bits >> F_OB & 1),
            fvg_confluence=bool(bits >> F_FVG & 1),
            liquidity_sweep=bool(bits >> F_SWEEP & 1),
            market_structure=facts.market_structure,
        )
    side_name = SIDES.get(direction)
    key = f"{symbol}|{tf.label}|{generated.value}|{kind}|{side_name}"
    entry = plan if kind == ENTRY and isinstance(plan, EntryPlan) else None
    return Signal(
        signal_id=str(uuid.uuid5(_SIGNAL_IDS, key)),
        symbol=symbol,
        type=kind,
        direction=side_name,
        strength=strength,
        timeframe=tf.label,
        entry_price=entry.entry if entry else None,
        stop_loss=entry.stop if entry else None,
        take_profit=entry.take_profits if entry else (),
        risk_reward_ratio=entry.reward_risk if entry else None,
        confidence_score=None,
        model_version=None,
        smc_analysis=facts,
        confluence_factors=factors,
        score=score,
        reason=reason,
        generated_at=generated,
        expires_at=generated + lapse,
    )


def make_signal(
    row: np.ndarray,
    opened_at: pd.Timestamp,
    *,
    symbol: str,
    timeframe: Timeframe | str,
    config: BacktestConfig,
    position: int = 0,
    equity: float | None = None,
    strategy: SMCConfluence | None = None,
    size: float | None = None,
) -> Signal:
    """Return the signal record of one closed bar: the rule, then the risk manager's plan.

    ``row`` is the bar's feature row in ``SMCConfluence.inputs().names`` order (the same row
    the backtest's matrix holds for that bar); ``strategy`` defaults to ``smc_confluence``
    with ``config.strategy``; ``size`` is a model's risk multiplier of the entry (the
    backtest's ``model_sizes``: 0 declines it). See :func:`to_signal` for the other arguments.
    """
    rule = strategy if strategy is not None else SMCConfluence(config.strategy)
    values = np.ascontiguousarray(row, dtype=np.float64)
    sig = rule.signal(values)
    if size is not None:
        sig[L.SIG_SIZE] = size
    plan = plan_for(sig, values, config, equity)
    return to_signal(
        values,
        sig,
        plan,
        symbol=symbol,
        timeframe=timeframe,
        opened_at=opened_at,
        config=config,
        position=position,
    )
