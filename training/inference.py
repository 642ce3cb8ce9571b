"""Fast single-bar prediction over a preloaded model, for the signal service.

``model.predict`` costs ~40 ms per call in fixed overhead; a single window is answered here
by ``predict_on_batch`` on the preloaded model (or by a ``tf.function`` traced once for the
fixed input signature ``(1, *input_shape)`` float32), warmed at construction so that the first
real bar is not the slow one. The gbm baseline answers through its ``predict_proba`` (on
``config.gbm_threads`` OpenMP threads, one by default). Keras and TensorFlow load when a
predictor is built, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training.models import Classifier, load_classifier
from training.models.base import check_features

MODES: tuple[str, ...] = ("predict_on_batch", "function")


class SingleBarPredictor:
    """Return P(label = 1) for one window ``(lookback, features)``, in about a millisecond.

    Args:
        classifier: a fitted classifier (Keras kinds get the fast paths; ``gbm`` answers
            through its own ``predict_proba``).
        mode: ``predict_on_batch`` (the default) or ``function`` (a traced ``tf.function``).
    """

    def __init__(self, classifier: Classifier, mode: str = "predict_on_batch") -> None:
        if mode not in MODES:
            raise ValueError(f"SingleBarPredictor: mode must be one of {MODES}, got {mode!r}")
        self.classifier = classifier
        self.input_shape = tuple(classifier.input_shape)
        self.mode = mode if classifier.kind != "gbm" else "predict_proba"
        self._traced: Any = None
        self._call = self._compile()
        self._call(np.zeros((1, *self.input_shape), dtype=np.float32))  # warm: trace once

    @classmethod
    def from_path(cls, path: str | Path, mode: str = "predict_on_batch") -> SingleBarPredictor:
        """Load a saved classifier and warm a predictor over it."""
        return cls(load_classifier(path), mode)

    def _compile(self) -> Callable[[np.ndarray], Any]:
        if self.mode == "predict_proba":
            return self.classifier.predict_proba
        model = self.classifier.model  # type: ignore[attr-defined]
        if self.mode == "predict_on_batch":
            return model.predict_on_batch
        import tensorflow as tf

        signature = [tf.TensorSpec((1, *self.input_shape), tf.float32)]

        @tf.function(input_signature=signature)
        def forward(x: Any) -> Any:
            return model(x, training=False)

        self._traced = forward
        return lambda x: forward(tf.constant(x)).numpy()

    @property
    def traces(self) -> int | None:
        """How many times the ``function`` mode traced its graph (1 when warm); else None."""
        return None if self._traced is None else int(self._traced.experimental_get_tracing_count())

    def predict(self, window: np.ndarray) -> float:
        """Return P(label = 1) for one window of shape ``input_shape`` (finite values)."""
        x = check_features(np.asarray(window)[None], self.input_shape, "SingleBarPredictor")
        return float(np.asarray(self._call(x)).reshape(-1)[0])
