"""MTFConfig: frozen, validated, with documented weights and lookbacks."""

from __future__ import annotations

import dataclasses

import pytest

from features.mtf import BiasWeights, ConfluenceWeights, MTFConfig


def test_default_confluence_weights_are_the_documented_ones() -> None:
    # Act
    weights = MTFConfig().weights

    # Assert
    assert (weights.htf_bias, weights.smc, weights.technical, weights.session) == (
        0.40,
        0.30,
        0.20,
        0.10,
    )


def test_config_is_frozen() -> None:
    # Arrange
    config = MTFConfig()

    # Act / Assert
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.trend_window = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"htf_bias": 0.5}, "weights must sum to 1, got 1.1"),
        ({"htf_bias": 0.3}, "weights must sum to 1, got 0.9"),
        ({"htf_bias": 0.8, "smc": -0.1}, "ConfluenceWeights.smc must be finite and >= 0"),
        ({"session": float("nan")}, "ConfluenceWeights.session must be finite"),
        ({"technical": True}, "ConfluenceWeights.technical must be a number"),
    ],
)
def test_confluence_weights_must_be_non_negative_and_sum_to_one(
    kwargs: dict[str, float], message: str
) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=message):
        ConfluenceWeights(**kwargs)


def test_custom_weights_summing_to_one_are_accepted() -> None:
    # Act
    weights = ConfluenceWeights(htf_bias=0.1, smc=0.2, technical=0.3, session=0.4)

    # Assert
    assert MTFConfig(weights=weights).weights.session == 0.4


def test_bias_weights_must_sum_to_one() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="BiasWeights weights must sum to 1"):
        BiasWeights(structure=0.9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": (0.4, 0.3, 0.2, 0.1)}, "MTFConfig.weights must be a ConfluenceWeights"),
        ({"bias": None}, "MTFConfig.bias must be a BiasWeights"),
        ({"trend_window": 1}, "MTFConfig.trend_window must be an int in 2..10000"),
        ({"rsi_window": 2.5}, "MTFConfig.rsi_window must be an int"),
        ({"vol_short": 100, "vol_long": 50}, "vol_short < vol_long"),
        ({"bias_neutral_band": 1.5}, r"MTFConfig.bias_neutral_band must be a number in \[0.0"),
        ({"equilibrium_band": 0.6}, "MTFConfig.equilibrium_band"),
        ({"high_vol_ratio": float("inf")}, "MTFConfig.high_vol_ratio"),
    ],
)
def test_bad_field_raises_an_error_naming_it(kwargs: dict[str, object], message: str) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=message):
        MTFConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tf", "trading_tf", "expected"),
    [
        ("5m", "5m", 97),  # vol_long + 1 changes of true range
        ("1h", "5m", 20),  # trend_window closes of the higher timeframe
        ("1d", "15m", 20),
        ("5m", None, 97),
    ],
)
def test_lookback_bars_depends_on_the_timeframe_role(
    tf: str, trading_tf: str | None, expected: int
) -> None:
    # Act / Assert
    assert MTFConfig().lookback_bars(tf, trading_tf) == expected


def test_lookback_follows_the_longest_window() -> None:
    # Arrange
    config = MTFConfig(tech_window=300, trend_window=40)

    # Act / Assert
    assert config.lookback_bars("5m", "5m") == 300
    assert config.lookback_bars("4h", "5m") == 40
