"""The model-health flag: written by the drift sensor, read by the engine's protections.

The drift sensor (``orchestration/sensors.py``) writes ``<app home>/monitoring/model_health.json``
(:data:`HEALTH_FILE`) from each drift snapshot; the dashboard shows it and a bar-by-bar run
(``LiveRunner(health=...)``) feeds it to the engine at every close as a risk multiplier
(:func:`risk_multiplier`): ``none`` trades at full size, ``derisk`` at :data:`DERISK` of it,
``pause`` refuses new entries ("paused: model health") while open trades keep their stops and
targets. A backtest runs with the multiplier 1 (history has no flag).

Pure: the standard library only, so that serving reads it without importing the dashboards.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HEALTH_FILE = "model_health.json"
STATUSES = ("ok", "degraded")
ACTIONS = ("none", "derisk", "pause")
DERISK = 0.5
"""Risk multiplier of a ``derisk`` flag."""


@dataclass(frozen=True)
class ModelHealth:
    """The model-health flag: ``<app home>/monitoring/model_health.json`` (docs/dashboard.md).

    Attributes:
        status: ``ok`` or ``degraded`` (the share of drifted inputs reached the threshold).
        action: What the engine's protections should do: ``none``, ``derisk`` or ``pause``.
        reason: One line saying why, shown on the dashboard and with the engine's refusals.
        share: Share of drifted inputs of the snapshot.
        threshold: The sensor's threshold.
        partition: The day of the drift snapshot (``YYYY-MM-DD``).
        as_of: When the flag was written (ISO 8601 UTC).
        drifted: The most drifted inputs (at most ten).
    """

    status: str
    action: str
    reason: str
    share: float
    threshold: float
    partition: str
    as_of: str
    drifted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"ModelHealth.status must be one of {STATUSES}, got {self.status!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"ModelHealth.action must be one of {ACTIONS}, got {self.action!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the flag as JSON-ready values."""
        return {**asdict(self), "drifted": list(self.drifted)}


def write_model_health(health: ModelHealth, path: Path) -> Path:
    """Write the flag atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(health.to_dict(), indent=2) + "\n")
    tmp.replace(path)
    return path


def read_model_health(path: Path) -> ModelHealth | None:
    """Read the flag; ``None`` when it was never written.

    Raises:
        ValueError: The file is not a flag written by :func:`write_model_health`.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return ModelHealth(**{**data, "drifted": tuple(data.get("drifted", ()))})
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a model-health flag: {exc}") from None


def risk_multiplier(health: ModelHealth | None) -> tuple[float, str]:
    """Return the engine's risk multiplier of a flag and the reason (no flag: 1, healthy)."""
    if health is None or health.action == "none":
        return 1.0, ""
    multiplier = DERISK if health.action == "derisk" else 0.0
    return multiplier, f"model health {health.action}: {health.reason}"


class HealthFile:
    """A provider of the current flag for ``LiveRunner(health=...)``: re-read on change.

    Each call costs one ``stat``; the file is parsed again only when its modification time or
    size changed. An unreadable flag pauses new entries (fail safe) with the error as reason;
    a missing one means healthy (the sensor has not written it yet).
    """

    def __init__(self, path: Path) -> None:
        """Watch ``path`` (normally ``<app home>/monitoring/model_health.json``)."""
        self.path = Path(path)
        self._key: tuple[int, int] | None = None
        self._health: ModelHealth | None = None

    def __call__(self) -> ModelHealth | None:
        """Return the flag as the file holds it now."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._key, self._health = None, None
            return None
        key = (st.st_mtime_ns, st.st_size)
        if key != self._key:
            try:
                self._health = read_model_health(self.path)
            except (ValueError, OSError) as exc:
                self._health = ModelHealth(
                    status="degraded", action="pause", reason=str(exc), share=float("nan"),
                    threshold=float("nan"), partition="", as_of="",
                )  # fmt: skip
            self._key = key
        return self._health
