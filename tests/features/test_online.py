"""Model inputs one closed bar at a time: bit-identical to the batch frame, prefix-invariant."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.layout import EVENT_TIMESTAMP, utc_ns
from features.model_inputs import model_input_frame, model_input_names
from features.online import ModelInputStream
from features.schema import to_float64
from orchestration.settings import Settings
from serving.backtest.main import synthetic_candles

SETTINGS = Settings()
TIMEFRAMES = tuple(SETTINGS.timeframes)
TRADING = Timeframe.parse(SETTINGS.trading_timeframe)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return synthetic_candles("BTC/USDT", TRADING.label, "2024-03-01", 5, seed=5)


def _stream(frame: pd.DataFrame, stream: ModelInputStream) -> np.ndarray:
    values = frame[list(OHLCV)].to_numpy()
    return np.vstack(
        [stream.update(int(t), v) for t, v in zip(utc_ns(frame.index), values, strict=True)]
    )


def _batch(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    return to_float64(model_input_frame(frame, TRADING, TIMEFRAMES), list(columns))


def test_the_default_timeframes_have_higher_ones_to_read() -> None:
    assert TRADING.label == "5m"
    assert len(TIMEFRAMES) >= 3


def test_stream_rows_equal_the_batch_frame_bit_for_bit(candles: pd.DataFrame) -> None:
    # Arrange
    stream = ModelInputStream(TRADING, TIMEFRAMES)
    expected = _batch(candles, stream.columns)
    # Act
    streamed = _stream(candles, stream)
    # Assert
    assert stream.columns == model_input_names(TRADING, TIMEFRAMES)
    assert stream.bars_seen == len(candles)
    assert streamed.shape == expected.shape
    assert np.array_equal(streamed.view(np.int64), expected.view(np.int64))  # NaN payloads too
    last = dict(zip(stream.columns, streamed[-1], strict=True))
    assert np.isfinite(last["mtf_5m__h1_bias"])
    assert np.isfinite(last["mtf_5m__mtf_confluence"])
    assert np.isnan(streamed[0]).any()  # the warm-up is NaN, as in the batch frame


def test_a_prefix_gives_the_same_rows_as_the_whole(candles: pd.DataFrame) -> None:
    # Arrange: cut in the middle of an hour and of a day
    cut = 3 * 288 + 100
    names = model_input_names(TRADING, TIMEFRAMES)
    # Act
    whole = _batch(candles, names)
    prefix = _batch(candles.iloc[:cut], names)
    streamed = _stream(candles.iloc[:cut], ModelInputStream(TRADING, TIMEFRAMES))
    # Assert
    assert np.array_equal(prefix, whole[:cut], equal_nan=True)
    assert np.array_equal(streamed, whole[:cut], equal_nan=True)


def test_missing_bars_give_the_batch_rows_too(candles: pd.DataFrame) -> None:
    # Arrange: drop the last bar of an hour and a run of bars in the next day
    frame = candles.iloc[:600]
    gapped = frame.drop(frame.index[[299, 400, 401, 402]])
    columns = ("mtf_5m__h1_bias", "mtf_5m__h1_pd_pos", "smc_5m__smc_warm", "mtf_5m__mtf_rsi")
    # Act
    streamed = _stream(gapped, ModelInputStream(TRADING, TIMEFRAMES, columns=columns))
    # Assert
    assert np.array_equal(streamed, _batch(gapped, columns), equal_nan=True)


def test_columns_come_in_the_order_asked_and_unknown_ones_are_named() -> None:
    # Arrange
    columns = ("mtf_5m__mtf_confluence", "smc_5m__smc_warm")
    # Act
    stream = ModelInputStream(TRADING, TIMEFRAMES, columns=columns)
    # Assert
    assert stream.columns == columns
    with pytest.raises(KeyError, match="smc_5m__close"):
        ModelInputStream(TRADING, TIMEFRAMES, columns=("smc_5m__close",))


def test_a_bar_out_of_order_is_refused_and_leaves_the_stream_unchanged(
    candles: pd.DataFrame,
) -> None:
    # Arrange
    stream = ModelInputStream(TRADING, TIMEFRAMES, columns=("smc_5m__smc_warm",))
    values = candles[list(OHLCV)].to_numpy()
    stream.update(int(utc_ns(candles.index)[1]), values[1])
    # Act / Assert
    with pytest.raises(CandleDataError, match="not after the last bar"):
        stream.update(int(utc_ns(candles.index)[0]), values[0])
    assert stream.bars_seen == 1


def test_a_short_history_without_higher_candles_is_nan_in_both(candles: pd.DataFrame) -> None:
    # Arrange: 50 bars, so no 4h or 1d candle has closed
    short = candles.iloc[:50]
    names = model_input_names(TRADING, TIMEFRAMES)
    # Act
    frame = model_input_frame(short, TRADING, TIMEFRAMES)
    streamed = _stream(short, ModelInputStream(TRADING, TIMEFRAMES))
    # Assert
    assert list(frame.columns) == [EVENT_TIMESTAMP, *names]
    assert frame[EVENT_TIMESTAMP].iloc[0] == candles.index[0] + TRADING.delta
    assert frame["mtf_5m__d1_bias"].isna().all()
    assert np.array_equal(streamed, to_float64(frame, list(names)), equal_nan=True)
