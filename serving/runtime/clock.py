"""The clock, injected wherever the time matters: the real one, or one a test sets by hand."""

from __future__ import annotations

from typing import Protocol

import pandas as pd


class Clock(Protocol):
    """Tells the current time (UTC)."""

    def now(self) -> pd.Timestamp:
        """Return the current time."""
        ...


class WallClock:
    """The real clock."""

    def now(self) -> pd.Timestamp:
        """Return the current UTC time."""
        return pd.Timestamp.now(tz="UTC")


class SimClock:
    """A clock that a backtest or a test sets by hand."""

    def __init__(self, start: pd.Timestamp | None = None) -> None:
        """Start at ``start`` (the epoch by default)."""
        self._now = start if start is not None else pd.Timestamp(0, tz="UTC")

    def set(self, when: pd.Timestamp) -> None:
        """Move the clock to ``when``."""
        self._now = when

    def now(self) -> pd.Timestamp:
        """Return the time the clock was set to."""
        return self._now
