"""The signal service as deployed: ``bentoml serve orchestration.service:SignalService``.

The composition edge: serving's BentoML service (``serving.service.service``) with the training
registry's ``champion`` plugged into its model seam, hot-reloaded and fingerprint-checked.
``serving`` never imports ``training``; this module joins them, as the Dagster definitions join
the assets.
"""

from __future__ import annotations

import functools
import logging

from orchestration.settings import Settings
from serving.service import wiring
from serving.service.model import ModelProvider, NoModel, RegistryProvider
from serving.service.service import SignalService

__all__ = ["SignalService", "champion_provider"]

log = logging.getLogger(__name__)


def champion_provider(platform: Settings) -> ModelProvider:
    """The MLflow registry's ``champion`` (hot-reloaded, fingerprint-checked), or no model.

    The registry is the one training registers in (``SMARTMARKET_MLFLOW_URI``, else SQLite
    under the app home); a registry that cannot be configured leaves the signals rule-only.
    """
    try:
        from orchestration.settings import registry_config
        from training.online import RegistryChampion

        source = RegistryChampion(registry_config(platform), platform.timeframes)
    except Exception as exc:  # never a URI in the log: it may hold a password
        log.warning("no model registry (%s): signals are rule-only", type(exc).__name__)
        return NoModel()
    return RegistryProvider(source, source.served_fingerprint)


wiring.HOLDER.configure(functools.partial(wiring.build_runtime, champion_provider))
