"""``SMCConfig``: one frozen, validated config composing every SMC concept's config.

``SMCConfig()`` holds the defaults for 5-minute candles; ``SMCConfig.for_timeframe("1h")`` scales
the lengths that depend on the bar size (swing lengths, the order-block strength half-life) and
takes overrides for any part: ``SMCConfig.for_timeframe("15m", fvg=FVGConfig(min_size=0.2))``.
The engine's ``timeframe`` is the candles' bar size; it is also the one the liquidity module uses
to know when a day or week has closed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from features.candles.schema import Timeframe
from features.smc.context import ContextConfig
from features.smc.crt import CRTConfig
from features.smc.displacement import DisplacementConfig
from features.smc.fvg import FVGConfig
from features.smc.liquidity import LiquidityConfig
from features.smc.order_blocks import OrderBlocksConfig
from features.smc.patterns import PatternsConfig
from features.smc.premium_discount import PremiumDiscountConfig
from features.smc.sessions import SessionsConfig
from features.smc.structure import StructureConfig
from features.smc.swings import SwingsConfig

# (internal pivot length, swing pivot length) per bar size; others use the nearest smaller one.
_SWING_LENGTHS: dict[int, tuple[int, int]] = {
    60: (5, 30),
    300: (5, 20),
    900: (5, 15),
    1800: (4, 12),
    3600: (4, 10),
    14_400: (3, 8),
    86_400: (3, 5),
    604_800: (2, 4),
}
# CRT's higher timeframe per bar size (the nearest smaller bar size's, as above).
_CRT_HTF: dict[int, str] = {
    60: "15m",
    300: "1h",
    900: "4h",
    1800: "4h",
    3600: "1d",
    14_400: "1w",
    86_400: "1w",
    604_800: "4w",
}
_DAY_SECONDS = 86_400

# The concept configs SMCConfig composes, by field name.
PARTS: dict[str, type] = {
    "swings": SwingsConfig,
    "structure": StructureConfig,
    "displacement": DisplacementConfig,
    "fvg": FVGConfig,
    "order_blocks": OrderBlocksConfig,
    "liquidity": LiquidityConfig,
    "premium_discount": PremiumDiscountConfig,
    "sessions": SessionsConfig,
    "crt": CRTConfig,
    "patterns": PatternsConfig,
    "context": ContextConfig,
}


@dataclass(frozen=True)
class SMCConfig:
    """Every parameter of the SMC engine; see ``docs/smc.md`` for each field's meaning."""

    timeframe: str = "5m"
    atr_period: int = 14
    swings: SwingsConfig = field(default_factory=SwingsConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    displacement: DisplacementConfig = field(default_factory=DisplacementConfig)
    fvg: FVGConfig = field(default_factory=FVGConfig)
    order_blocks: OrderBlocksConfig = field(default_factory=OrderBlocksConfig)
    liquidity: LiquidityConfig = field(default_factory=LiquidityConfig)
    premium_discount: PremiumDiscountConfig = field(default_factory=PremiumDiscountConfig)
    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    crt: CRTConfig = field(default_factory=CRTConfig)
    patterns: PatternsConfig = field(default_factory=PatternsConfig)
    context: ContextConfig = field(default_factory=ContextConfig)

    def __post_init__(self) -> None:
        try:
            tf = Timeframe.parse(self.timeframe)
        except ValueError as exc:
            raise ValueError(f"SMCConfig.timeframe: {exc}") from None
        if not isinstance(self.atr_period, int) or not 1 <= self.atr_period <= 1000:
            raise ValueError(
                f"SMCConfig.atr_period must be an int in 1..1000, got {self.atr_period!r}"
            )
        for name, expected in PARTS.items():
            value = getattr(self, name)
            if not isinstance(value, expected):
                raise ValueError(
                    f"SMCConfig.{name} must be a {expected.__name__}, got {type(value).__name__}"
                )
        object.__setattr__(self, "timeframe", tf.label)
        # One candle timeframe and one ATR for the whole engine: they win over the parts' own
        # fields of the same name (those serve the parts' standalone ``compute``).
        shared = {"timeframe": tf.label, "atr_period": self.atr_period}
        for name in PARTS:
            part = getattr(self, name)
            fix = {
                key: value
                for key, value in shared.items()
                if hasattr(part, key) and getattr(part, key) != value
            }
            if fix:
                try:
                    object.__setattr__(self, name, dataclasses.replace(part, **fix))
                except ValueError as exc:
                    raise ValueError(f"SMCConfig.{name} with timeframe {tf.label}: {exc}") from None

    @property
    def bar(self) -> Timeframe:
        """The candle timeframe."""
        return Timeframe.parse(self.timeframe)

    @classmethod
    def for_timeframe(cls, timeframe: str | Timeframe, **overrides: Any) -> SMCConfig:
        """Return sensible defaults for candles of ``timeframe``, with ``overrides`` applied."""
        tf = Timeframe.parse(timeframe)
        sizes = sorted(_SWING_LENGTHS)
        key = max((s for s in sizes if s <= tf.seconds), default=sizes[0])
        internal, swing = _SWING_LENGTHS[key]
        bars_per_day = max(_DAY_SECONDS // tf.seconds, 1)
        parts: dict[str, Any] = {
            "timeframe": tf.label,
            "swings": SwingsConfig(
                internal_left=internal,
                internal_right=internal,
                swing_left=swing,
                swing_right=swing,
            ),
            "order_blocks": OrderBlocksConfig(half_life=float(max(bars_per_day, 20))),
            "liquidity": LiquidityConfig(timeframe=tf.label),
            "crt": CRTConfig(timeframe=tf.label, htf=_crt_htf(tf, key)),
            "context": ContextConfig(vp_window=min(max(bars_per_day, 24), 1440)),
        }
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"SMCConfig.for_timeframe: unknown field(s) {sorted(unknown)}")
        parts.update(overrides)
        return cls(**parts)


def _crt_htf(tf: Timeframe, key: int) -> str:
    """Return the CRT higher timeframe for ``tf``: the table's, or the next whole multiple."""
    target = Timeframe.parse(_CRT_HTF[key])
    if target.seconds > tf.seconds and target.seconds % tf.seconds == 0:
        return target.label
    multiple = max(-(-target.seconds // tf.seconds), 2) * tf.seconds
    return f"{multiple // 60}m"
