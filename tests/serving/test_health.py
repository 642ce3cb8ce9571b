"""The model-health flag: its file, its risk multiplier and the provider a live runner reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving.health import (
    DERISK,
    HEALTH_FILE,
    HealthFile,
    ModelHealth,
    read_model_health,
    risk_multiplier,
    write_model_health,
)


def _flag(action: str = "derisk", reason: str = "40% of 30 model inputs drifted") -> ModelHealth:
    status = "ok" if action == "none" else "degraded"
    return ModelHealth(status, action, reason, 0.4, 0.3, "2024-01-10", "2024-01-11T00:00:00+00:00")


@pytest.mark.parametrize(
    ("action", "multiplier"), [("none", 1.0), ("derisk", DERISK), ("pause", 0.0)]
)
def test_each_action_maps_to_a_risk_multiplier_with_its_reason(
    action: str, multiplier: float
) -> None:
    # Act
    value, reason = risk_multiplier(_flag(action))
    # Assert
    assert value == multiplier
    assert reason == ("" if action == "none" else f"model health {action}: 40% of 30 model "
                      "inputs drifted")  # fmt: skip


def test_no_flag_means_healthy() -> None:
    assert risk_multiplier(None) == (1.0, "")


def test_the_provider_rereads_the_file_only_when_it_changes(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "monitoring" / HEALTH_FILE
    provider = HealthFile(path)
    # Act / Assert: absent = healthy; written = read; rewritten = read again
    assert provider() is None
    write_model_health(_flag("derisk"), path)
    assert provider() == _flag("derisk")
    write_model_health(_flag("pause", reason="x" * 40), path)
    os.utime(path, ns=(1, 1))  # a new modification time even on a coarse clock
    assert provider() == _flag("pause", reason="x" * 40)
    assert read_model_health(path) == _flag("pause", reason="x" * 40)


def test_an_unreadable_flag_pauses_new_entries_and_says_why(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / HEALTH_FILE
    path.write_text('{"status": "ok", "action": "sell everything"}')
    # Act
    multiplier, reason = risk_multiplier(HealthFile(path)())
    # Assert
    assert multiplier == 0.0
    assert "is not a model-health flag" in reason


def test_a_flag_with_an_unknown_action_is_an_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"ModelHealth\.action must be one of"):
        _flag("sell")
