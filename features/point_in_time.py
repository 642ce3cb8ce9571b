"""The point-in-time audit of a training dataset: nothing known after its decision time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.labels import LABEL_TIME
from features.layout import EVENT_TIMESTAMP, KNOWN_AT, utc_ns


@dataclass(frozen=True)
class PointInTimeReport:
    """Point-in-time violations of a training dataset (all zero when it is sound).

    Attributes:
        features_after_decision: Feature values known (``*known_at``) after their row's
            decision time.
        labels_not_after_decision: Rows whose label time is not after the decision time.
    """

    features_after_decision: int
    labels_not_after_decision: int

    @property
    def total(self) -> int:
        """All violations."""
        return self.features_after_decision + self.labels_not_after_decision


def known_after(dataset: pd.DataFrame, time_column: str = EVENT_TIMESTAMP) -> PointInTimeReport:
    """Count values of ``dataset`` that were not yet known at their row's decision time.

    Every ``known_at`` column (``known_at`` or ``<view>__known_at``) must be at or before the
    decision time (``time_column``); ``label_time``, when present, strictly after it.
    """
    if not len(dataset):
        return PointInTimeReport(0, 0)
    decision = utc_ns(pd.DatetimeIndex(dataset[time_column])) / 1e9
    known = [c for c in dataset.columns if c == KNOWN_AT or c.endswith(f"__{KNOWN_AT}")]
    late = sum(int((dataset[c].to_numpy(dtype=np.float64) > decision).sum()) for c in known)
    labels = 0
    if LABEL_TIME in dataset.columns:
        label = utc_ns(pd.DatetimeIndex(dataset[LABEL_TIME])) / 1e9
        labels = int((label <= decision).sum())
    return PointInTimeReport(late, labels)
