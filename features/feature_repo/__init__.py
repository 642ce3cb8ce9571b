"""The Feast feature repo, split by object kind, and the feature set it declares.

``entities.py`` (the symbol), ``data_sources.py`` (Parquet offline tables under the repo
folder), ``feature_views.py`` (one view per timeframe and kind), ``feature_services.py`` (the
model's versioned inputs) and ``offline_store.py`` (the file store with a linear
point-in-time join). The objects are built from a :class:`FeatureSet`, so the repo follows the
configured timeframes and the engines' column lists; ``build_repo`` returns them for
``FeatureStore.apply`` (the ``feast_registry`` asset). Only ``build_repo`` imports Feast.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from features.candles.schema import Timeframe
from features.layout import view_name
from features.model_inputs import model_input_columns

MODEL_INPUTS_VERSION = 1
OFFLINE_DIR = "offline"  # offline tables' folder, relative to the repo folder


@dataclass(frozen=True)
class FeatureSet:
    """What the repo declares: SMC views per timeframe, MTF and the model's inputs.

    Attributes:
        trading_timeframe: The timeframe the model trades (MTF and model views).
        smc: ``(timeframe label, compute_smc columns)`` per timeframe, ascending.
        mtf_columns: ``compute_mtf`` columns on the trading timeframe.
        version: Version of the model's inputs (bump when their meaning changes).
    """

    trading_timeframe: str
    smc: tuple[tuple[str, tuple[str, ...]], ...]
    mtf_columns: tuple[str, ...]
    version: int = MODEL_INPUTS_VERSION

    def __post_init__(self) -> None:
        labels = [label for label, _ in self.smc]
        if Timeframe.parse(self.trading_timeframe).label not in labels:
            raise ValueError(
                f"trading timeframe {self.trading_timeframe!r} has no SMC columns "
                f"(timeframes: {labels})"
            )
        if self.version < 1:
            raise ValueError(f"FeatureSet.version must be >= 1, got {self.version}")

    @property
    def timeframes(self) -> tuple[str, ...]:
        """The SMC timeframes, ascending."""
        return tuple(label for label, _ in self.smc)

    def smc_columns(self, timeframe: str | Timeframe) -> tuple[str, ...]:
        """Return the SMC columns of one timeframe."""
        label = Timeframe.parse(timeframe).label
        for tf, columns in self.smc:
            if tf == label:
                return columns
        raise KeyError(f"no SMC view for timeframe {label!r}; have {self.timeframes}")

    @property
    def model_columns(self) -> tuple[str, ...]:
        """The model's inputs, in the packed vector's order."""
        return model_input_columns(self.smc_columns(self.trading_timeframe), self.mtf_columns)

    @property
    def model_fingerprint(self) -> str:
        """A short digest of the model's input names (detects a change without a new version)."""
        text = "\n".join(self.model_columns).encode()
        return hashlib.blake2b(text, digest_size=8).hexdigest()

    def views(self) -> dict[str, str]:
        """Return ``{view name: timeframe label}`` for every view of the repo."""
        out = {view_name("smc", tf): tf for tf in self.timeframes}
        out[view_name("mtf", self.trading_timeframe)] = self.trading_timeframe
        out[view_name("model", self.trading_timeframe)] = self.trading_timeframe
        return out

    @property
    def inputs_service(self) -> str:
        """Name of the feature service listing the model's inputs column by column."""
        return f"model_inputs_v{self.version}"

    @property
    def vector_service(self) -> str:
        """Name of the feature service serving the model's inputs as one packed vector."""
        return f"model_vector_v{self.version}"


def feature_set(
    timeframes: list[str] | tuple[str, ...],
    trading_timeframe: str,
    version: int = MODEL_INPUTS_VERSION,
) -> FeatureSet:
    """Return the feature set of the default engine configs for these timeframes."""
    from features.mtf import output_columns
    from features.smc import SMCConfig, columns

    trading = Timeframe.parse(trading_timeframe)
    labels = sorted({Timeframe.parse(tf) for tf in timeframes} | {trading})
    smc = tuple((tf.label, columns(SMCConfig.for_timeframe(tf.label))) for tf in labels)
    higher = [tf.label for tf in labels if tf > trading]
    return FeatureSet(
        trading_timeframe=trading.label,
        smc=smc,
        mtf_columns=output_columns(trading.label, higher),
        version=version,
    )


def build_repo(features: FeatureSet) -> list[Any]:
    """Return every Feast object of the repo (entity, sources, views, services)."""
    from features.feature_repo.data_sources import offline_source
    from features.feature_repo.entities import symbol_entity
    from features.feature_repo.feature_services import inputs_service, vector_service
    from features.feature_repo.feature_views import model_view, table_view

    entity = symbol_entity()
    objects: list[Any] = [entity]
    views = {}
    for name, tf in features.views().items():
        source = offline_source(name)
        if name.startswith("model_"):
            view = model_view(name, tf, entity, source, features)
        elif name.startswith("mtf_"):
            view = table_view(name, tf, entity, source, features.mtf_columns)
        else:
            view = table_view(name, tf, entity, source, features.smc_columns(tf))
        views[name] = view
        objects += [source, view]
    objects.append(inputs_service(features, views))
    objects.append(vector_service(features, views))
    return objects
