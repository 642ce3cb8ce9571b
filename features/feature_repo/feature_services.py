"""Feature services: the model's inputs, versioned (``model_inputs_v1``, ``model_vector_v1``).

Both list the same values in the same order (``FeatureSet.model_columns``): the scale-free SMC
columns of the trading timeframe, then every MTF column. ``model_inputs_v<n>`` names them one
by one (training datasets, inspection); ``model_vector_v<n>`` serves them packed in one value
(online serving: one read instead of ~200). Each also carries ``known_at``. Bump
``MODEL_INPUTS_VERSION`` when the inputs change meaning; the ``fingerprint`` tag changes with
the names.
"""

from __future__ import annotations

from feast import FeatureService, FeatureView

from features.feature_repo import FeatureSet
from features.layout import KNOWN_AT, view_name


def _tags(features: FeatureSet) -> dict[str, str]:
    return {
        "version": str(features.version),
        "fingerprint": features.model_fingerprint,
        "trading_timeframe": features.trading_timeframe,
        "n_inputs": str(len(features.model_columns)),
    }


def inputs_service(features: FeatureSet, views: dict[str, FeatureView]) -> FeatureService:
    """Return ``model_inputs_v<n>``: the inputs feature by feature."""
    tf = features.trading_timeframe
    model = set(features.model_columns)
    smc = [c for c in features.smc_columns(tf) if c in model]
    return FeatureService(
        name=features.inputs_service,
        features=[
            views[view_name("smc", tf)][[KNOWN_AT, *smc]],
            views[view_name("mtf", tf)][[KNOWN_AT, *features.mtf_columns]],
        ],
        description="The model's inputs, one feature each (training datasets).",
        tags=_tags(features),
    )


def vector_service(features: FeatureSet, views: dict[str, FeatureView]) -> FeatureService:
    """Return ``model_vector_v<n>``: the inputs packed in one vector (online serving)."""
    return FeatureService(
        name=features.vector_service,
        features=[views[view_name("model", features.trading_timeframe)]],
        description="The model's inputs as one packed vector (online serving).",
        tags=_tags(features),
    )
