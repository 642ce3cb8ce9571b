"""The promotion gate: a challenger becomes champion only on out-of-sample evidence.

Pure decision over the out-of-sample trading results of the challenger, the current champion
(if any) and the rule-only strategy on the same test windows. Every decision carries its
reason, which the registry records (MLflow tags) and the Dagster asset shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from serving.engine.validation import in_range, integer


@dataclass(frozen=True)
class PromotionConfig:
    """What a challenger must show to replace the champion.

    Attributes:
        metric: The out-of-sample trading metric compared (``sharpe``, ``total_return`` or
            ``calmar``); higher is better.
        margin: How much the challenger must beat the champion and rule-only by, in the metric's
            units.
        min_trades: Out-of-sample trades the challenger must have made.
        min_deflated_sharpe: Probability from the deflated Sharpe ratio (over every variant
            tried) that the challenger's Sharpe is above zero; above 0.5 means "more likely than
            not", the default demands 0.5.
    """

    metric: str = "sharpe"
    margin: float = 0.1
    min_trades: int = 30
    min_deflated_sharpe: float = 0.5

    def __post_init__(self) -> None:
        """Validate the fields, naming a bad one."""
        o = "PromotionConfig"
        if self.metric not in ("sharpe", "total_return", "calmar"):
            raise ValueError(
                f"{o}.metric must be one of sharpe, total_return, calmar; got {self.metric!r}"
            )
        in_range(o, "margin", self.margin, 0.0, 100.0)
        integer(o, "min_trades", self.min_trades, 0, 10**9)
        in_range(o, "min_deflated_sharpe", self.min_deflated_sharpe, 0.0, 1.0)


@dataclass(frozen=True)
class Evidence:
    """A strategy's out-of-sample result on the evaluation's test windows."""

    sharpe: float
    total_return: float
    calmar: float
    n_trades: int
    deflated_sharpe: float = float("nan")

    def value(self, metric: str) -> float:
        """Return ``metric`` (NaN counts as the worst value)."""
        v = float(getattr(self, metric))
        return v if math.isfinite(v) else -math.inf


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and why."""

    promote: bool
    reason: str


def decide(
    challenger: Evidence,
    rule_only: Evidence,
    champion: Evidence | None,
    config: PromotionConfig | None = None,
) -> Decision:
    """Decide whether ``challenger`` replaces ``champion`` (``None``: there is none yet)."""
    cfg = config or PromotionConfig()
    m = cfg.metric
    mine = challenger.value(m)
    if challenger.n_trades < cfg.min_trades:
        return Decision(
            False, f"{challenger.n_trades} out-of-sample trades, fewer than {cfg.min_trades}"
        )
    dsr = challenger.deflated_sharpe
    if not (math.isfinite(dsr) and dsr > cfg.min_deflated_sharpe):
        return Decision(
            False, f"deflated Sharpe probability {dsr:.3f} not above {cfg.min_deflated_sharpe}"
        )
    rule = rule_only.value(m)
    if not mine > rule + cfg.margin:
        return Decision(False, f"{m} {mine:.3f} does not beat rule-only {rule:.3f} by {cfg.margin}")
    if champion is not None:
        best = champion.value(m)
        if not mine > best + cfg.margin:
            return Decision(
                False, f"{m} {mine:.3f} does not beat the champion's {best:.3f} by {cfg.margin}"
            )
        return Decision(True, f"{m} {mine:.3f} beats the champion's {best:.3f} and rule-only")
    return Decision(True, f"{m} {mine:.3f} beats rule-only {rule:.3f}; no champion yet")
