"""analyze_smc / analyze_multi_timeframe: JSON-ready, point-in-time, clear errors."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.candles.resample import resample_all
from features.candles.schema import CandleDataError
from features.mtf import MTFConfig, analyze_multi_timeframe, analyze_smc
from features.smc import SMCConfig, detect_zones
from tests.features.mtf.builders import market_candles, market_candles_by_tf

TYPES = ["order_blocks", "fair_value_gaps", "liquidity_levels", "market_structure"]
DIRECTIONS = {"bullish", "bearish", "neutral", None}


def _json(answer: dict[str, Any]) -> dict[str, Any]:
    """Return the answer after a strict JSON round trip (fails on NaN or odd types)."""
    loaded: dict[str, Any] = json.loads(json.dumps(answer, allow_nan=False))
    return loaded


@pytest.fixture(scope="module")
def candles() -> dict[str, pd.DataFrame]:
    return market_candles_by_tf()


@pytest.fixture(scope="module")
def smc_answer(candles: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return analyze_smc(candles, "BTC/USDT")


@pytest.fixture(scope="module")
def mtf_answer(candles: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return analyze_multi_timeframe(candles, "BTC/USDT", "5m", ["1h", "4h", "1d"])


def test_smc_analysis_is_json_ready_with_every_type_per_timeframe(
    smc_answer: dict[str, Any],
) -> None:
    # Act
    answer = _json(smc_answer)

    # Assert
    assert answer == smc_answer
    assert answer["symbol"] == "BTC/USDT"
    assert answer["as_of"] == "2024-03-12T00:00:00Z"
    assert list(answer["timeframes"]) == ["5m", "1h", "4h", "1d"]
    for part in answer["timeframes"].values():
        assert set(TYPES) <= set(part)
    score = answer["confluence_score"]
    assert score["timeframe"] == "5m"
    assert 0.0 <= score["score"] <= 1.0
    assert set(score["components"]) == {"htf_bias", "smc", "technical", "session"}


def test_order_blocks_are_live_zones_nearest_first(smc_answer: dict[str, Any]) -> None:
    # Arrange
    part = smc_answer["timeframes"]["1h"]

    # Act
    blocks = part["order_blocks"]

    # Assert
    assert 0 < len(blocks) <= 10
    distances = [abs(b["distance_atr"]) for b in blocks]
    assert distances == sorted(distances)
    for block in blocks:
        assert block["kind"] in {"order_block", "breaker"}
        assert block["top"] >= block["bottom"]
        assert block["formed_at"] < block["known_at"] <= part["as_of"]
        if block["kind"] == "order_block" and block["direction"] == "bullish":
            assert block["distance_atr"] >= 0.0  # a live support is never closed below
        assert block["state"] in {"untouched", "tested", "mitigated"}
        if block["kind"] == "order_block":
            assert 0.0 <= block["strength_at_formation"] <= 100.0


def test_fair_value_gaps_have_their_fill_share(smc_answer: dict[str, Any]) -> None:
    # Act
    gaps = [g for part in smc_answer["timeframes"].values() for g in part["fair_value_gaps"]]

    # Assert
    assert any(g["kind"] == "fvg" for g in gaps)
    for gap in gaps:
        assert gap["top"] >= gap["bottom"]
        if gap["kind"] == "fvg":
            assert 0.0 <= gap["fill"] < 1.0  # a gap filled to its far side is no longer live


def test_liquidity_and_structure_describe_the_last_candle(smc_answer: dict[str, Any]) -> None:
    # Arrange
    part = smc_answer["timeframes"]["5m"]

    # Act
    liquidity, structure = part["liquidity_levels"], part["market_structure"]

    # Assert
    pools = [
        pool
        for tf in smc_answer["timeframes"].values()
        for side in ("buy_side", "sell_side")
        for pool in tf["liquidity_levels"][side]
    ]
    assert len(pools) > 4
    assert all(p["equal_count"] >= 1 and p["known_at"] <= part["as_of"] for p in pools)
    assert liquidity["previous_day_high"] > liquidity["previous_day_low"]
    assert structure["trend"] in DIRECTIONS
    assert structure["last_break"]["type"] in {"bos", "choch"}
    assert structure["last_break"]["known_at"] <= part["as_of"]
    assert (
        structure["dealing_range"]["low"]
        <= part["last_close"]
        <= structure["dealing_range"]["high"]
    )
    assert structure["bias"]["bias"] in DIRECTIONS


def test_only_the_requested_analysis_types_are_answered(candles: dict[str, pd.DataFrame]) -> None:
    # Act
    answer = analyze_smc(candles, "ETH/USDT", ["market_structure"])

    # Assert
    assert answer["analysis_types"] == ["market_structure"]
    assert "confluence_score" not in answer
    assert set(answer["timeframes"]["4h"]) == {"as_of", "last_close", "atr", "market_structure"}


def test_multi_timeframe_analysis_is_json_ready(mtf_answer: dict[str, Any]) -> None:
    # Act
    answer = _json(mtf_answer)

    # Assert
    assert answer == mtf_answer
    assert answer["primary_timeframe"] == "5m"
    assert answer["analysis_timeframes"] == ["1h", "4h", "1d"]
    bias = answer["higher_timeframe_bias"]
    assert set(bias) == {"1h", "4h", "1d", "overall"}
    assert all(bias[tf]["bias"] in DIRECTIONS for tf in bias)
    assert answer["discount_zones"]
    assert answer["premium_zones"]
    assert 0.0 <= answer["confluence_score"]["score"] <= 1.0


def test_discount_zones_lie_below_premium_zones(mtf_answer: dict[str, Any]) -> None:
    # Arrange
    ranges = {
        (z["timeframe"], side): z
        for side in ("discount_zones", "premium_zones")
        for z in mtf_answer[side]
        if z["kind"] == "dealing_range"
    }

    # Assert
    for tf in ("1h", "4h", "1d"):
        if (tf, "discount_zones") in ranges:
            low, high = ranges[(tf, "discount_zones")], ranges[(tf, "premium_zones")]
            assert low["bottom"] <= low["top"] == high["bottom"] <= high["top"]
    assert all(z["direction"] == "bullish" for z in mtf_answer["discount_zones"])
    assert all(z["direction"] == "bearish" for z in mtf_answer["premium_zones"])


def test_entry_signal_follows_the_direction_when_confluence_clears_the_threshold(
    candles: dict[str, pd.DataFrame], mtf_answer: dict[str, Any]
) -> None:
    # Arrange
    permissive = MTFConfig(entry_threshold=0.0, bias_neutral_band=0.0)
    strict = MTFConfig(entry_threshold=1.0)

    # Act
    loose = analyze_multi_timeframe(candles, "BTC/USDT", "5m", config=permissive)
    none = analyze_multi_timeframe(candles, "BTC/USDT", "5m", config=strict)

    # Assert
    [signal] = loose["entry_signals"]
    overall = loose["higher_timeframe_bias"]["overall"]["bias"]
    assert signal["direction"] == {"bullish": "long", "bearish": "short"}[overall]
    assert signal["entry_price"] == loose["last_close"]
    assert f"higher_timeframe_{overall}" in signal["confluence_factors"]
    if signal["direction"] == "long":
        assert signal["invalidation_price"] < signal["entry_price"]
    else:
        assert signal["invalidation_price"] > signal["entry_price"]
    assert none["entry_signals"] == []


def test_higher_timeframe_candles_closing_after_the_primary_are_ignored() -> None:
    # Arrange: 5m candles up to 2024-03-05 10:25 close; 1h and 4h candles for 40 days.
    base = market_candles("2024-02-01", 40)
    cut = base.loc[:"2024-03-05 10:20"]
    full_htf = resample_all(base, "5m", ["1h", "4h"])
    known_htf = resample_all(cut, "5m", ["1h", "4h"])

    # Act
    with_future = analyze_multi_timeframe({"5m": cut, **full_htf}, "X", "5m")
    without = analyze_multi_timeframe({"5m": cut, **known_htf}, "X", "5m")

    # Assert
    assert with_future == without
    assert without["higher_timeframe_bias"]["1h"]["known_at"] == "2024-03-05T10:00:00Z"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: analyze_smc(c, "X", ["order_blocks", "elliott_waves"]),
         "unknown analysis type 'elliott_waves'"),
        (lambda c: analyze_multi_timeframe(c, "X", "15m"),
         r"primary timeframe '15m' is not in candles_by_tf"),
        (lambda c: analyze_multi_timeframe(c, "X", "5m", ["1h", "2h"]),
         r"analysis timeframe '2h' is not in candles_by_tf"),
        (lambda c: analyze_multi_timeframe(c, "X", "1h", ["5m"]),
         r"analysis timeframe '5m' must be above the primary timeframe '1h'"),
        (lambda c: analyze_multi_timeframe(c, "X", "5x"), "unknown timeframe '5x'"),
        (lambda c: analyze_smc({}, "X"), "non-empty mapping"),
    ],
)  # fmt: skip
def test_bad_requests_raise_value_errors_naming_the_culprit(
    candles: dict[str, pd.DataFrame], call: Any, message: str
) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=message):
        call(candles)


def test_invalid_candles_are_named_by_their_timeframe(candles: dict[str, pd.DataFrame]) -> None:
    # Arrange
    broken = candles["1h"].copy()
    broken.iloc[5, broken.columns.get_loc("close")] = np.nan

    # Act / Assert
    with pytest.raises(CandleDataError, match=r"candles_by_tf\['1h'\]: .*row 5"):
        analyze_smc({**candles, "1h": broken}, "X")


def test_zone_lists_are_the_live_records_of_detect_zones(
    candles: dict[str, pd.DataFrame], smc_answer: dict[str, Any]
) -> None:
    # Arrange
    records = detect_zones(candles["4h"], SMCConfig.for_timeframe("4h"))
    ended = records[["filled_at", "swept_at", "invalidated_at", "expired_at"]].notna().any(axis=1)
    live = records[~ended]

    # Act
    part = smc_answer["timeframes"]["4h"]

    # Assert
    blocks = live["kind"].isin(["order_block", "breaker"]).sum()
    gaps = live["kind"].isin(["fvg", "inverse_fvg"]).sum()
    assert len(part["order_blocks"]) == min(blocks, 10)
    assert len(part["fair_value_gaps"]) == min(gaps, 10)
    listed = {(b["top"], b["bottom"]) for b in part["order_blocks"]}
    assert listed <= set(zip(live["top"], live["bottom"], strict=True))
