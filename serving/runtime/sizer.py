"""What a model adds to the live loop: a risk multiplier for each bar's entry.

A :class:`Sizer` sees every closed bar once, in order (``update``), and turns its score into
the signal row's ``SIG_SIZE`` (``size``): exactly what ``model_sizes`` gives the backtest
(``serving.backtest.main.with_sizes``), so a replay with a sizer trades like the backtest
with that model's sizes. ``training.online.OnlineScorer`` is one; without a sizer the loop runs
the rule alone (the signal row untouched: the rules' own size, model version null).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Sizer(Protocol):
    """A model scoring each closed bar."""

    @property
    def version(self) -> str | None:
        """The model's version as the ledger records it."""
        ...

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> float:
        """Take one closed bar (UTC open time in ns, ``[o, h, l, c, v]``); return its score."""
        ...

    def size(self, p: float) -> float:
        """Return the entry's risk multiplier for score ``p`` (0: do not enter)."""
        ...
