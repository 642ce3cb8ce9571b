"""A trained model scoring closed bars one at a time: the backtest ``--model`` path, online.

:class:`OnlineScorer` is a bundle over :class:`features.online.ModelInputStream`: each closed
bar's model inputs (``meta.columns``) go through the bundle's preprocessor, the last
``lookback`` rows make the window, :class:`training.inference.SingleBarPredictor` answers it
and the bundle's calibrator turns the answer into P(take); ``size`` is the bundle's own sizing.
Over a replay its probabilities equal ``Bundle.predict_frame`` of
:func:`features.model_inputs.model_input_frame` (what ``smartmarket backtest --model`` feeds
the engine) and its sizes the backtest's.

:class:`OnlineModel` is one loaded version shared by many markets (one scorer each);
:class:`RegistryChampion` is the MLflow ``champion`` alias as the signal service's
``ChampionSource``. Keras and TensorFlow load when a model is loaded, not on import.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from features.candles.schema import OHLCV, Timeframe
from features.model_inputs import model_input_names
from features.online import ModelInputStream
from training.bundle import Bundle, check_fingerprint, load_bundle
from training.config import DatasetConfig
from training.datasets import feature_fingerprint, input_names
from training.inference import SingleBarPredictor


class OnlineModel:
    """One loaded model version: bundle, warm single-bar predictor, identity.

    Args:
        bundle: The trained model.
        version: Its registry version (shown in signals as ``model_version``).
        mode: The predictor's mode (:data:`training.inference.MODES`).
    """

    def __init__(self, bundle: Bundle, version: str = "", mode: str = "predict_on_batch") -> None:
        """Check the bundle against the feature schema and warm its predictor."""
        check_fingerprint(bundle.meta, bundle.meta.columns)  # the schema still gives its inputs
        self.bundle = bundle
        self.version = version or f"{bundle.meta.kind}"
        self.predictor = SingleBarPredictor(bundle.classifier, mode)
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, folder: Path, version: str = "") -> OnlineModel:
        """Load a bundle folder."""
        return cls(load_bundle(folder), version)

    @property
    def fingerprint(self) -> str:
        """The feature fingerprint the model was trained on (``meta.json``, the registry tag)."""
        return self.bundle.meta.fingerprint

    @property
    def timeframe(self) -> str:
        """The timeframe of the bars it scores."""
        return Timeframe.parse(self.bundle.meta.timeframe).label

    @property
    def threshold(self) -> float:
        """P(take) from which an entry is taken."""
        return float(self.bundle.meta.threshold)

    def offered_fingerprint(self, timeframes: Sequence[str]) -> str:
        """The fingerprint of the inputs the feature path offers with ``timeframes`` stored.

        Equal to :attr:`fingerprint` when the stored timeframes give the model's inputs, in its
        order, under its dataset config.
        """
        names = model_input_names(Timeframe.parse(self.timeframe), timeframes)
        config = DatasetConfig(**self.bundle.meta.dataset)
        return feature_fingerprint(input_names(names), config)

    def predict(self, window: np.ndarray) -> float:
        """Calibrated P(take) of one preprocessed window ``(lookback, outputs)``."""
        with self._lock:  # one model, many markets' threads
            raw = self.predictor.predict(window)
        return float(self.bundle.calibrator.transform(np.array([raw]))[0])

    def scorer(self, timeframes: Sequence[str]) -> OnlineScorer:
        """A new scorer of this model over its own feature stream (one per market)."""
        return OnlineScorer(self, timeframes)


class OnlineScorer:
    """Calibrated P(take) of each closed bar of one market, as the backtest computes it.

    Args:
        model: A loaded model (or a bundle, loaded here with its predictor).
        timeframes: The stored timeframes (those above the model's feed its MTF inputs), as
            for :func:`features.model_inputs.model_input_frame`.

    Raises:
        KeyError: The timeframes do not give every input of the model (naming them).
    """

    def __init__(self, model: OnlineModel | Bundle, timeframes: Sequence[str]) -> None:
        """Start with no history."""
        self.model = model if isinstance(model, OnlineModel) else OnlineModel(model)
        meta = self.model.bundle.meta
        self._pre = self.model.bundle.preprocessor
        self.inputs = ModelInputStream(meta.timeframe, timeframes, columns=self._pre.columns)
        self.lookback = meta.lookback
        self._step = Timeframe.parse(meta.timeframe).ns
        self._rows: deque[tuple[int, np.ndarray]] = deque(maxlen=self.lookback)

    @property
    def version(self) -> str:
        """The model's version."""
        return self.model.version

    @property
    def fingerprint(self) -> str:
        """The model's feature fingerprint."""
        return self.model.fingerprint

    @property
    def threshold(self) -> float:
        """P(take) from which :meth:`size` is not 0."""
        return self.model.threshold

    @property
    def bars_seen(self) -> int:
        """Bars processed so far."""
        return self.inputs.bars_seen

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> float:
        """Advance by one closed bar (UTC open time in ns, ``[o, h, l, c, v]``); return P(take).

        NaN until ``lookback`` consecutive bars (no gap) have been seen.

        Raises:
            CandleDataError: The bar is not after the last one, or its values are invalid.
        """
        vector = self.inputs.update(ts_ns, ohlcv)
        self._rows.append((int(ts_ns), self._pre.transform_values(vector[None])[0]))
        if len(self._rows) < self.lookback:
            return float("nan")
        if self._rows[-1][0] - self._rows[0][0] != (self.lookback - 1) * self._step:
            return float("nan")  # a missing bar inside the window: no window, as in training
        return self.model.predict(np.stack([row for _, row in self._rows]))

    def warm(self, ts_ns: np.ndarray, ohlcv: np.ndarray) -> float:
        """Feed many closed bars (history); return the last one's P(take).

        Only the last ``lookback`` bars are scored; the earlier ones only advance the state.
        """
        n = len(ts_ns)
        for k in range(max(n - self.lookback, 0)):
            self.inputs.advance(int(ts_ns[k]), ohlcv[k])
        p = float("nan")
        for k in range(max(n - self.lookback, 0), n):
            p = self.update(int(ts_ns[k]), ohlcv[k])
        return p

    def size(self, p: float) -> float:
        """The risk multiplier of ``p`` (``Bundle.size``: 0 below the threshold).

        A NaN ``p`` (no full window) is sized as 0, as ``smartmarket backtest --model`` does.
        """
        return float(self.model.bundle.size(np.nan_to_num(np.array([p]), nan=0.0))[0])


def replay(scorer: OnlineScorer, candles: Any) -> np.ndarray:
    """Feed every candle of a canonical frame to ``scorer`` bar by bar; return each P(take)."""
    from features.layout import utc_ns

    values = candles[list(OHLCV)].to_numpy(np.float64)
    times = utc_ns(candles.index)
    return np.array([scorer.update(int(t), v) for t, v in zip(times, values, strict=True)])


class RegistryChampion:
    """The registry's ``champion`` alias as the signal service's ``ChampionSource``.

    Args:
        config: The registry (``training.registry.RegistryConfig``).
        timeframes: The timeframes the service stores (they feed the models' MTF inputs).
    """

    def __init__(self, config: Any, timeframes: Sequence[str]) -> None:
        """Ask nothing of the registry yet."""
        self.config = config
        self.timeframes = tuple(timeframes)

    def champion_version(self) -> str | None:
        """The version the ``champion`` alias names now (``None``: no champion)."""
        from training.registry import CHAMPION, version_by_alias

        found = version_by_alias(self.config, CHAMPION)
        return None if found is None else str(found.version)

    def load(self, version: str) -> OnlineModel:
        """Load that version's bundle and warm its predictor."""
        from training.registry import bundle_path

        return OnlineModel.from_path(bundle_path(self.config, version), version=version)

    def served_fingerprint(self, model: Any) -> str:
        """The fingerprint of what the service offers ``model`` (:meth:`offered_fingerprint`)."""
        return str(model.offered_fingerprint(self.timeframes))
