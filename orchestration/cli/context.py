"""Settings as the commands see them: environment and ``.env``, then explicit options."""

from __future__ import annotations

from typing import Any

from orchestration.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Return the settings with every option given on the command line (not None) applied."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
