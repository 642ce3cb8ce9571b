"""Meta-labels: the realized R of the trade the engine would run from each rule intent.

The rule strategy (``serving.signals``) wants to enter on many more bars than it trades: most
intents are refused because a position is already open or a protection halts entries. A model
that decides *which setups to take* needs a label for every intent, so each one is run through
the same compiled engine alone, on a fresh account: the entry, fees, slippage, partial exits,
breakeven, trailing and the rule's exit signals exactly as in a backtest, with every other
entry masked. The label is the trade's net R multiple, known when its last exit fills
(``label_time``: the close of that bar). Intents the risk manager refuses on their own
(reward:risk, stop distance, no stop) get no trade and are reported by reason; intents whose
trade is still open after ``horizon_bars`` are reported as unresolved, never guessed.

Training may use the backtest engine (``DESIGN.md``); nothing here re-implements a rule of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from serving.backtest.fast import Prepared
from serving.engine import layout as L
from serving.engine.simulate import EngineState, simulate

COLUMNS: tuple[str, ...] = (
    "decided_at", "direction", "score", "r_multiple", "net_pnl", "label", "label_time",
    "exit_kind", "bars_held",
)  # fmt: skip


@dataclass(frozen=True)
class MetaLabelConfig:
    """How intents are labelled.

    Attributes:
        horizon_bars: Bars a trade may take to close before its intent counts as unresolved.
        min_r: A trade is a success (label 1) when its net R multiple exceeds this.
    """

    horizon_bars: int = 2016
    min_r: float = 0.0

    def __post_init__(self) -> None:
        """Validate the fields, naming a bad one."""
        if not isinstance(self.horizon_bars, int) or self.horizon_bars < 2:
            raise ValueError(f"horizon_bars must be an integer >= 2, got {self.horizon_bars!r}")
        if not np.isfinite(self.min_r):
            raise ValueError(f"min_r must be a finite number, got {self.min_r!r}")


@dataclass(frozen=True)
class MetaLabels:
    """Labelled intents (indexed by the signal bar's open time) and what was left out."""

    labels: pd.DataFrame
    intents: int
    refused: dict[str, int]
    unresolved: int

    def summary(self) -> dict[str, object]:
        """Counts for people and metadata."""
        positive = float(self.labels["label"].mean()) if len(self.labels) else float("nan")
        return {
            "intents": self.intents,
            "labelled": len(self.labels),
            "refused": dict(self.refused),
            "unresolved": self.unresolved,
            "positive_share": positive,
        }


def intent_bars(signals: np.ndarray) -> np.ndarray:
    """Return the bars where the rule wants to enter (its entry field is +1 or -1)."""
    return np.flatnonzero(np.nan_to_num(signals[:, L.SIG_ENTRY]) != 0.0)


def meta_labels(prepared: Prepared, config: MetaLabelConfig | None = None) -> MetaLabels:
    """Label every rule intent of ``prepared`` with the R of the engine's trade from it."""
    config = config or MetaLabelConfig()
    if prepared.bars.sub_start.shape[0]:
        raise ValueError("meta-labels run on whole bars: prepare without intrabar sub-candles")
    signals, bars, params = prepared.signals, prepared.bars, prepared.params
    tf_ns = prepared.timeframe.ns
    initial = prepared.config.initial_cash
    intents = intent_bars(signals)
    rows: list[tuple[float, ...]] = []
    index: list[int] = []
    refused = np.zeros(len(L.REASONS), dtype=np.int64)
    unresolved = 0
    for t in intents:
        stop = min(len(bars), int(t) + 1 + config.horizon_bars)
        sig = signals[t:stop].copy()
        sig[1:, L.SIG_ENTRY] = 0.0  # this intent alone may enter
        state = EngineState.fresh(initial)
        blocked0 = state.acct[L.A_BLOCKED : L.A_BLOCKED + len(L.REASONS)].copy()
        logs, state = simulate(bars.window(int(t), stop), sig, params, state)
        if len(logs.trades):
            trade = logs.trades[0]
            exit_bar = int(np.searchsorted(bars.ts, trade[L.C_EXIT_TS]))
            r = float(trade[L.C_R])
            rows.append(
                (
                    float(bars.ts[t] + tf_ns),
                    float(trade[L.C_DIR]),
                    float(signals[t, L.SIG_SCORE]),
                    r,
                    float(trade[L.C_NET]),
                    1.0 if r > config.min_r else 0.0,
                    float(trade[L.C_EXIT_TS] + tf_ns),
                    float(trade[L.C_EXIT_KIND]),
                    float(exit_bar - t),
                )
            )
            index.append(int(t))
            continue
        blocked = state.acct[L.A_BLOCKED : L.A_BLOCKED + len(L.REASONS)] - blocked0
        if blocked.any():
            refused += blocked.astype(np.int64)
        else:
            unresolved += 1  # entered (or pending) and still open at the horizon
    frame = pd.DataFrame(rows, columns=list(COLUMNS), index=prepared.candles.index[index])
    for col in ("decided_at", "label_time"):
        frame[col] = pd.to_datetime(frame[col].astype("int64"), utc=True)
    frame["direction"] = frame["direction"].astype("int8")
    frame["label"] = frame["label"].astype("int8")
    frame["bars_held"] = frame["bars_held"].astype("int64")
    frame["exit_kind"] = [L.FILL_KINDS[int(k)] for k in frame["exit_kind"]]
    reasons = {L.REASONS[k]: int(n) for k, n in enumerate(refused) if n}
    return MetaLabels(frame, len(intents), reasons, unresolved)
