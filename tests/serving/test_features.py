"""The strategy's features: batch equals stream, the HTF is seen only after its close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import OHLCV, CandleDataError
from serving.backtest.main import synthetic_candles
from serving.engine.features import FeatureSpec, FeatureStream, batch_features
from serving.signals import SMCConfluence


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return synthetic_candles("BTC/USDT", "5m", "2024-02-01", 7, seed=5)


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return FeatureSpec.build("5m", SMCConfluence().inputs())


def test_feature_stream_gives_the_batch_matrix_bar_for_bar(
    candles: pd.DataFrame, spec: FeatureSpec
) -> None:
    # Arrange
    batch = batch_features(candles, spec).matrix
    stream = FeatureStream(spec)
    values = candles[list(OHLCV)].to_numpy()
    # Act
    rows = np.vstack(
        [stream.update(int(t), v) for t, v in zip(candles.index.asi8, values, strict=True)]
    )
    # Assert
    assert np.isfinite(batch[-1]).sum() > 30  # the inputs are defined after the warm-up
    assert np.array_equal(rows, batch, equal_nan=True)


def test_higher_timeframe_values_change_only_when_an_hour_candle_closes(
    candles: pd.DataFrame, spec: FeatureSpec
) -> None:
    # Arrange
    matrix = batch_features(candles, spec).matrix
    htf = matrix[:, len(spec.inputs.columns) :]
    # Act
    changed = (
        np.flatnonzero(
            np.any(~((htf[1:] == htf[:-1]) | np.isnan(htf[1:]) & np.isnan(htf[:-1])), axis=1)
        )
        + 1
    )
    closes = candles.index[changed] + pd.Timedelta("5min")
    # Assert
    assert len(changed) > 50
    assert all(t.minute == 0 for t in closes)


def test_the_hour_candle_in_progress_is_never_visible(
    candles: pd.DataFrame, spec: FeatureSpec
) -> None:
    # Arrange: cut at 10:25, inside the 10:00 hour
    full = batch_features(candles, spec).matrix
    cut = candles.loc[:"2024-02-05 10:25"]
    # Act
    partial = batch_features(cut, spec).matrix
    # Assert
    assert np.array_equal(partial[-1], full[len(cut) - 1], equal_nan=True)


def test_too_few_candles_for_the_warm_up_is_a_clear_error(
    candles: pd.DataFrame, spec: FeatureSpec
) -> None:
    with pytest.raises(
        CandleDataError, match=r"too short for the warm-up: 500 bars of 5m.*needs 1\d{3} bars"
    ):
        spec.check_length(500)


def test_higher_timeframe_must_be_a_multiple_of_the_candles() -> None:
    from serving.signals import SMCConfluenceConfig

    strategy = SMCConfluence(SMCConfluenceConfig(htf_timeframe="7m"))
    with pytest.raises(CandleDataError, match="whole multiple"):
        FeatureSpec.build("5m", strategy.inputs())
