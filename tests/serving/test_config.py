"""Config files map to frozen configs; unknown fields and bad values are errors naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.backtest.config_file import load_config
from serving.engine.config import BacktestConfig
from serving.engine.validation import ConfigError


def test_nested_mapping_builds_every_frozen_config() -> None:
    # Act
    cfg = BacktestConfig.from_mapping(
        {
            "initial_cash": 5000,
            "strategy": {"min_score": 5, "regimes": ["trending"], "weights": {"sweep": 2.0}},
            "risk": {"risk_per_trade": 0.005, "take_profit_r": [1.5, 2.5]},
            "protections": {"daily_loss_limit": None},
            "execution": {"intrabar": "replay"},
            "evaluation": {"random_seeds": 10, "grid": {"strategy.min_score": [4, 5]}},
        }
    )
    # Assert
    assert cfg.initial_cash == 5000
    assert cfg.strategy.regimes == ("trending",)
    assert cfg.strategy.weights.sweep == 2.0
    assert cfg.risk.take_profit_r == (1.5, 2.5)
    assert cfg.protections.daily_loss_limit is None
    assert cfg.evaluation.grid == {"strategy.min_score": (4, 5)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"risk": {"risk_per_trad": 0.01}}, "unknown config field 'config.risk.risk_per_trad'"),
        ({"stratgy": {}}, "unknown config field 'config.stratgy'"),
        (
            {"strategy": {"weights": {"volume": 1}}},
            "unknown config field 'config.strategy.weights.volume'",
        ),
        (
            {"risk": {"risk_per_trade": -0.01}},
            r"config.risk: RiskConfig.risk_per_trade must be in \(0, 0.02\]",
        ),
        ({"risk": {"risk_per_trade": "1%"}}, "risk_per_trade must be a number"),
        ({"risk": []}, "config.risk must be a mapping"),
        ({"execution": {"market": "spot"}}, "must be 'long' on a spot market"),
        ({"evaluation": {"train": "forever"}}, "EvaluationConfig.train must be a duration"),
    ],
)
def test_bad_config_is_an_error_naming_the_field(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BacktestConfig.from_mapping(data)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_files_in_yaml_or_json_are_read(tmp_path: Path, suffix: str) -> None:
    # Arrange
    path = tmp_path / f"cfg{suffix}"
    data = {"risk": {"max_positions": 2}, "evaluation": {"walk_forward": True}}
    path.write_text(
        json.dumps(data)
        if suffix == ".json"
        else "risk:\n  max_positions: 2\nevaluation:\n  walk_forward: true\n"
    )
    # Act
    cfg = load_config(path)
    # Assert
    assert cfg.risk.max_positions == 2
    assert cfg.evaluation.walk_forward is True


def test_unknown_field_in_a_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("risk:\n  max_positionz: 2\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml: unknown config field 'config.risk.max_positionz'"
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"), [("risk: [unclosed", "not valid YAML/JSON"), (None, "not found")]
)
def test_unreadable_config_files_are_clear_errors(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "c.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_grid_paths_replace_nested_fields_and_reject_unknown_ones() -> None:
    # Arrange
    cfg = BacktestConfig()
    # Act
    changed = cfg.replace("risk.min_reward_risk", 3.0)
    # Assert
    assert changed.risk.min_reward_risk == 3.0
    assert cfg.risk.min_reward_risk == 2.0
    with pytest.raises(ConfigError, match=r"unknown config field 'risk\.min_rr'"):
        cfg.replace("risk.min_rr", 3.0)


def test_grid_yields_every_combination() -> None:
    cfg = BacktestConfig.from_mapping(
        {"evaluation": {"grid": {"strategy.min_score": [3, 4], "risk.min_reward_risk": [2, 3, 4]}}}
    )
    combos = [values for values, _ in cfg.grid()]
    assert len(combos) == 6
    assert {"strategy.min_score": 4, "risk.min_reward_risk": 3} in combos
