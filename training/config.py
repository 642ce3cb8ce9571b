"""Frozen, validated configuration of the training data: labels, splits and datasets.

Every config checks itself when built and raises :class:`ConfigError` (a ``ValueError``)
naming the field, the bad value and the rule, like the engine's configs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from serving.engine.validation import ConfigError, choice, in_range, integer

SCHEMES = ("expanding", "sliding")
TARGET_FILLS = ("through", "touch")
CODE_ENCODINGS = ("onehot", "ids")
SCALINGS = ("standard", "robust")

__all__ = [
    "BarrierConfig",
    "ConfigError",
    "DatasetConfig",
    "SplitConfig",
]


@dataclass(frozen=True)
class BarrierConfig:
    """Triple-barrier labels (see :func:`training.labels.triple_barrier`).

    Attributes:
        horizon_bars: The vertical barrier: bars after the decision bar that are scanned.
        stop_atr: Distance of the stop barrier from the decision close, in ATRs (used when no
            per-row stop is given).
        target_atr: Distance of the profit barrier, in ATRs (when no per-row target is given).
        target_fill: ``through`` (the bar must trade beyond the target, the engine's default
            for resting limits) or ``touch``. The stop always triggers on a touch.
        cost: Round-trip cost as a fraction of the entry price, subtracted from each return.
    """

    horizon_bars: int = 12
    stop_atr: float = 1.0
    target_atr: float = 2.0
    target_fill: str = "through"
    cost: float = 0.0

    def __post_init__(self) -> None:
        owner = "BarrierConfig"
        integer(owner, "horizon_bars", self.horizon_bars, 1, 100_000)
        in_range(owner, "stop_atr", self.stop_atr, 0.0, 1_000.0, lo_open=True)
        in_range(owner, "target_atr", self.target_atr, 0.0, 1_000.0, lo_open=True)
        choice(owner, "target_fill", self.target_fill, TARGET_FILLS)
        in_range(owner, "cost", self.cost, 0.0, 0.1)


@dataclass(frozen=True)
class SplitConfig:
    """Purged walk-forward folds (see :func:`training.splits.purged_walk_forward`).

    Sizes count distinct decision times (bars of the trading timeframe), whatever the number of
    symbols sharing them.

    Attributes:
        n_folds: Test windows, consecutive and of equal length, ending at the last bar.
        min_train: Bars before the first test window that the first fold trains on (at least;
            the remainder of an uneven division is added to it).
        scheme: ``expanding`` (every fold trains from the first bar) or ``sliding`` (each fold
            trains on the ``train_size`` bars before its validation and test windows).
        train_size: Training bars of a sliding fold (validation included); ignored when
            expanding.
        valid_fraction: Share of each training window, at its end, held out as the inner
            validation set (early stopping, tuning, thresholds, calibration); 0 for none.
        embargo_bars: Bars after each test window from which no training row may come; must be
            at least ``horizon_bars``.
        horizon_bars: The label horizon (the triple barrier's vertical barrier).
    """

    n_folds: int = 5
    min_train: int = 1_000
    scheme: str = "expanding"
    train_size: int | None = None
    valid_fraction: float = 0.2
    embargo_bars: int = 12
    horizon_bars: int = 12

    def __post_init__(self) -> None:
        owner = "SplitConfig"
        integer(owner, "n_folds", self.n_folds, 1, 10_000)
        integer(owner, "min_train", self.min_train, 1, 10**9)
        choice(owner, "scheme", self.scheme, SCHEMES)
        in_range(owner, "valid_fraction", self.valid_fraction, 0.0, 0.9)
        integer(owner, "horizon_bars", self.horizon_bars, 0, 10**9)
        integer(owner, "embargo_bars", self.embargo_bars, 0, 10**9)
        if self.embargo_bars < self.horizon_bars:
            raise ConfigError(
                f"SplitConfig.embargo_bars ({self.embargo_bars}) must be at least the label "
                f"horizon ({self.horizon_bars} bars)"
            )
        if self.scheme == "sliding":
            if self.train_size is None:
                raise ConfigError("SplitConfig.train_size is required when scheme='sliding'")
            integer(owner, "train_size", self.train_size, 1, 10**9)
            if self.train_size > self.min_train:
                raise ConfigError(
                    f"SplitConfig.train_size ({self.train_size}) must not exceed min_train "
                    f"({self.min_train}): the first fold has only min_train bars to train on"
                )
        elif self.train_size is not None:
            integer(owner, "train_size", self.train_size, 1, 10**9)


@dataclass(frozen=True)
class DatasetConfig:
    """How :class:`training.datasets.Preprocessor` turns schema columns into model inputs.

    Attributes:
        codes: ``onehot`` (one column per state/categorical code plus one for "unknown") or
            ``ids`` (one integer id per column, 0 = unknown, for an embedding layer).
        scaling: ``standard`` (mean / standard deviation) or ``robust`` (median / IQR) for
            ratios, counts and ages, fitted on the training rows only.
        log_counts: Apply ``log1p`` to counts and ages before scaling (they are skewed).
        clip: Scaled values are clipped to ``[-clip, clip]``.
        lookback: Bars in a sequence window (1: the last row only).
    """

    codes: str = "onehot"
    scaling: str = "standard"
    log_counts: bool = True
    clip: float = 10.0
    lookback: int = 32

    def __post_init__(self) -> None:
        owner = "DatasetConfig"
        choice(owner, "codes", self.codes, CODE_ENCODINGS)
        choice(owner, "scaling", self.scaling, SCALINGS)
        if not isinstance(self.log_counts, bool):
            raise ConfigError(f"{owner}.log_counts must be a bool, got {self.log_counts!r}")
        in_range(owner, "clip", self.clip, 0.0, 1e6, lo_open=True)
        integer(owner, "lookback", self.lookback, 1, 100_000)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serializable dict."""
        return asdict(self)
