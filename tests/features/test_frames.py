"""The one feature computation: batch equals the full engines and the bar-by-bar stream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.candles.resample import resample_candles
from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.frames import FeatureRows, FrameSpec, bar_values, feature_frame, htf_values
from features.mtf import MTFConfig, compute_mtf, htf_asof_join
from features.schema import to_float64
from features.smc import SMCConfig, columns, compute_smc
from serving.backtest.main import synthetic_candles

M5, H1 = Timeframe.parse("5m"), Timeframe.parse("1h")
SMC = ("close", "smc_warm", "ctx_atr", "struct_int_trend", "ob_bull_dist", "liq_pdh", "pd_zone")
HTF = ("smc_warm", "bias", "bias_strength", "pd_zone")


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return synthetic_candles("BTC/USDT", "5m", "2024-02-01", 5, seed=11)


@pytest.fixture(scope="module")
def spec() -> FrameSpec:
    return FrameSpec(trading=M5, bar_columns=SMC, htf=H1, htf_columns=HTF)


def test_batch_columns_equal_compute_smc_and_compute_mtf(
    candles: pd.DataFrame, spec: FrameSpec
) -> None:
    # Arrange
    hours = resample_candles(candles, H1, base=M5)
    smc = compute_smc(candles, SMCConfig.for_timeframe(M5))
    smc_h1 = compute_smc(hours, SMCConfig.for_timeframe(H1))
    mtf = compute_mtf({"5m": candles.join(smc), "1h": hours.join(smc_h1)}, "5m", MTFConfig())
    joined = htf_asof_join(candles, smc_h1, H1, "h1_", M5)
    # Act: small chunks, so that several SMCStream calls make the frame
    frame = feature_frame(candles, spec)
    chunked = bar_values(candles, spec.smc, SMC, chunk_bars=97)
    # Assert
    assert list(frame.columns) == [*SMC, "h1_smc_warm", "h1_bias", "h1_bias_strength", "h1_pd_zone"]
    expected = to_float64(candles[["close"]].join(smc), SMC)  # compact columns read exactly
    assert np.array_equal(frame[list(SMC)].to_numpy(), expected, equal_nan=True)
    assert np.array_equal(chunked, expected, equal_nan=True)
    for name in ("h1_bias", "h1_bias_strength"):  # the MTF view's columns
        assert np.array_equal(frame[name], mtf[name], equal_nan=True), name
        assert np.isfinite(frame[name].iloc[-1])
    for name in ("h1_smc_warm", "h1_pd_zone"):  # the HTF's SMC view as of the bar's close
        assert np.array_equal(frame[name], joined[name], equal_nan=True), name
    assert frame["h1_smc_warm"].iloc[-1] == 1.0


def test_stream_rows_equal_the_batch_frame(candles: pd.DataFrame, spec: FrameSpec) -> None:
    # Arrange
    batch = feature_frame(candles, spec).to_numpy()
    rows = FeatureRows(spec)
    values = candles[list(OHLCV)].to_numpy()
    # Act
    streamed = np.vstack(
        [rows.update(int(t), v) for t, v in zip(candles.index.asi8, values, strict=True)]
    )
    # Assert
    assert rows.bars_seen == len(candles)
    assert np.array_equal(streamed, batch, equal_nan=True)


def test_htf_bias_of_a_row_needs_only_its_lookback(candles: pd.DataFrame, spec: FrameSpec) -> None:
    hours = resample_candles(candles, H1, base=M5)
    frame = hours.join(compute_smc(hours, spec.htf_smc))
    full = htf_values(frame, spec)
    tail = htf_values(frame.iloc[-spec.htf_lookback :], spec)
    assert np.array_equal(tail[-1], full[-1], equal_nan=True)


def test_unknown_columns_and_bad_timeframes_are_clear_errors() -> None:
    with pytest.raises(KeyError, match=r"\['nope'\] are not produced by the 5m candles or SMC"):
        FrameSpec(trading=M5, bar_columns=("nope",))
    with pytest.raises(KeyError, match="1h SMC engine or its bias"):
        FrameSpec(trading=M5, bar_columns=(), htf=H1, htf_columns=("mtf_confluence",))
    with pytest.raises(CandleDataError, match="whole multiple"):
        FrameSpec(trading=M5, bar_columns=(), htf=Timeframe.parse("7m"))
    assert set(SMC) - {"close"} <= set(columns(SMCConfig.for_timeframe(M5)))
