"""A seeded synthetic crypto market: the offline default data source.

The market has persistent regimes (range, trend up, trend down) from a Markov chain, GARCH
volatility clustering at the daily and the intraday scale, Student-t shocks, a UTC time-of-day
profile of volatility and volume (peaks at the London and New York opens), quieter weekends and
several symbols correlated through a shared market factor.

Two layers make any window cheap and identical whatever the request:

1. A *daily* process simulated from a fixed origin (default 2020-01-01 UTC): regime, volatility
   level and each symbol's daily close. It costs a few thousand scalar steps, is extended lazily
   in blocks and cached per process and configuration.
2. Each day's intraday path is drawn from its own generator,
   ``SeedSequence([seed, tag, symbol hash, day])``, as a bridge from the previous day's close to
   that day's close. A day therefore never depends on the window that asked for it.

After the random draws the generator only uses ``+ - * / sqrt``, which IEEE 754 rounds exactly,
and sequential sums, so a candle is bit-for-bit the same on every platform with the same NumPy
random streams. The market factor has its own streams, so adding a symbol changes no other.

Timeframes that are multiples of the base timeframe (default 5m) are generated at the base and
aggregated on the UTC epoch grid (first open, max high, min low, last close, summed volume);
other timeframes raise ``CandleDataError``. Nothing exists before the origin.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from features.candles.sources._raw import (
    empty_raw,
    raw_frame,
    utc_required,
    wall_clock,
)

DAY_NS = 86_400 * 1_000_000_000
REGIMES: tuple[str, ...] = ("range", "up", "down")
RANGE, UP, DOWN = 0, 1, 2

_BLOCK_DAYS = 512
_TAG_DAILY = 1
_TAG_INTRADAY = 2
_MARKET_KEY = "__market__"

# Relative volatility and volume by UTC hour: quiet late Asia, London open (07-09),
# New York open and US equities overlap (13-16, the day's peak). Normalized when used.
HOURLY_VOL: tuple[float, ...] = (
    1.00, 0.90, 0.80, 0.75, 0.70, 0.70, 0.80, 1.10, 1.35, 1.15, 1.00, 0.95,
    1.05, 1.45, 1.65, 1.45, 1.25, 1.10, 1.00, 0.95, 0.95, 0.90, 0.85, 0.90,
)  # fmt: skip
HOURLY_VOLUME: tuple[float, ...] = (
    1.05, 0.90, 0.80, 0.75, 0.70, 0.70, 0.80, 1.10, 1.40, 1.20, 1.00, 0.95,
    1.05, 1.50, 1.75, 1.50, 1.25, 1.10, 1.00, 0.95, 0.90, 0.85, 0.85, 0.90,
)  # fmt: skip


@dataclass(frozen=True)
class SymbolSpec:
    """One synthetic symbol.

    Attributes:
        symbol: Market symbol, e.g. ``BTC/USDT``.
        start_price: Price at the origin.
        vol_scale: Volatility relative to the market factor (a beta-like multiplier).
        market_weight: Correlation of the symbol's shocks with the market factor; two symbols
            correlate at about ``weight_a * weight_b``.
        daily_volume: Typical volume per day in base units.
    """

    symbol: str
    start_price: float
    vol_scale: float = 1.0
    market_weight: float = 0.9
    daily_volume: float = 10_000.0

    def __post_init__(self) -> None:
        if not self.symbol or self.symbol == _MARKET_KEY:
            raise CandleDataError(f"invalid synthetic symbol name {self.symbol!r}")
        for name in ("start_price", "vol_scale", "daily_volume"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise CandleDataError(f"{self.symbol}: {name} must be > 0, got {value!r}")
        if not 0.0 <= self.market_weight <= 1.0:
            raise CandleDataError(
                f"{self.symbol}: market_weight must be in [0, 1], got {self.market_weight!r}"
            )


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTC/USDT", 40_000.0, vol_scale=1.0, market_weight=0.9, daily_volume=20_000.0),
    SymbolSpec("ETH/USDT", 2_500.0, vol_scale=1.25, market_weight=0.9, daily_volume=250_000.0),
    SymbolSpec("SOL/USDT", 100.0, vol_scale=1.7, market_weight=0.88, daily_volume=2_000_000.0),
)

_DEFAULT_TRANSITION: tuple[tuple[float, float, float], ...] = (
    (0.950, 0.025, 0.025),  # from range
    (0.030, 0.960, 0.010),  # from up
    (0.035, 0.015, 0.950),  # from down
)


def default_symbols(*names: str) -> tuple[SymbolSpec, ...]:
    """Return the default ``SymbolSpec`` of each name (all defaults when none is given)."""
    known = {spec.symbol: spec for spec in DEFAULT_SYMBOLS}
    if not names:
        return DEFAULT_SYMBOLS
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CandleDataError(
            f"unknown default synthetic symbol {unknown[0]!r}: pass a SymbolSpec or one of "
            f"{sorted(known)}"
        )
    return tuple(known[name] for name in names)


def _resolve_symbols(symbols: Sequence[SymbolSpec | str]) -> tuple[SymbolSpec, ...]:
    return tuple(
        item if isinstance(item, SymbolSpec) else default_symbols(item)[0] for item in symbols
    )


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic market; validated when built.

    Attributes:
        seed: Seed of every random stream (0 <= seed < 2**32).
        base_timeframe: Generated timeframe; must divide one day.
        symbols: Symbols with their start prices, volatility scales and market weights; the
            name of a default symbol is also accepted (``"ETH/USDT"``) and resolved.
        origin: First day of the market (midnight UTC).
        daily_vol: Long-run daily volatility of the market factor.
        garch_alpha: Daily GARCH(1,1) reaction to the last squared shock.
        garch_beta: Daily GARCH(1,1) persistence of the variance.
        intraday_garch_alpha: Intraday (per base bar) GARCH reaction, restarting each day.
        intraday_garch_beta: Intraday GARCH persistence.
        tail_df: Degrees of freedom of the Student-t shocks (integer, >= 3).
        regime_transition: Daily Markov transition matrix over (range, up, down).
        regime_drift: Daily drift of the market factor in each regime.
        regime_vol: Volatility multiplier in each regime.
        range_pull: Daily pull back towards the price where a range regime began.
        mean_reversion: Weak daily pull towards the start price (keeps decades-long runs sane).
        weekend_vol: Volatility multiplier on Saturdays and Sundays (UTC).
        weekend_volume: Volume multiplier on Saturdays and Sundays (UTC).
        hourly_vol: Relative volatility for each UTC hour (24 values).
        hourly_volume: Relative volume for each UTC hour (24 values).
    """

    seed: int = 42
    base_timeframe: str = "5m"
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    origin: str = "2020-01-01"
    daily_vol: float = 0.03
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    intraday_garch_alpha: float = 0.05
    intraday_garch_beta: float = 0.93
    tail_df: int = 5
    regime_transition: tuple[tuple[float, ...], ...] = _DEFAULT_TRANSITION
    regime_drift: tuple[float, ...] = (0.0, 0.006, -0.007)
    regime_vol: tuple[float, ...] = (0.75, 1.0, 1.3)
    range_pull: float = 0.05
    mean_reversion: float = 0.002
    weekend_vol: float = 0.6
    weekend_volume: float = 0.55
    hourly_vol: tuple[float, ...] = HOURLY_VOL
    hourly_volume: tuple[float, ...] = HOURLY_VOLUME
    _base: Timeframe = field(init=False, repr=False, compare=False)
    _origin_ns: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", _resolve_symbols(self.symbols))
        for name in ("regime_transition", "regime_drift", "regime_vol"):
            value = getattr(self, name)
            nested = name == "regime_transition"
            object.__setattr__(
                self, name, tuple(tuple(row) for row in value) if nested else tuple(value)
            )
        object.__setattr__(self, "hourly_vol", tuple(self.hourly_vol))
        object.__setattr__(self, "hourly_volume", tuple(self.hourly_volume))
        self._validate()

    def _validate(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise CandleDataError(f"synthetic seed must be an int, got {self.seed!r}")
        if not 0 <= self.seed < 2**32:
            raise CandleDataError(f"synthetic seed must be in [0, 2**32), got {self.seed}")
        base = Timeframe.parse(self.base_timeframe)
        if base.seconds > 86_400 or 86_400 % base.seconds:
            raise CandleDataError(
                f"synthetic base_timeframe {base.label} must divide one day (e.g. 1m, 5m, 1h)"
            )
        object.__setattr__(self, "_base", base)
        origin = utc_required(self.origin, "synthetic origin")
        if origin.value % DAY_NS:
            raise CandleDataError(f"synthetic origin {self.origin!r} must be midnight UTC")
        object.__setattr__(self, "_origin_ns", int(origin.value))
        if not self.symbols:
            raise CandleDataError("synthetic market needs at least one symbol")
        names = [spec.symbol for spec in self.symbols]
        if len(set(names)) != len(names):
            raise CandleDataError(f"duplicate synthetic symbols in {names}")
        positive = ("daily_vol", "weekend_vol", "weekend_volume")
        for name in positive:
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise CandleDataError(f"synthetic {name} must be > 0, got {value!r}")
        for prefix in ("", "intraday_"):
            alpha = getattr(self, f"{prefix}garch_alpha")
            beta = getattr(self, f"{prefix}garch_beta")
            if alpha < 0 or beta < 0 or alpha + beta >= 1:
                raise CandleDataError(
                    f"synthetic {prefix}garch_alpha + {prefix}garch_beta must be < 1 and both "
                    f">= 0, got {alpha} + {beta}"
                )
        if isinstance(self.tail_df, bool) or not isinstance(self.tail_df, int):
            raise CandleDataError(f"synthetic tail_df must be an int, got {self.tail_df!r}")
        if self.tail_df < 3:
            raise CandleDataError(f"synthetic tail_df must be >= 3, got {self.tail_df}")
        self._validate_regimes()
        for name in ("hourly_vol", "hourly_volume"):
            profile = getattr(self, name)
            if len(profile) != 24 or any(not (v > 0 and math.isfinite(v)) for v in profile):
                raise CandleDataError(f"synthetic {name} needs 24 positive values")
        for name in ("range_pull", "mean_reversion"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise CandleDataError(f"synthetic {name} must be in [0, 1), got {value!r}")

    def _validate_regimes(self) -> None:
        matrix = self.regime_transition
        if len(matrix) != 3 or any(len(row) != 3 for row in matrix):
            raise CandleDataError("synthetic regime_transition must be 3x3 (range, up, down)")
        for name, row in zip(REGIMES, matrix, strict=True):
            if any(p < 0 for p in row) or abs(sum(row) - 1.0) > 1e-9:
                raise CandleDataError(
                    f"synthetic regime_transition row {name!r} must be >= 0 and sum to 1: {row}"
                )
        if len(self.regime_drift) != 3 or len(self.regime_vol) != 3:
            raise CandleDataError("synthetic regime_drift and regime_vol need 3 values each")
        if any(not (v > 0) for v in self.regime_vol):
            raise CandleDataError(f"synthetic regime_vol must be > 0: {self.regime_vol}")

    @property
    def base(self) -> Timeframe:
        """The generated timeframe."""
        return self._base

    @property
    def origin_ns(self) -> int:
        """The origin as nanoseconds since the epoch."""
        return self._origin_ns

    @property
    def bars_per_day(self) -> int:
        """Number of base bars in one day."""
        return 86_400 // self._base.seconds


@lru_cache(maxsize=1024)
def stable_hash(text: str) -> tuple[int, int]:
    """Return a platform-independent 64-bit hash of ``text`` as two 32-bit words."""
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return digest >> 32, digest & 0xFFFFFFFF


def _rng(seed: int, tag: int, key: str, index: int) -> np.random.Generator:
    high, low = stable_hash(key)
    return np.random.default_rng(np.random.SeedSequence([seed, tag, high, low, index]))


def _student_t(normals: np.ndarray, df: int) -> np.ndarray:
    """Turn ``df + 1`` normals on the last axis into unit-variance Student-t draws."""
    chi = normals[..., 1] * normals[..., 1]
    for j in range(2, df + 1):
        chi = chi + normals[..., j] * normals[..., j]
    scale = math.sqrt((df - 2) / df)
    return normals[..., 0] / np.sqrt(chi / df) * scale


def _t_scalar(normals: np.ndarray, df: int) -> float:
    chi = 0.0
    for j in range(1, df + 1):
        chi += float(normals[j]) * float(normals[j])
    return float(normals[0]) / math.sqrt(chi / df) * math.sqrt((df - 2) / df)


class _DailyModel:
    """The daily layer: market regime and volatility, each symbol's daily close.

    Simulated from the origin and extended lazily in blocks of ``_BLOCK_DAYS`` days; each
    block's draws come from their own stream, so results never depend on how far it ran.
    """

    def __init__(self, config: SyntheticConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        origin_dow = pd.Timestamp(config.origin_ns, tz="UTC").dayofweek
        self._origin_dow = int(origin_dow)
        self.regime = np.zeros(0, dtype="int8")
        self.level = np.zeros(0)  # sqrt of the GARCH variance
        self.sigma = np.zeros(0)  # daily market volatility incl. regime and weekend
        self.shock = np.zeros(0)  # unit-variance market shock
        self._state = (RANGE, config.daily_vol * config.daily_vol)
        self._closes: dict[str, np.ndarray] = {}
        self._symbol_state: dict[str, tuple[float, float, int]] = {}

    def is_weekend(self, days: np.ndarray) -> np.ndarray:
        """Return which day numbers fall on a Saturday or Sunday (UTC)."""
        return np.asarray((self._origin_dow + days) % 7 >= 5)

    def closes(self, symbol: SymbolSpec, n_days: int) -> np.ndarray:
        """Return daily closes of days ``0 .. n_days - 1`` (at least) for ``symbol``."""
        with self._lock:
            self._extend_market(n_days)
            self._extend_symbol(symbol, n_days)
            return self._closes[symbol.symbol]

    def _extend_market(self, n_days: int) -> None:
        cfg = self._config
        omega = cfg.daily_vol * cfg.daily_vol * (1 - cfg.garch_alpha - cfg.garch_beta)
        cumulative = [list(np.cumsum(row)) for row in cfg.regime_transition]
        while len(self.regime) < n_days:
            block = len(self.regime) // _BLOCK_DAYS
            rng = _rng(cfg.seed, _TAG_DAILY, _MARKET_KEY, block)
            uniforms = rng.random(_BLOCK_DAYS)
            normals = rng.standard_normal((_BLOCK_DAYS, cfg.tail_df + 1))
            days = np.arange(block * _BLOCK_DAYS, (block + 1) * _BLOCK_DAYS)
            weekend = self.is_weekend(days)
            regime = np.empty(_BLOCK_DAYS, dtype="int8")
            level, sigma, shock = (np.empty(_BLOCK_DAYS) for _ in range(3))
            state, variance = self._state
            for i in range(_BLOCK_DAYS):
                row = cumulative[state]
                state = 0 if uniforms[i] < row[0] else (1 if uniforms[i] < row[1] else 2)
                z = _t_scalar(normals[i], cfg.tail_df)
                root = math.sqrt(variance)
                regime[i], level[i], shock[i] = state, root, z
                sigma[i] = root * cfg.regime_vol[state] * (cfg.weekend_vol if weekend[i] else 1.0)
                shock_sq = (root * z) * (root * z)
                variance = omega + cfg.garch_alpha * shock_sq + cfg.garch_beta * variance
            self._state = (state, variance)
            self.regime = np.concatenate([self.regime, regime])
            self.level = np.concatenate([self.level, level])
            self.sigma = np.concatenate([self.sigma, sigma])
            self.shock = np.concatenate([self.shock, shock])

    def _extend_symbol(self, spec: SymbolSpec, n_days: int) -> None:
        cfg = self._config
        closes = self._closes.get(spec.symbol, np.zeros(0))
        prev, anchor, prev_regime = self._symbol_state.get(
            spec.symbol, (spec.start_price, spec.start_price, -1)
        )
        w_market = spec.market_weight
        w_own = math.sqrt(1.0 - w_market * w_market)
        while len(closes) < n_days:
            block = len(closes) // _BLOCK_DAYS
            rng = _rng(cfg.seed, _TAG_DAILY, spec.symbol, block)
            normals = rng.standard_normal((_BLOCK_DAYS, cfg.tail_df + 1))
            out = np.empty(_BLOCK_DAYS)
            for i in range(_BLOCK_DAYS):
                day = block * _BLOCK_DAYS + i
                state = int(self.regime[day])
                if state != prev_regime:
                    anchor, prev_regime = prev, state
                own = _t_scalar(normals[i], cfg.tail_df)
                shock = self.sigma[day] * (w_market * self.shock[day] + w_own * own)
                ratio = prev / spec.start_price
                # 2(x-1)/(x+1) approximates log(x) without a transcendental call
                pull = -cfg.mean_reversion * 2.0 * (ratio - 1.0) / (ratio + 1.0)
                if state == RANGE:
                    pull -= cfg.range_pull * (prev / anchor - 1.0)
                ret = spec.vol_scale * (cfg.regime_drift[state] + shock) + pull
                prev = prev * (1.0 + min(max(ret, -0.5), 1.0))
                out[i] = prev
            closes = np.concatenate([closes, out])
        self._closes[spec.symbol] = closes
        self._symbol_state[spec.symbol] = (prev, anchor, prev_regime)


@lru_cache(maxsize=8)
def _daily_model(config: SyntheticConfig) -> _DailyModel:
    return _DailyModel(config)


@lru_cache(maxsize=16)
def _bar_profile(hourly: tuple[float, ...], base: Timeframe, *, rms: bool) -> np.ndarray:
    """Per-bar multipliers from an hourly profile, with mean 1 (root mean square 1 if ``rms``).

    Computed with ``math.fsum``/``math.sqrt`` (exactly rounded) so every platform agrees.
    """
    n_bars = 86_400 // base.seconds
    span = max(1, base.seconds // 3600)
    per_bar = []
    for k in range(n_bars):
        first = k * base.seconds // 3600
        hours = [hourly[h] for h in range(first, first + span)]
        if rms:
            per_bar.append(math.sqrt(math.fsum(v * v for v in hours) / span))
        else:
            per_bar.append(math.fsum(hours) / span)
    if rms:
        norm = math.sqrt(math.fsum(v * v for v in per_bar) / n_bars)
    else:
        norm = math.fsum(per_bar) / n_bars
    return np.asarray([v / norm for v in per_bar], dtype="float64")


def _intraday(
    config: SyntheticConfig, spec: SymbolSpec, model: _DailyModel, days: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Generate base bars of ``days`` for one symbol: ts_ns, open, high, low, close, volume."""
    n_days, n_bars, df = len(days), config.bars_per_day, config.tail_df
    closes = model.closes(spec, int(days[-1]) + 1)
    day_close = closes[days]
    day_open = np.where(days > 0, closes[np.maximum(days - 1, 0)], spec.start_price)

    market = np.empty((n_days, n_bars, df + 1))
    own = np.empty((n_days, n_bars, df + 9))
    for i, day in enumerate(days.tolist()):
        market[i] = _rng(config.seed, _TAG_INTRADAY, _MARKET_KEY, day).standard_normal(
            (n_bars, df + 1)
        )
        own[i] = _rng(config.seed, _TAG_INTRADAY, spec.symbol, day).standard_normal(
            (n_bars, df + 9)
        )
    z_market = _student_t(market, df)
    z_own = _student_t(own[..., : df + 1], df)

    # intraday GARCH on the market shock, restarting at 1 each day
    a, b = config.intraday_garch_alpha, config.intraday_garch_beta
    garch = np.empty((n_days, n_bars))
    garch[:, 0] = 1.0
    for k in range(1, n_bars):
        prev = garch[:, k - 1]
        garch[:, k] = (1.0 - a - b) + a * prev * z_market[:, k - 1] ** 2 + b * prev
    root_garch = np.sqrt(garch)

    season = _bar_profile(config.hourly_vol, config.base, rms=True)
    sigma_day = model.sigma[days] * spec.vol_scale
    bar_sigma = (sigma_day[:, None] / math.sqrt(n_bars)) * season[None, :] * root_garch
    weight = spec.market_weight
    shock = weight * z_market + math.sqrt(1.0 - weight * weight) * z_own
    steps = bar_sigma * shock

    # bridge: spread the gap to the day's close in proportion to each bar's variance
    path = np.cumsum(steps, axis=1)
    variance = bar_sigma * bar_sigma
    cum_variance = np.cumsum(variance, axis=1)
    target = day_close / day_open - 1.0
    path = path + ((target - path[:, -1]) / cum_variance[:, -1])[:, None] * cum_variance

    close = day_open[:, None] * (1.0 + path)
    close[:, -1] = day_close
    open_ = np.empty_like(close)
    open_[:, 0] = day_open
    open_[:, 1:] = close[:, :-1]

    # intrabar extremes of a Brownian bridge: max = mid + sqrt(d^2 + 2 v E) / 2, E ~ Exp(1)
    price_var = (day_open[:, None] ** 2) * variance
    extra = own[..., df + 1 :]
    mid, gap2 = 0.5 * (open_ + close), (close - open_) ** 2
    up = np.sqrt(gap2 + price_var * (extra[..., 0] ** 2 + extra[..., 1] ** 2))
    down = np.sqrt(gap2 + price_var * (extra[..., 2] ** 2 + extra[..., 3] ** 2))
    high = np.maximum(np.maximum(mid + 0.5 * up, open_), close)
    low = np.minimum(np.minimum(mid - 0.5 * down, open_), close)
    low = np.maximum(low, 0.5 * np.minimum(open_, close))

    noise = (
        extra[..., 4] ** 2 + extra[..., 5] ** 2 + extra[..., 6] ** 2 + extra[..., 7] ** 2
    ) / 4.0
    volume_season = _bar_profile(config.hourly_volume, config.base, rms=False)
    day_volume = (
        (spec.daily_volume / n_bars)
        * np.where(model.is_weekend(days), config.weekend_volume, 1.0)
        * (model.level[days] / config.daily_vol)
    )
    volume = (
        day_volume[:, None]
        * volume_season[None, :]
        * (0.5 + 0.5 * root_garch)
        * (0.3 + 0.7 * noise)
        * (0.6 + 0.5 * np.abs(shock))
    )

    base_ns = config.base.ns
    ts = (config.origin_ns + days * DAY_NS)[:, None] + (np.arange(n_bars) * base_ns)[None, :]
    return tuple(a.reshape(-1) for a in (ts, open_, high, low, close, volume))


def _floor(value: int, step: int) -> int:
    return (value // step) * step


def _ceil(value: int, step: int) -> int:
    return -((-value) // step) * step


class SyntheticSource:
    """The seeded synthetic market as a ``MarketDataSource``.

    Example:
        >>> src = SyntheticSource(SyntheticConfig(seed=7))
        >>> day = pd.Timestamp("2024-01-01", tz="UTC")
        >>> raw = src.fetch("BTC/USDT", Timeframe.parse("1h"), day, day + pd.Timedelta("1d"))
    """

    name = "synthetic"

    def __init__(
        self,
        config: SyntheticConfig | None = None,
        *,
        now: Callable[[], pd.Timestamp] | None = None,
    ) -> None:
        self.config = config if config is not None else SyntheticConfig()
        self._now = now if now is not None else wall_clock
        self._specs = {spec.symbol: spec for spec in self.config.symbols}

    def symbols(self) -> list[str]:
        """Return the configured symbols."""
        return list(self._specs)

    def _spec(self, symbol: str) -> SymbolSpec:
        try:
            return self._specs[symbol]
        except KeyError:
            raise CandleDataError(
                f"unknown symbol {symbol!r} for the synthetic source; known: {self.symbols()}"
            ) from None

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Return closed candles of ``symbol`` with open time in ``[start, end)``.

        Both bounds are required (the market is unbounded). Candles before the origin do not
        exist; candles that have not closed by ``now()`` are not returned. ``source_row`` is the
        candle's 1-based position in the symbol's series of that timeframe since the origin.
        """
        spec = self._spec(symbol)
        tf = Timeframe.parse(timeframe)
        base = self.config.base
        if tf.seconds % base.seconds:
            raise CandleDataError(
                f"synthetic source generates {base.label} bars; timeframe {tf.label} is not a "
                f"multiple of it (set SyntheticConfig(base_timeframe=...) to a divisor)"
            )
        if start is None or end is None:
            raise CandleDataError("synthetic source needs explicit start and end timestamps")
        lo, hi = utc_required(start, "start"), utc_required(end, "end")
        now = utc_required(self._now(), "now()")
        first_open = _ceil(self.config.origin_ns, tf.ns)
        first = max(_ceil(lo.value, tf.ns), first_open)
        stop = min(_ceil(hi.value, tf.ns), _floor(now.value, tf.ns))
        if stop <= first:
            return empty_raw()
        origin = self.config.origin_ns
        day0, day1 = (first - origin) // DAY_NS, (stop - 1 - origin) // DAY_NS
        days = np.arange(day0, day1 + 1, dtype="int64")
        ts, *values = _intraday(self.config, spec, _daily_model(self.config), days)
        offset = (first - (origin + day0 * DAY_NS)) // base.ns
        count = (stop - first) // base.ns
        window = slice(offset, offset + count)
        ts, values = ts[window], [v[window] for v in values]
        if tf.seconds != base.seconds:
            ts, values = _aggregate(ts, values, tf.seconds // base.seconds)
        rows = (ts - first_open) // tf.ns + 1
        return raw_frame(pd.DatetimeIndex(ts, tz="UTC"), values, rows)

    def regimes(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
        """Return the market regime (``range``, ``up`` or ``down``) of each day in the window."""
        lo, hi = utc_required(start, "start"), utc_required(end, "end")
        origin = self.config.origin_ns
        day0 = max(0, _ceil(lo.value - origin, DAY_NS) // DAY_NS)
        day1 = max(day0, _ceil(hi.value - origin, DAY_NS) // DAY_NS)
        model = _daily_model(self.config)
        model.closes(self.config.symbols[0], day1)
        labels = np.asarray(REGIMES, dtype=object)[model.regime[day0:day1]]
        index = pd.DatetimeIndex(origin + np.arange(day0, day1) * DAY_NS, tz="UTC", name="day")
        return pd.Series(labels, index=index, name="regime")


def _aggregate(
    ts: np.ndarray, values: list[np.ndarray], size: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Aggregate complete groups of ``size`` consecutive base bars into one candle each."""
    open_, high, low, close, volume = (v.reshape(-1, size) for v in values)
    volume_sum = np.cumsum(volume, axis=1)[:, -1]  # sequential sum: same bits in any window
    return ts.reshape(-1, size)[:, 0], [
        open_[:, 0],
        high.max(axis=1),
        low.min(axis=1),
        close[:, -1],
        volume_sum,
    ]
