"""Keras 3 network builders: one function per kind, one binary (sigmoid) head.

Imports Keras at import time: load it only through :func:`training.models.build_model`.
Every builder reads its hyperparameters through :class:`_Space`, which returns the
:class:`ModelConfig` value when there is no keras-tuner ``HyperParameters`` object and
registers a search dimension (defaulting to that value) when there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import layers

from training.models.config import SEQUENCE_KINDS, ModelConfig, check_kind

LOSS = "binary_crossentropy"


@keras.saving.register_keras_serializable(package="smartmarket")
class PositionEmbedding(layers.Layer):
    """Add a learned embedding of the position (0 = oldest bar) to each time step."""

    def __init__(self, length: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.length = length
        self.width = width
        self.embedding = layers.Embedding(length, width)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embedding.build((self.length,))
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        positions = keras.ops.arange(self.length)
        return inputs + self.embedding(positions)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length, "width": self.width}


class _Space:
    """Hyperparameter lookup: the config's value, or a keras-tuner dimension around it."""

    def __init__(self, config: ModelConfig, hp: Any | None) -> None:
        self.config = config
        self.hp = hp

    def integer(self, name: str, low: int, high: int, step: int = 1) -> int:
        default = min(max(int(getattr(self.config, name)), low), high)
        if self.hp is None:
            return int(getattr(self.config, name))
        return int(self.hp.Int(name, low, high, step=step, default=default))

    def real(self, name: str, low: float, high: float, log: bool = False) -> float:
        default = min(max(float(getattr(self.config, name)), low), high)
        if self.hp is None:
            return float(getattr(self.config, name))
        sampling = "log" if log else "linear"
        return float(self.hp.Float(name, low, high, sampling=sampling, default=default))

    def choice(self, name: str, values: list[int]) -> int:
        value = int(getattr(self.config, name))
        if self.hp is None:
            return value
        default = value if value in values else values[0]
        return int(self.hp.Choice(name, values, default=default))


def _recurrent(cell: type[layers.Layer]) -> Callable[[Any, _Space], Any]:
    def body(x: Any, space: _Space) -> Any:
        units = space.integer("units", 16, 64, step=16)
        depth = space.integer("layers", 1, 2)
        for i in range(depth):
            x = cell(units, return_sequences=i < depth - 1, name=f"{cell.__name__.lower()}_{i}")(x)
        return x

    return body


def _cnn_lstm(x: Any, space: _Space) -> Any:
    filters = space.integer("filters", 16, 64, step=16)
    kernel = space.choice("kernel_size", [3, 5])
    x = layers.Conv1D(filters, kernel, padding="causal", activation="relu", name="conv")(x)
    x = layers.MaxPooling1D(2, padding="same", name="pool")(x)
    return layers.LSTM(space.integer("units", 16, 64, step=16), name="lstm")(x)


def _transformer(x: Any, space: _Space) -> Any:
    width = space.integer("units", 16, 64, step=16)
    heads = space.choice("heads", [1, 2, 4])
    length = int(x.shape[1])
    x = layers.Dense(width, name="project")(x)
    x = PositionEmbedding(length, width, name="position")(x)
    for i in range(space.integer("layers", 1, 2)):
        attended = layers.MultiHeadAttention(heads, max(width // heads, 4), name=f"mha_{i}")(x, x)
        x = layers.LayerNormalization(name=f"norm_a_{i}")(x + attended)
        hidden = layers.Dense(2 * width, activation="relu", name=f"ffn_in_{i}")(x)
        x = layers.LayerNormalization(name=f"norm_f_{i}")(
            x + layers.Dense(width, name=f"ffn_out_{i}")(hidden)
        )
    return layers.GlobalAveragePooling1D(name="pool")(x)


def _mlp(x: Any, space: _Space) -> Any:
    if len(x.shape) == 3:
        # Keep only the last bar of the window, without a (non-serializable) Lambda layer.
        x = layers.Cropping1D((int(x.shape[1]) - 1, 0), name="last_row")(x)
        x = layers.Flatten(name="flatten")(x)
    units = space.integer("units", 16, 128, step=16)
    for i in range(space.integer("layers", 1, 3)):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
    return x


_BODIES: dict[str, Callable[[Any, _Space], Any]] = {
    "lstm": _recurrent(layers.LSTM),
    "gru": _recurrent(layers.GRU),
    "cnn_lstm": _cnn_lstm,
    "transformer": _transformer,
    "mlp": _mlp,
}


def build_network(
    kind: str, input_shape: tuple[int, ...], config: ModelConfig, hp: Any | None = None
) -> keras.Model:
    """Build and compile the ``kind`` network for inputs of ``input_shape`` (batch excluded).

    Args:
        kind: one of the Keras kinds (``lstm``, ``gru``, ``cnn_lstm``, ``transformer``, ``mlp``).
        input_shape: ``(lookback, n_features)``; the mlp also accepts ``(n_features,)``.
        config: defaults (and search-space centres) of the hyperparameters.
        hp: keras-tuner ``HyperParameters``; None builds the config's architecture.

    Returns:
        A compiled model mapping a batch of inputs to P(label = 1), shape ``(batch, 1)``.
    """
    if check_kind(kind) not in _BODIES:
        raise ValueError(f"{kind!r} is not a Keras model kind")
    shape = tuple(int(d) for d in input_shape)
    if any(d < 1 for d in shape) or len(shape) not in (1, 2):
        raise ValueError(
            f"{kind}: input_shape must be (lookback, features) or (features,), got {shape}"
        )
    if kind in SEQUENCE_KINDS and len(shape) != 2:
        raise ValueError(
            f"{kind} reads a window: input_shape must be (lookback, features), got {shape}"
        )
    space = _Space(config, hp)
    inputs = keras.Input(shape, name="features")
    x = _BODIES[kind](inputs, space)
    x = layers.Dropout(space.real("dropout", 0.0, 0.3), seed=config.seed, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="p_take")(x)
    model = keras.Model(inputs, outputs, name=kind)
    learning_rate = space.real("learning_rate", 1e-4, 1e-2, log=True)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=LOSS,
        weighted_metrics=[],
        metrics=[keras.metrics.AUC(name="auc")],
    )
    return model
