"""Look-ahead checks: does anything known at bar t change when the bars after t are removed?

Two methods, both comparing a run on truncated data with the full run:

- **truncated re-runs** (the freqtrade method): cut the data right after a trade's entry
  signal bar (and after its exit bar), recompute features and signals, and compare that bar's
  feature row and signal row with the full run's;
- **prefix replay**: run the whole pipeline (features, signals, engine) on prefixes of the data;
  every order, fill, closed trade, protection event and equity value up to the cut must equal
  the full run's.

This module holds the comparisons; ``serving.backtest.audit`` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from serving.engine import layout as L
from serving.engine.simulate import EngineLogs


@dataclass(frozen=True)
class Check:
    """One comparison: what was cut where, and the fields that differed (none: passed)."""

    kind: str
    bar: str
    mismatches: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """Whether the truncated run agreed with the full run."""
        return not self.mismatches


def row_mismatches(names: Sequence[str], full: np.ndarray, cut: np.ndarray) -> tuple[str, ...]:
    """Return the names of the values that differ between two rows (NaN equals NaN)."""
    a = np.asarray(full, dtype=np.float64)
    b = np.asarray(cut, dtype=np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return tuple(name for name, ok in zip(names, same, strict=True) if not ok)


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def prefix_mismatches(
    full: EngineLogs, cut: EngineLogs, cut_ts: int, tf_ns: int
) -> tuple[str, ...]:
    """Return which logs of a prefix run differ from the full run's up to the prefix's end.

    ``cut_ts`` is the open time of the prefix's last bar. Orders are compared up to its close,
    fills, closed trades (by exit bar) and equity up to and including that bar. Closed trades
    still open at the cut appear in neither.
    """
    bad = []
    close = cut_ts + tf_ns
    if not _equal(full.orders[full.orders[:, L.R_TS] <= close], cut.orders):
        bad.append("orders")
    if not _equal(full.fills[full.fills[:, L.F_TS] <= cut_ts], cut.fills):
        bad.append("fills")
    if not _equal(full.trades[full.trades[:, L.C_EXIT_TS] <= cut_ts], cut.trades):
        bad.append("trades")
    if not _equal(full.events[full.events[:, L.E_TS] <= close], cut.events):
        bad.append("protection events")
    n = cut.equity.shape[0]
    if not _equal(full.equity[:n], cut.equity) or not _equal(full.position[:n], cut.position):
        bad.append("equity")
    return tuple(bad)
