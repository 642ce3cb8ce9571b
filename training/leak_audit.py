"""The look-ahead audit of a training run's labels and features (run when skill looks too good).

An out-of-sample AUC above about 0.62 on meta-labels is more likely a leak than skill. Before
such a model may be promoted, the run's inputs are recomputed on candles cut at a few points
and compared with what training used:

- **labels**: every intent decided before a cut and labelled (``label_time``) by then has the
  same label and R when the labels are recomputed on the candles up to the cut (a label may
  only depend on the bars up to its label time), and every label time is after its decision;
- **features**: every model input of every bar that closed by a cut is identical (NaN
  included) when the features are recomputed on the candles up to the cut.

``features_of`` is the run's own feature path (the same columns, keyed by ``event_timestamp``):
the audit compares it on all of the market's candles with itself on less data, so a feature that
reads a later candle shows up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from serving.backtest.fast import prepare
from training.meta_labels import MetaLabelConfig, meta_labels

if TYPE_CHECKING:
    from training.pipeline import Market

FeaturesOf = Callable[[str, pd.DataFrame], pd.DataFrame]
"""The run's features of one symbol's candles: ``event_timestamp`` plus the model inputs."""


@dataclass(frozen=True)
class LeakFinding:
    """One place where recomputing on less data changed what training used."""

    symbol: str
    cut: pd.Timestamp
    what: str  # "label" or "feature"
    detail: str


@dataclass(frozen=True)
class LeakAudit:
    """The audit's verdict: the cuts checked, the rows compared and every finding."""

    cuts: int
    labels_checked: int
    feature_rows_checked: int
    findings: list[LeakFinding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing changed at any cut."""
        return not self.findings

    def summary(self) -> str:
        """One line a person reads."""
        head = (
            f"look-ahead audit of labels and features at {self.cuts} cuts: "
            f"{self.labels_checked:,} labels, {self.feature_rows_checked:,} feature rows"
        )
        if self.clean:
            return f"{head}: clean"
        first = self.findings[0]
        return (
            f"{head}: {len(self.findings)} finding(s), first {first.what} of {first.symbol} "
            f"cut at {first.cut}: {first.detail}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (findings capped at 20)."""
        return {
            "clean": self.clean,
            "cuts": self.cuts,
            "labels_checked": self.labels_checked,
            "feature_rows_checked": self.feature_rows_checked,
            "findings": [
                {"symbol": f.symbol, "cut": str(f.cut), "what": f.what, "detail": f.detail}
                for f in self.findings[:20]
            ],
        }


def cut_points(n_bars: int, cuts: int, min_bars: int) -> list[int]:
    """Bar counts to cut at: ``cuts`` points spread over ``[min_bars, n_bars)``."""
    if n_bars <= min_bars or cuts < 1:
        return []
    points = np.linspace(min_bars, n_bars - 1, cuts + 1)[:-1]
    return sorted({int(p) for p in points})


def _label_findings(
    symbol: str,
    full: pd.DataFrame,
    cut_labels: pd.DataFrame,
    cut_close: pd.Timestamp,
) -> tuple[int, list[LeakFinding]]:
    known = full[full["label_time"] <= cut_close]
    findings = []
    joined = known.join(cut_labels, rsuffix="_cut", how="left")
    missing = joined["label_cut"].isna()
    if missing.any():
        at = joined.index[missing][0]
        findings.append(
            LeakFinding(symbol, cut_close, "label", f"intent at {at} is not labelled by then")
        )
    for col in ("label", "r_multiple", "label_time"):
        a, b = joined[col], joined[f"{col}_cut"]
        differ = ~missing & (a != b)
        if differ.any():
            at = joined.index[differ][0]
            findings.append(
                LeakFinding(
                    symbol, cut_close, "label", f"{col} of the intent at {at}: {a[at]} vs {b[at]}"
                )
            )
    return len(known), findings


def _feature_findings(
    symbol: str,
    full: pd.DataFrame,
    cut_features: pd.DataFrame,
    cut_close: pd.Timestamp,
    columns: Sequence[str],
) -> tuple[int, list[LeakFinding]]:
    a = full[full["event_timestamp"] <= cut_close].set_index("event_timestamp")
    b = cut_features.set_index("event_timestamp").reindex(a.index)
    x = a[list(columns)].to_numpy(dtype=np.float64)
    y = b[list(columns)].to_numpy(dtype=np.float64)
    same = (x == y) | (np.isnan(x) & np.isnan(y))
    bad_cols = np.flatnonzero(~same.all(axis=0))
    findings = []
    for k in bad_cols[:5]:
        row = int(np.argmin(same[:, k]))
        findings.append(
            LeakFinding(
                symbol,
                cut_close,
                "feature",
                f"{columns[k]} at {a.index[row]}: {x[row, k]} with all candles, "
                f"{y[row, k]} with the candles up to the cut",
            )
        )
    return len(a), findings


def audit_inputs(
    markets: Mapping[str, Market],
    columns: Sequence[str],
    features_of: FeaturesOf,
    meta: MetaLabelConfig,
    cuts: int = 3,
) -> LeakAudit:
    """Recompute each market's labels and features on candles cut at ``cuts`` points."""
    checked_labels = checked_rows = done = 0
    findings: list[LeakFinding] = []
    for symbol, market in markets.items():
        labels = meta_labels(market.setup, meta).labels
        early = labels[labels["label_time"] <= labels["decided_at"]]
        for at in early.index[:5]:
            findings.append(
                LeakFinding(symbol, at, "label", f"label time {early.at[at, 'label_time']} is not "
                            f"after its decision {early.at[at, 'decided_at']}")
            )  # fmt: skip
        features = features_of(symbol, market.candles)
        tf = market.setup.timeframe
        warm = market.setup.spec.warmup_bars + 100
        for n in cut_points(len(market.candles), cuts, warm):
            candles = market.candles.iloc[: n + 1]
            close = candles.index[-1] + tf.delta
            cut = prepare(candles, tf, market.setup.config, symbol=symbol)
            k, found = _label_findings(symbol, labels, meta_labels(cut, meta).labels, close)
            checked_labels += k
            findings += found
            k, found = _feature_findings(
                symbol, features, features_of(symbol, candles), close, columns
            )
            checked_rows += k
            findings += found
            done += 1
    return LeakAudit(done, checked_labels, checked_rows, findings)
