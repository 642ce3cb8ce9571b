"""Model factory: Keras 3 networks and a gradient-boosting baseline behind one signature.

Importing this package is cheap: Keras, TensorFlow and scikit-learn load only when a model
is built or loaded.

- :func:`build_model` returns a compiled Keras network (binary head, sigmoid: P(take the
  setup)) for the Keras kinds; keras-tuner calls it with its ``HyperParameters``.
- :func:`make_classifier` returns a :class:`Classifier` for any kind, ``gbm`` included; all
  of them take windows ``(n, lookback, features)``; ``mlp`` and ``gbm`` read the last row only.
- :func:`load_classifier` reads back what :meth:`Classifier.save` wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.models.base import Classifier, FitReport, read_meta
from training.models.config import KERAS_KINDS, KINDS, SEQUENCE_KINDS, ModelConfig, check_kind

if TYPE_CHECKING:
    import keras

__all__ = [
    "KERAS_KINDS",
    "KINDS",
    "SEQUENCE_KINDS",
    "Classifier",
    "FitReport",
    "ModelConfig",
    "build_model",
    "load_classifier",
    "make_classifier",
]


def build_model(
    kind: str, input_shape: tuple[int, ...], config: ModelConfig, hp: Any | None = None
) -> keras.Model:
    """Build and compile the Keras network ``kind`` (see :func:`networks.build_network`).

    Args:
        kind: ``lstm``, ``gru``, ``cnn_lstm``, ``transformer`` or ``mlp``.
        input_shape: ``(lookback, n_features)`` (the mlp also takes ``(n_features,)``).
        config: the architecture, or the centre of the search space when ``hp`` is given.
        hp: a ``keras_tuner.HyperParameters``; None builds the config's architecture.
    """
    if check_kind(kind) == "gbm":
        raise ValueError("gbm is not a Keras network: use make_classifier('gbm', ...)")
    from training.models.networks import build_network

    return build_network(kind, input_shape, config, hp)


def make_classifier(kind: str, input_shape: tuple[int, ...], config: ModelConfig) -> Classifier:
    """Return an unfitted :class:`Classifier` of ``kind`` for inputs of ``input_shape``."""
    if check_kind(kind) == "gbm":
        from training.models.gbm import GBMClassifier

        return GBMClassifier(input_shape, config)
    from training.models.keras_classifier import KerasClassifier

    return KerasClassifier(kind, input_shape, config)


def load_classifier(path: str | Path) -> Classifier:
    """Read a classifier saved by :meth:`Classifier.save`, whatever its kind."""
    if read_meta(path)["kind"] == "gbm":
        from training.models.gbm import GBMClassifier

        return GBMClassifier.load(path)
    from training.models.keras_classifier import KerasClassifier

    return KerasClassifier.load(path)
