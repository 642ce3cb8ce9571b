"""Read a backtest config file (YAML or JSON) into a ``BacktestConfig``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serving.engine.config import BacktestConfig
from serving.engine.validation import ConfigError


def load_config(path: str | Path | None) -> BacktestConfig:
    """Return the config in ``path`` (``.yaml``, ``.yml`` or ``.json``), or the defaults.

    Raises:
        ConfigError: The file is missing, does not parse, or holds an unknown field or a bad
            value (the message names the field).
    """
    if path is None:
        return BacktestConfig()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    text = file.read_text()
    data: Any
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"{file}: not valid YAML/JSON: {exc}") from None
    except Exception as exc:  # yaml.YAMLError has no common base with ValueError
        raise ConfigError(f"{file}: not valid YAML/JSON: {exc}") from None
    try:
        return BacktestConfig.from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
