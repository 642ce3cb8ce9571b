"""Context: ADX regime, volatility percentile and the rolling volume profile."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from features.candles.schema import CandleDataError
from features.smc import context
from features.smc.atr import atr_series
from features.smc.context import ContextConfig
from tests.features.smc.module_contract import (
    BAD_INPUTS,
    assert_prefix_invariant,
    candle_frames,
    candles_from,
    random_candles,
    stream_rows,
)

SMALL = ContextConfig(vol_window=50, vol_min_periods=10, vp_window=30)


def _frame(out: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(out, columns=list(context.COLUMNS))


def _adx_reference(h: np.ndarray, low: np.ndarray, c: np.ndarray, p: int) -> tuple[np.ndarray, ...]:
    """Wilder's ADX written out plainly: smoothed sums seeded by plain sums."""
    n = len(h)
    plus, minus, adx = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    tr_s = pdm_s = mdm_s = 0.0
    dxs: list[float] = []
    for k in range(1, n):
        tr = max(h[k] - low[k], abs(h[k] - c[k - 1]), abs(low[k] - c[k - 1]))
        up, down = h[k] - h[k - 1], low[k - 1] - low[k]
        pdm = up if up > down and up > 0 else 0.0
        mdm = down if down > up and down > 0 else 0.0
        if k <= p:
            tr_s, pdm_s, mdm_s = tr_s + tr, pdm_s + pdm, mdm_s + mdm
        else:
            tr_s = tr_s - tr_s / p + tr
            pdm_s = pdm_s - pdm_s / p + pdm
            mdm_s = mdm_s - mdm_s / p + mdm
        if k >= p:
            plus[k], minus[k] = 100 * pdm_s / tr_s, 100 * mdm_s / tr_s
            dxs.append(100 * abs(plus[k] - minus[k]) / (plus[k] + minus[k]))
            if len(dxs) == p:
                adx[k] = sum(dxs) / p
            elif len(dxs) > p:
                adx[k] = (adx[k - 1] * (p - 1) + dxs[-1]) / p
    return plus, minus, adx


def test_adx_matches_wilders_definition() -> None:
    # Arrange
    candles = random_candles(600, seed=21)
    h, low, c = (candles[k].to_numpy() for k in ("high", "low", "close"))

    # Act
    result = context.compute(candles)

    # Assert
    plus, minus, adx = _adx_reference(h, low, c, 14)
    np.testing.assert_allclose(result["ctx_plus_di"], plus, rtol=1e-9)
    np.testing.assert_allclose(result["ctx_minus_di"], minus, rtol=1e-9)
    np.testing.assert_allclose(result["ctx_adx"], adx, rtol=1e-9)
    assert result["ctx_plus_di"].first_valid_index() == candles.index[14]
    assert result["ctx_adx"].first_valid_index() == candles.index[27]


def test_a_steady_rise_is_a_trending_up_regime() -> None:
    # Arrange: each bar one higher; true range 1.5, +DM 1, -DM 0.
    candles = candles_from([(9.5 + k, 10 + k, 9 + k, 9.5 + k) for k in range(40)])

    # Act
    result = context.compute(candles)

    # Assert
    last = result.iloc[-1]
    assert last["ctx_plus_di"] == pytest.approx(200 / 3, rel=1e-12)
    assert (last["ctx_minus_di"], last["ctx_adx"]) == (0.0, 100.0)
    assert (last["ctx_regime"], last["ctx_trend_dir"]) == (1.0, 1.0)
    assert result["ctx_regime"].iloc[:27].isna().all()


def test_regime_has_hysteresis_between_the_two_thresholds() -> None:
    # Arrange: a trend, then a long chop that lets ADX decay through 25 and 20.
    trend = [(9.5 + k, 10 + k, 9 + k, 9.5 + k) for k in range(40)]
    chop = [(49.0 + k % 2, 50.0 + k % 2, 48.0 + k % 2, 49.0 + k % 2) for k in range(120)]
    result = context.compute(candles_from(trend + chop))

    # Act: the expected regime, from the ADX column and the rule.
    adx = result["ctx_adx"].to_numpy()
    expected = np.full(len(adx), np.nan)
    for k in range(len(adx)):
        if np.isnan(adx[k]):
            continue
        before = expected[k - 1]
        if np.isnan(before):
            expected[k] = float(adx[k] >= 25)
        elif before == 0 and adx[k] >= 25:
            expected[k] = 1.0
        elif before == 1 and adx[k] < 20:
            expected[k] = 0.0
        else:
            expected[k] = before

    # Assert
    np.testing.assert_array_equal(result["ctx_regime"], expected)
    between = (adx >= 20) & (adx < 25)
    assert (expected[between] == 1).any()  # still trending while ADX is between the bands
    assert expected[-1] == 0.0


def test_volatility_percentile_is_the_mid_rank_in_the_window() -> None:
    # Arrange: close 1, so the normalised ATR is the ATR itself.
    atr = np.array([0.01, 0.02, 0.03, 0.015, 0.005, 0.02, 0.02])
    candles = candles_from([(1.0, 1.0, 1.0, 1.0)] * len(atr))
    cfg = ContextConfig(vol_window=4, vol_min_periods=2)

    # Act
    result = _frame(stream_rows(context, cfg, candles, atr=atr))

    # Assert: windows {.01,.02}, {.01,.02,.03}, {.01,.02,.03,.015}, {.02,.03,.015,.005}, ...
    expected = [np.nan, 1.0, 1.0, 1 / 3, 0.0, 2 / 3, (2 + 0.5) / 3]
    np.testing.assert_array_equal(result["ctx_vol_pct"], expected)
    np.testing.assert_array_equal(result["ctx_natr"], 100 * atr)


def _center(k: int, width: float) -> float:
    return math.exp((k + 0.5) * width)


def test_volume_profile_poc_and_value_area_by_hand() -> None:
    # Arrange: three zero-range candles in bins k, k+1, k-1 with volumes 6, 3, 1.
    width = math.log1p(10 / 1e4)
    k = math.floor(math.log(100.0) / width)
    prices = [_center(k, width), _center(k + 1, width), _center(k - 1, width)]
    rows = [(p, p, p, p, v) for p, v in zip(prices, (6.0, 3.0, 1.0), strict=True)]
    cfg = ContextConfig(vp_window=3)

    # Act
    result = _frame(stream_rows(context, cfg, candles_from(rows), atr=np.full(3, 0.5)))

    # Assert: 6 < 70% of 10, the fuller neighbour is above (3): value area = bins k..k+1.
    assert result[["ctx_vp_poc", "ctx_vp_vah", "ctx_vp_val"]].iloc[:2].isna().all().all()
    last = result.iloc[-1]
    assert last["ctx_vp_poc"] == pytest.approx(prices[0], rel=1e-15)
    assert last["ctx_vp_vah"] == pytest.approx(math.exp((k + 2) * width), rel=1e-15)
    assert last["ctx_vp_val"] == pytest.approx(math.exp(k * width), rel=1e-15)
    assert last["ctx_vp_pos"] == -1.0  # the close is in bin k-1, below the value area
    assert last["ctx_vp_poc_dist"] == pytest.approx((prices[2] - prices[0]) / 0.5, rel=1e-12)


def _profile_reference(candles: pd.DataFrame, window: int, width: float, area: float) -> np.ndarray:
    """POC, VAH, VAL of every full window, recomputed from scratch."""
    kh = np.floor(np.log(candles["high"].to_numpy()) / width).astype(int)
    kl = np.floor(np.log(candles["low"].to_numpy()) / width).astype(int)
    vol = candles["volume"].to_numpy()
    out = np.full((len(candles), 3), np.nan)
    for t in range(window - 1, len(candles)):
        lo, hi = kl[t - window + 1 : t + 1].min(), kh[t - window + 1 : t + 1].max()
        bins = np.zeros(hi - lo + 1)
        for j in range(t - window + 1, t + 1):
            bins[kl[j] - lo : kh[j] - lo + 1] += vol[j] / (kh[j] - kl[j] + 1)
        poc = int(np.argmax(bins))
        acc, up, dn = bins[poc], poc + 1, poc - 1
        while acc < area * bins.sum() and (up < len(bins) or dn >= 0):
            vu = bins[up] if up < len(bins) else -1.0
            vd = bins[dn] if dn >= 0 else -1.0
            if vu >= vd:
                acc, up = acc + vu, up + 1
            else:
                acc, dn = acc + vd, dn - 1
        out[t] = [
            math.exp((lo + poc + 0.5) * width),
            math.exp((lo + up) * width),
            math.exp((lo + dn + 1) * width),
        ]
    return out


def test_rolling_volume_profile_matches_a_from_scratch_recomputation() -> None:
    # Arrange: volumes in multiples of 2520 keep every per-bin share exact (bars span <= 10 bins).
    candles = random_candles(800, seed=4, vol=0.001)
    candles["volume"] = np.random.default_rng(4).integers(1, 50, len(candles)) * 2520.0
    cfg = ContextConfig(vp_window=40)
    width = math.log1p(cfg.vp_bin_bps / 1e4)

    # Act
    result = context.compute(candles, cfg)

    # Assert
    expected = _profile_reference(candles, 40, width, cfg.vp_value_area)
    got = result[["ctx_vp_poc", "ctx_vp_vah", "ctx_vp_val"]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_profile_restarts_when_the_window_outgrows_the_grid() -> None:
    # Arrange: 16 bins of 10 bps cover ~1.6%; a 5% jump cannot share a window with the past.
    rows = [(100.0, 100.1, 99.9, 100.0, 5.0)] * 6 + [(105.0, 105.1, 104.9, 105.0, 5.0)] * 6
    cfg = ContextConfig(vp_window=3, vp_max_bins=16)

    # Act
    result = context.compute(candles_from(rows), cfg)

    # Assert
    poc = result["ctx_vp_poc"].to_numpy()
    assert np.isnan(poc[:2]).all()
    assert np.isfinite(poc[2:6]).all()
    assert np.isnan(poc[6:8]).all()  # restarted at the jump: the window refills
    assert np.isfinite(poc[8:]).all()
    assert 104.9 <= poc[-1] <= 105.1


def test_no_volume_means_no_profile() -> None:
    candles = random_candles(100, seed=8)
    candles["volume"] = 0.0
    result = context.compute(candles, ContextConfig(vp_window=10))
    assert result["ctx_vp_poc"].isna().all()
    assert result["ctx_adx"].notna().any()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"adx_period": 0}, "adx_period"),
        ({"adx_trend": 20.0, "adx_range": 25.0}, "adx_range/adx_trend"),
        ({"vol_window": 10, "vol_min_periods": 11}, "vol_min_periods"),
        ({"vp_bin_bps": 0.0}, "vp_bin_bps"),
        ({"vp_value_area": 1.0}, "vp_value_area"),
        ({"vp_max_bins": 1000}, "vp_max_bins"),
    ],
)
def test_bad_config_is_refused_naming_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=rf"ContextConfig\.{field}"):
        ContextConfig(**kwargs)  # type: ignore[arg-type]


def test_stream_equals_batch_with_snapshot_restore() -> None:
    # Arrange
    candles = random_candles(1_500, seed=17)
    h, low, c = (candles[k].to_numpy() for k in ("high", "low", "close"))
    batch = context.compute(candles, SMALL).to_numpy()

    # Act
    streamed = stream_rows(context, SMALL, candles, atr=atr_series(h, low, c, 14), snapshot_at=700)

    # Assert
    assert np.isfinite(batch[-1]).all()
    np.testing.assert_array_equal(streamed, batch)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candles=candle_frames())
def test_prefix_invariance_on_random_candles(candles: pd.DataFrame) -> None:
    n = len(candles)
    assert_prefix_invariant(context.compute, candles, SMALL, [1, 2, 29, 30, n // 2, n - 1])


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_a_clear_error(case: str) -> None:
    candles, message = BAD_INPUTS[case]
    with pytest.raises(CandleDataError, match=message):
        context.compute(candles)
