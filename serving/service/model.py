"""The model seam: who scores a signal, and how the champion is loaded, checked and swapped.

``ModelProvider`` is what the service calls. ``NoModel`` serves no model: every signal is
rule-only (``confidence_score`` and ``model_version`` null, ``model_status: rule_only``).
``RegistryProvider`` holds the lifecycle every real provider shares: ``refresh`` asks a
``ChampionSource`` which version the ``champion`` alias names, loads it only when the alias
moved, refuses a model whose feature fingerprint differs from the served features' (keeping the
previous model and saying why) and swaps atomically, so requests in flight finish on the model
they started with.

A model scores bars, not vectors: a sequence model needs a window of its inputs, and its inputs
(SMC of several timeframes, MTF) are path-dependent, so ``LoadedModel.scorer`` gives each served
market its own ``BarScorer`` that the core feeds every closed candle
(``training.online.OnlineScorer``, over ``features.online.ModelInputStream``). The MLflow source
is ``training.online.RegistryChampion``, plugged into ``build_runtime`` by
``orchestration.service``; the fingerprint is opaque here: the training side's
(``training.datasets.feature_fingerprint``), compared as a string, so the service holds no
second definition of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

ModelStatus = Literal["none", "loaded", "refused", "error"]


@dataclass(frozen=True)
class ModelState:
    """What the service serves with: the version (``None``: rule only) and why."""

    status: ModelStatus
    version: str | None
    reason: str | None = None


class BarScorer(Protocol):
    """One market's model: fed every closed candle, it answers that candle's P(take)."""

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> float:
        """Advance by one closed candle; return its calibrated P(take) (NaN: not yet)."""
        ...

    def warm(self, ts_ns: np.ndarray, ohlcv: np.ndarray) -> float:
        """Feed many closed candles (history); return the last one's P(take)."""
        ...

    def size(self, p: float) -> float:
        """Return the risk multiplier of ``p`` (0: the model declines the entry)."""
        ...


class LoadedModel(Protocol):
    """A loaded model: its version, the fingerprint of its inputs, the bars it scores."""

    @property
    def version(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def timeframe(self) -> str:
        """The timeframe of the candles it scores (other markets stay rule-only)."""
        ...

    def scorer(self, timeframes: Sequence[str]) -> BarScorer:
        """Return a new scorer for one market (``timeframes``: the stored ones)."""
        ...


class ModelProvider(Protocol):
    """What the service asks of a model provider."""

    def current(self) -> LoadedModel | None:
        """Return the model to score with now (``None``: rule-only signals)."""
        ...

    def state(self) -> ModelState:
        """Return the serving state (for responses, ``/readyz`` and metrics)."""
        ...

    def refresh(self) -> ModelState:
        """Reload when the champion moved; return the state afterwards."""
        ...


class NoModel:
    """No champion model: rule-only signals."""

    REASON = "no champion model registered: signals are rule-only"

    def current(self) -> LoadedModel | None:
        """Return ``None``."""
        return None

    def state(self) -> ModelState:
        """Return the ``none`` state and why."""
        return ModelState("none", None, self.REASON)

    def refresh(self) -> ModelState:
        """Nothing to reload."""
        return self.state()


class ChampionSource(Protocol):
    """A model registry seen through the ``champion`` alias."""

    def champion_version(self) -> str | None:
        """Return the version the alias names now (``None``: no champion)."""
        ...

    def load(self, version: str) -> LoadedModel:
        """Load that version (raises when it cannot)."""
        ...


class RegistryProvider:
    """The champion of a ``ChampionSource``, fingerprint-checked and hot-swapped."""

    def __init__(
        self, source: ChampionSource, served_fingerprint: str | Callable[[LoadedModel], str]
    ) -> None:
        """Serve nothing until the first ``refresh``.

        ``served_fingerprint`` is the served features' fingerprint, or how to compute it for a
        model (the fingerprint covers the model's own dataset settings, e.g. its look-back).
        """
        self._source = source
        self._served = served_fingerprint
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._state = ModelState("none", None, NoModel.REASON)
        self._seen: str | None = None

    def current(self) -> LoadedModel | None:
        """Return the model in service (one reference read: swaps are atomic)."""
        return self._model

    def state(self) -> ModelState:
        """Return the serving state."""
        return self._state

    def refresh(self) -> ModelState:
        """Load the alias's version when it moved; keep the current model when it fails."""
        with self._lock:
            try:
                version = self._source.champion_version()
            except Exception as exc:  # the registry is down: keep serving what we have
                return self._keep(f"registry unreachable: {type(exc).__name__}")
            if version is None or version == self._seen:
                return self._state
            self._seen = version
            try:
                model = self._source.load(version)
            except Exception as exc:
                return self._keep(f"champion {version} failed to load: {type(exc).__name__}: {exc}")
            try:
                served = self._served(model) if callable(self._served) else self._served
            except Exception as exc:
                return self._keep(
                    f"champion {version}: its features cannot be checked: "
                    f"{type(exc).__name__}: {exc}"
                )
            if model.fingerprint != served:
                return self._keep(
                    f"champion {version} refused: its feature fingerprint {model.fingerprint} "
                    f"differs from the served features' {served}",
                    status="refused",
                )
            self._model = model
            self._state = ModelState("loaded", model.version)
            return self._state

    def _keep(self, reason: str, status: ModelStatus = "error") -> ModelState:
        kept = self._model
        if kept is not None:
            self._state = ModelState(
                "loaded", kept.version, f"{reason}; still serving {kept.version}"
            )
        else:
            self._state = ModelState(status, None, f"{reason}; signals are rule-only")
        return self._state
