"""Canonical candle frame: the contract every source, store and feature relies on.

A candle frame is a ``pd.DataFrame`` indexed by a ``DatetimeIndex`` named ``ts`` holding the UTC
candle *open* time, with float64 columns ``open, high, low, close, volume``. A candle is known at
its close, ``ts + timeframe``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")
INDEX_NAME = "ts"

_TF_RE = re.compile(r"^(\d+)(m|h|d|w)$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class CandleDataError(ValueError):
    """Bad candle input; the message names what is wrong and where."""


@dataclass(frozen=True, order=True)
class Timeframe:
    """A candle timeframe such as ``5m``, ``1h``, ``4h`` or ``1d``."""

    seconds: int
    label: str

    @classmethod
    def parse(cls, value: str | Timeframe) -> Timeframe:
        """Parse ``'<n><m|h|d|w>'``; raise ``CandleDataError`` naming the bad value."""
        if isinstance(value, Timeframe):
            return value
        match = _TF_RE.match(str(value).strip())
        if not match or int(match.group(1)) == 0:
            raise CandleDataError(
                f"unknown timeframe {value!r}: expected <n><unit> with unit m, h, d or w "
                "(e.g. 5m, 1h)"
            )
        n, unit = int(match.group(1)), match.group(2)
        return cls(seconds=n * _UNIT_SECONDS[unit], label=f"{n}{unit}")

    @property
    def delta(self) -> pd.Timedelta:
        """The timeframe as a pandas Timedelta."""
        return pd.Timedelta(seconds=self.seconds)

    @property
    def ms(self) -> int:
        """The timeframe in milliseconds (ccxt's unit)."""
        return self.seconds * 1000

    @property
    def ns(self) -> int:
        """The timeframe in nanoseconds (pandas' unit)."""
        return self.seconds * 1_000_000_000

    def __str__(self) -> str:
        return self.label


def empty_candles() -> pd.DataFrame:
    """Return an empty canonical candle frame."""
    index = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME)
    return pd.DataFrame({c: np.array([], dtype="float64") for c in OHLCV}, index=index)


def is_aligned(index: pd.DatetimeIndex, timeframe: Timeframe) -> np.ndarray:
    """Return a boolean mask: which open times lie on the timeframe's UTC grid."""
    ns = index.as_unit("ns").to_numpy().view("int64")
    return np.asarray(ns % timeframe.ns == 0)
