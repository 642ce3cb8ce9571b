"""``MTFConfig``: the frozen, validated parameters of the multi-timeframe analysis.

Every window is a number of *rows* of a frame (candles of one timeframe), never an
exponential average, so each output value depends on a finite, documented lookback
(:meth:`MTFConfig.lookback_bars`): recomputing any span with that much warm-up gives the same
rows, bit for bit, as a full recomputation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from features.candles.schema import Timeframe

_SUM_TOLERANCE = 1e-9


def _check_weights(owner: str, values: dict[str, float]) -> None:
    """Raise unless every weight is a finite number >= 0 and they sum to 1."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"{owner}.{name} must be finite and >= 0, got {value!r}")
    total = math.fsum(values.values())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        parts = ", ".join(f"{k}={v}" for k, v in values.items())
        raise ValueError(f"{owner} weights must sum to 1, got {total!r} ({parts})")


@dataclass(frozen=True)
class ConfluenceWeights:
    """Weights of the four confluence components; each >= 0, summing to 1."""

    htf_bias: float = 0.40
    smc: float = 0.30
    technical: float = 0.20
    session: float = 0.10

    def __post_init__(self) -> None:
        _check_weights("ConfluenceWeights", {f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class BiasWeights:
    """Weights of the three votes that make a timeframe's bias; each >= 0, summing to 1.

    ``structure``: the trend after the last BOS/CHoCH (swing level counted twice, internal
    once); ``range``: where the close sits in the dealing range (``2 * pd_pos - 1``);
    ``trend``: the least-squares slope of the last ``trend_window`` closes, in ATRs.
    """

    structure: float = 0.5
    range: float = 0.2
    trend: float = 0.3

    def __post_init__(self) -> None:
        _check_weights("BiasWeights", {f.name: getattr(self, f.name) for f in fields(self)})


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"MTFConfig.{name} must be an int in {low}..{high}, got {value!r}")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValueError(f"MTFConfig.{name} must be a number in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class MTFConfig:
    """Parameters of the multi-timeframe features; see ``docs/mtf.md`` for each one.

    Attributes:
        weights: Confluence component weights (default 0.40 / 0.30 / 0.20 / 0.10).
        bias: Vote weights of a timeframe's bias.
        bias_neutral_band: ``|score|`` below this is a neutral (0) bias.
        trend_window: Closes in the regression slope of the bias trend vote (every timeframe).
        trend_full_atr: Fitted move over ``trend_window`` closes, in ATRs, that is a full vote.
        equilibrium_band: Half-width around 0.5 of the dealing-range position counted as
            equilibrium (zone 0) rather than premium or discount.
        tech_window: Closes in the trading timeframe's SMA and slope (technical component).
        rsi_window: Price changes in the RSI (simple averages of gains and losses).
        regime_window: Price changes in the efficiency ratio of the regime flag.
        regime_threshold: Efficiency ratio from which the market counts as trending.
        vol_short: Bars in the short mean true range of the volatility flag.
        vol_long: Bars in the long mean true range of the volatility flag.
        high_vol_ratio: Short over long mean true range from which volatility is high.
        sweep_window: Bars after an opposite-side liquidity sweep that still count for the SMC
            component.
        session_killzone: Session score inside a kill zone.
        session_active: Session score inside London or New York outside kill zones.
    """

    weights: ConfluenceWeights = field(default_factory=ConfluenceWeights)
    bias: BiasWeights = field(default_factory=BiasWeights)
    bias_neutral_band: float = 0.15
    trend_window: int = 20
    trend_full_atr: float = 3.0
    equilibrium_band: float = 0.0
    tech_window: int = 50
    rsi_window: int = 14
    regime_window: int = 48
    regime_threshold: float = 0.3
    vol_short: int = 12
    vol_long: int = 96
    high_vol_ratio: float = 1.5
    sweep_window: int = 12
    session_killzone: float = 1.0
    session_active: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.weights, ConfluenceWeights):
            raise ValueError(
                f"MTFConfig.weights must be a ConfluenceWeights, got {type(self.weights).__name__}"
            )
        if not isinstance(self.bias, BiasWeights):
            raise ValueError(
                f"MTFConfig.bias must be a BiasWeights, got {type(self.bias).__name__}"
            )
        for name in ("trend_window", "tech_window"):
            _check_int(name, getattr(self, name), 2, 10_000)
        for name in ("rsi_window", "regime_window", "vol_short", "vol_long", "sweep_window"):
            _check_int(name, getattr(self, name), 1, 10_000)
        if self.vol_short >= self.vol_long:
            raise ValueError(
                f"MTFConfig needs vol_short < vol_long, got {self.vol_short} >= {self.vol_long}"
            )
        for name, low, high in (
            ("bias_neutral_band", 0.0, 1.0),
            ("trend_full_atr", 1e-9, 1e9),
            ("equilibrium_band", 0.0, 0.5),
            ("regime_threshold", 0.0, 1.0),
            ("high_vol_ratio", 0.0, 1e9),
            ("session_killzone", 0.0, 1.0),
            ("session_active", 0.0, 1.0),
        ):
            _check_float(name, getattr(self, name), low, high)

    def trading_lookback(self) -> int:
        """Return the rows of the trading timeframe a value at bar t reads (t included)."""
        return max(
            self.trend_window,
            self.tech_window,
            self.rsi_window + 1,
            self.regime_window + 1,
            self.vol_long + 1,
        )

    def htf_lookback(self) -> int:
        """Return the rows of a higher timeframe a value reads (the visible row included)."""
        return self.trend_window

    def lookback_bars(self, tf: str | Timeframe, trading_tf: str | Timeframe | None = None) -> int:
        """Return how many rows of ``frames[tf]`` a value of ``compute_mtf`` depends on.

        For the trading timeframe these are the rows ``t - L + 1 .. t``; for a higher
        timeframe the ``L`` rows ending with the one visible at ``t`` (the last to close at or
        before t's close). Recomputing with at least that many earlier rows of every frame gives
        bit-identical output (see :func:`features.mtf.input_window`). Without ``trading_tf``
        the larger of both roles is returned.

        Raises:
            ValueError: ``tf`` or ``trading_tf`` is not a timeframe.
        """
        seconds = Timeframe.parse(tf).seconds
        if trading_tf is None:
            return max(self.trading_lookback(), self.htf_lookback())
        if seconds == Timeframe.parse(trading_tf).seconds:
            return self.trading_lookback()
        return self.htf_lookback()
