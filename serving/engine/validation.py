"""Validation helpers for the frozen configs: every error names the field and the bad value."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


class ConfigError(ValueError):
    """A bad configuration value; the message names the field, the value and the rule."""


def number(owner: str, name: str, value: Any) -> float:
    """Return ``value`` as a finite float or raise naming ``owner.name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{owner}.{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{owner}.{name} must be finite, got {value!r}")
    return float(value)


def in_range(
    owner: str,
    name: str,
    value: Any,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` checked to lie in the interval; the message states the interval."""
    x = number(owner, name, value)
    bad_lo = x <= lo if lo_open else x < lo
    bad_hi = x >= hi if hi_open else x > hi
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ConfigError(f"{owner}.{name} must be in {left}{lo:g}, {hi:g}{right}, got {value!r}")
    return x


def integer(owner: str, name: str, value: Any, lo: int, hi: int) -> int:
    """Return ``value`` checked to be an int in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{owner}.{name} must be in [{lo}, {hi}], got {value!r}")
    return value


def choice(owner: str, name: str, value: Any, options: tuple[str, ...]) -> str:
    """Return ``value`` checked to be one of ``options``."""
    if value not in options:
        raise ConfigError(f"{owner}.{name} must be one of {list(options)}, got {value!r}")
    return str(value)


def duration_ns(owner: str, name: str, value: str | None, *, allow_none: bool = True) -> int:
    """Return a duration such as ``"12h"`` or ``"3d"`` in nanoseconds (0 for ``None``)."""
    if value is None:
        if allow_none:
            return 0
        raise ConfigError(f"{owner}.{name} is required (a duration such as '12h')")
    if not isinstance(value, str):
        raise ConfigError(f"{owner}.{name} must be a duration string such as '12h', got {value!r}")
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{owner}.{name} must be a duration such as '30min', '12h' or '3d', got {value!r}"
        ) from None
    if delta <= pd.Timedelta(0):
        raise ConfigError(f"{owner}.{name} must be a positive duration, got {value!r}")
    return int(delta.value)
