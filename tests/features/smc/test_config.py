"""SMCConfig: validation naming the field, per-timeframe defaults, one timeframe and ATR."""

from __future__ import annotations

import pytest

from features.smc import SMCConfig
from features.smc.fvg import FVGConfig
from features.smc.swings import SwingsConfig


def test_defaults_are_for_five_minute_candles() -> None:
    cfg = SMCConfig()
    assert cfg.timeframe == "5m"
    assert (cfg.swings.internal_left, cfg.swings.swing_left) == (5, 20)
    assert cfg.liquidity.timeframe == "5m"
    assert cfg.crt.htf == "1h"


@pytest.mark.parametrize(
    ("tf", "internal", "swing", "htf"),
    [
        ("1m", 5, 30, "15m"),
        ("5m", 5, 20, "1h"),
        ("15m", 5, 15, "4h"),
        ("1h", 4, 10, "1d"),
        ("4h", 3, 8, "1w"),
        ("1d", 3, 5, "1w"),
        ("7m", 5, 20, "63m"),
    ],
)
def test_for_timeframe_scales_lengths_and_higher_timeframe(
    tf: str, internal: int, swing: int, htf: str
) -> None:
    cfg = SMCConfig.for_timeframe(tf)
    assert cfg.timeframe == tf
    assert (cfg.swings.internal_right, cfg.swings.swing_right) == (internal, swing)
    assert cfg.crt.htf == htf
    assert cfg.liquidity.timeframe == tf
    assert cfg.crt.timeframe == tf


def test_for_timeframe_takes_overrides() -> None:
    cfg = SMCConfig.for_timeframe("15m", fvg=FVGConfig(min_size=0.5))
    assert cfg.fvg.min_size == 0.5
    assert cfg.swings.swing_left == 15
    with pytest.raises(ValueError, match="unknown field"):
        SMCConfig.for_timeframe("15m", colour="red")


def test_engine_atr_period_and_timeframe_win_over_the_parts() -> None:
    cfg = SMCConfig(atr_period=21)
    assert cfg.patterns.atr_period == 21
    assert cfg.context.atr_period == 21


def test_a_part_that_cannot_take_the_timeframe_is_named() -> None:
    with pytest.raises(ValueError, match=r"SMCConfig.crt with timeframe 1h"):
        SMCConfig(timeframe="1h")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeframe": "5 minutes"}, "SMCConfig.timeframe"),
        ({"atr_period": 0}, "atr_period"),
        ({"fvg": SwingsConfig()}, "SMCConfig.fvg must be a FVGConfig"),
    ],
)
def test_invalid_values_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SMCConfig(**kwargs)


def test_config_is_frozen_and_hashable() -> None:
    cfg = SMCConfig()
    with pytest.raises(AttributeError):
        cfg.atr_period = 3  # type: ignore[misc]
    assert hash(cfg) == hash(SMCConfig())
