"""Model configuration: one frozen, validated object per training run (no TF import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS: tuple[str, ...] = ("lstm", "gru", "cnn_lstm", "transformer", "mlp", "gbm")
"""Every model kind the factory builds; all but ``gbm`` are Keras networks."""

KERAS_KINDS: tuple[str, ...] = ("lstm", "gru", "cnn_lstm", "transformer", "mlp")
SEQUENCE_KINDS: tuple[str, ...] = ("lstm", "gru", "cnn_lstm", "transformer")
"""Kinds that read the whole lookback window; ``mlp`` and ``gbm`` read only its last row."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and fitting defaults, small enough to train in seconds on 2 CPU cores.

    Attributes:
        units: recurrent units (lstm, gru, cnn_lstm), hidden width (mlp), model width
            (transformer).
        layers: stacked recurrent layers, or hidden layers of the mlp.
        dropout: dropout rate before the head.
        filters: Conv1D filters of cnn_lstm.
        kernel_size: Conv1D kernel size of cnn_lstm (causal padding).
        heads: attention heads of the transformer encoder.
        learning_rate: Adam learning rate.
        batch_size: minibatch size.
        epochs: maximum epochs; early stopping on the validation loss may end sooner.
        patience: epochs without a better validation loss before stopping.
        seed: seed of every random choice (weights, dropout, shuffling, tuner, gbm).
        gbm_max_iter: maximum boosting iterations of the gbm baseline.
        gbm_learning_rate: gbm shrinkage.
        gbm_max_leaf_nodes: leaves per gbm tree.
        gbm_l2: gbm L2 regularization.
        gbm_threads: OpenMP threads of the gbm (0: the library's default, all cores). One by
            default: on a shared 2-core machine OpenMP's spinning threads made a fit 20x
            slower than one thread (docs/benchmarks.md).
    """

    units: int = 32
    layers: int = 1
    dropout: float = 0.1
    filters: int = 32
    kernel_size: int = 3
    heads: int = 2
    learning_rate: float = 1e-3
    batch_size: int = 256
    epochs: int = 5
    patience: int = 2
    seed: int = 0
    gbm_max_iter: int = 200
    gbm_learning_rate: float = 0.05
    gbm_max_leaf_nodes: int = 15
    gbm_l2: float = 1.0
    gbm_threads: int = 1

    def __post_init__(self) -> None:
        positive = {
            "units": self.units,
            "layers": self.layers,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "heads": self.heads,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "patience": self.patience,
            "gbm_max_iter": self.gbm_max_iter,
            "gbm_max_leaf_nodes": self.gbm_max_leaf_nodes,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout!r}")
        for name, rate in {
            "learning_rate": self.learning_rate,
            "gbm_learning_rate": self.gbm_learning_rate,
        }.items():
            if not rate > 0.0:
                raise ValueError(f"ModelConfig.{name} must be > 0, got {rate!r}")
        if self.gbm_l2 < 0.0:
            raise ValueError(f"ModelConfig.gbm_l2 must be >= 0, got {self.gbm_l2!r}")
        if self.gbm_max_leaf_nodes < 2:
            raise ValueError(
                f"ModelConfig.gbm_max_leaf_nodes must be >= 2, got {self.gbm_max_leaf_nodes!r}"
            )
        if not isinstance(self.gbm_threads, int) or self.gbm_threads < 0:
            raise ValueError(f"ModelConfig.gbm_threads must be >= 0, got {self.gbm_threads!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"ModelConfig.seed must be a non-negative integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serializable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build a config from :meth:`to_dict` output; unknown keys are an error."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"ModelConfig: unknown field(s) {unknown}")
        return cls(**values)


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is a known model kind, else raise a ValueError naming the choices."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return kind
