"""The strategy interface: features known at a bar's close in, that bar's intents out.

A strategy declares the feature columns it reads (``inputs``) and maps each bar's feature row
to a *signal row* (layout ``serving.engine.layout.SIG_*``): enter long or short (with the
structure stop and the next liquidity target that the risk manager needs), exit longs or
shorts, and adjust (a trailing-stop candidate). Because a signal row depends on its own feature
row only, the fast path computes all rows at once (``signals``) and the live runner one at a
time (``signal``); both must agree exactly, which the parity tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class StrategyInputs:
    """The feature columns a strategy reads, in the order of its feature matrix.

    Attributes:
        columns: Base-timeframe columns: ``open``, ``high``, ``low``, ``close``, ``volume``,
            SMC columns (``compute_smc``) and context columns (``ctx_*``).
        htf_timeframe: The higher timeframe whose SMC columns are joined (``None``: none).
        htf_columns: SMC columns of the higher timeframe, each visible from the close of its
            candle on; in the matrix they follow ``columns`` as ``htf_<name>``.
    """

    columns: tuple[str, ...]
    htf_timeframe: str | None = None
    htf_columns: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every column of the feature matrix, in order."""
        return self.columns + tuple(f"htf_{c}" for c in self.htf_columns)


class Strategy(Protocol):
    """What the runners need from a strategy."""

    name: str

    def inputs(self) -> StrategyInputs:
        """Return the feature columns this strategy reads."""
        ...

    def signals(self, features: np.ndarray) -> np.ndarray:
        """Return the ``(bars, NS)`` signal rows of a ``(bars, len(inputs().names))`` matrix."""
        ...

    def signal(self, row: np.ndarray) -> np.ndarray:
        """Return the ``NS`` signal row of one bar's feature row."""
        ...
