"""analyze_smc / read_multi_timeframe: JSON-ready, point-in-time, fresh or flagged, clear errors."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.candles.resample import resample_all
from features.candles.schema import CandleDataError
from features.mtf import (
    AnalysisConfig,
    StaleDataError,
    analyze_smc,
    canonical_symbol,
    read_multi_timeframe,
)
from features.smc import SMCConfig, detect_zones
from tests.features.mtf.builders import market_candles, market_candles_by_tf

TYPES = ["order_blocks", "fair_value_gaps", "liquidity_levels", "market_structure"]
PLAN_SMC_BODY = {
    "symbol": "BTCUSDT",
    "timeframes": ["1d", "4h", "1h", "15m"],
    "analysis_type": ["order_blocks", "fvg", "liquidity_levels"],
}
"""The product plan's ``POST /api/smc/analyze`` request body, verbatim."""
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
    return read_multi_timeframe(candles, "BTC/USDT", "5m", ["1h", "4h", "1d"])


def test_smc_analysis_is_json_ready_with_the_plans_top_level_keys(
    smc_answer: dict[str, Any],
) -> None:
    # Act
    answer = _json(smc_answer)

    # Assert
    assert answer == smc_answer
    assert answer["symbol"] == "BTC/USDT"
    assert answer["as_of"] == "2024-03-12T00:00:00Z"
    assert {*TYPES, "confluence_score"} <= set(answer)
    assert list(answer["timeframes"]) == ["5m", "1h", "4h", "1d"]
    assert list(answer["market_structure"]) == ["5m", "1h", "4h", "1d"]
    assert isinstance(answer["confluence_score"], float)
    assert 0.0 <= answer["confluence_score"] <= 1.0
    detail = answer["confluence"]
    assert detail["timeframe"] == "5m"
    assert detail["score"] == answer["confluence_score"]
    assert set(detail["components"]) == {"htf_bias", "smc", "technical", "session"}
    assert answer["warnings"] == []


def test_the_plans_smc_request_body_works_verbatim(candles: dict[str, pd.DataFrame]) -> None:
    # Arrange: the plan asks for 15m among its timeframes
    by_tf = {**candles, **resample_all(candles["5m"], "5m", ["15m"])}

    # Act
    answer = _json(analyze_smc(by_tf, **PLAN_SMC_BODY))  # type: ignore[arg-type]

    # Assert
    assert answer["symbol"] == "BTC/USDT"
    assert answer["analysis_types"] == ["order_blocks", "fair_value_gaps", "liquidity_levels"]
    assert list(answer["timeframes"]) == ["15m", "1h", "4h", "1d"]
    assert answer["order_blocks"]
    assert answer["fair_value_gaps"]
    assert {"buy_side", "sell_side", "previous_day_high"} <= set(answer["liquidity_levels"])
    assert {g["timeframe"] for g in answer["fair_value_gaps"]} <= {"15m", "1h", "4h", "1d"}
    assert 0.0 <= answer["confluence_score"] <= 1.0
    assert "market_structure" not in answer  # not asked for
    assert answer["confluence"]["timeframe"] == "15m"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("BTCUSDT", "BTC/USDT"), ("btc/usdt", "BTC/USDT"), ("ETHBTC", "ETH/BTC"),
     ("BTC/USDT:USDT", "BTC/USDT:USDT"), (" solusdc ", "SOL/USDC")],
)  # fmt: skip
def test_symbols_are_answered_with_a_slash(written: str, canonical: str) -> None:
    # Act / Assert
    assert canonical_symbol(written) == canonical


def test_fvg_is_the_plans_name_for_fair_value_gaps(candles: dict[str, pd.DataFrame]) -> None:
    # Act
    short = analyze_smc(candles, "BTCUSDT", ["fvg"], ["1h"])
    long = analyze_smc(candles, "BTC/USDT", ["fair_value_gaps"], ["1h"])

    # Assert
    assert short == long
    assert short["analysis_types"] == ["fair_value_gaps"]


def test_order_blocks_are_live_zones_nearest_first(smc_answer: dict[str, Any]) -> None:
    # Arrange
    blocks = smc_answer["order_blocks"]

    # Act
    hourly = [b for b in blocks if b["timeframe"] == "1h"]

    # Assert
    assert 0 < len(hourly) <= 10
    distances = [abs(b["distance_atr"]) for b in blocks]
    assert distances == sorted(distances)
    for block in hourly:
        assert block["kind"] in {"order_block", "breaker"}
        assert block["top"] >= block["bottom"]
        assert block["formed_at"] < block["known_at"] <= smc_answer["timeframes"]["1h"]["known_at"]
        if block["kind"] == "order_block" and block["direction"] == "bullish":
            assert block["distance_atr"] >= 0.0  # a live support is never closed below
        assert block["state"] in {"untouched", "tested", "mitigated"}
        if block["kind"] == "order_block":
            assert 0.0 <= block["strength_at_formation"] <= 100.0


def test_fair_value_gaps_have_their_fill_share(smc_answer: dict[str, Any]) -> None:
    # Act
    gaps = smc_answer["fair_value_gaps"]

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
    liquidity = smc_answer["liquidity_levels"]
    structure = smc_answer["market_structure"]["5m"]

    # Assert
    pools = liquidity["buy_side"] + liquidity["sell_side"]
    assert len(pools) > 4
    assert {p["timeframe"] for p in pools} > {"5m"}
    assert all(p["equal_count"] >= 1 and p["known_at"] <= smc_answer["as_of"] for p in pools)
    assert liquidity["previous_day_high"] > liquidity["previous_day_low"]
    assert structure["trend"] in DIRECTIONS
    assert structure["last_break"]["type"] in {"bos", "choch"}
    assert structure["last_break"]["known_at"] <= part["known_at"]
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
    assert not {"order_blocks", "fair_value_gaps", "liquidity_levels"} & set(answer)
    assert set(answer["market_structure"]["4h"]) >= {"trend", "last_break", "dealing_range"}
    assert answer["confluence_score"] is not None  # always answered


def test_multi_timeframe_reading_is_json_ready(mtf_answer: dict[str, Any]) -> None:
    # Act
    answer = _json(mtf_answer)

    # Assert
    assert answer == mtf_answer
    assert answer["primary_timeframe"] == "5m"
    assert answer["analysis_timeframes"] == ["1h", "4h", "1d"]
    assert answer["higher_timeframe_bias"] in {"bullish", "bearish", "neutral"}
    assert set(answer["timeframes"]) == {"1h", "4h", "1d"}
    assert all(answer["timeframes"][tf]["bias"] in DIRECTIONS for tf in answer["timeframes"])
    assert answer["discount_zones"]
    assert answer["premium_zones"]
    assert 0.0 <= answer["confluence_score"] <= 1.0
    assert answer["confluence"]["score"] == answer["confluence_score"]
    assert "entry_signals" not in answer  # the serving side adds them (serving.analysis)


def test_every_higher_timeframe_reports_when_it_was_known_and_its_age(
    mtf_answer: dict[str, Any],
) -> None:
    # Act
    detail = mtf_answer["timeframes"]

    # Assert: the 5m close 2024-03-12 00:00 is also a 1h, 4h and 1d close
    for tf in ("1h", "4h", "1d"):
        assert detail[tf]["known_at"] == "2024-03-12T00:00:00Z"
        assert detail[tf]["age_seconds"] == 0
        assert detail[tf]["stale"] is False
    assert mtf_answer["warnings"] == []


def test_a_daily_frame_ending_100_days_early_is_flagged_stale() -> None:
    # Arrange: 5m and 1h up to 2024-06-01, the daily candles stop 100 days before
    base = market_candles("2024-01-01", 152)
    by_tf = {"5m": base, **resample_all(base, "5m", ["1h", "1d"])}
    by_tf["1d"] = by_tf["1d"].loc[: pd.Timestamp("2024-06-01", tz="UTC") - pd.Timedelta(days=101)]

    # Act
    answer = read_multi_timeframe(by_tf, "BTCUSDT", "5m")

    # Assert
    daily = answer["timeframes"]["1d"]
    assert answer["as_of"] == "2024-06-01T00:00:00Z"
    assert daily["known_at"] == "2024-02-22T00:00:00Z"
    assert daily["age_seconds"] == 100 * 86_400
    assert daily["age_bars"] == 100.0
    assert daily["stale"] is True
    assert answer["timeframes"]["1h"]["stale"] is False
    [warning] = answer["warnings"]
    assert "candles_by_tf['1d']" in warning
    assert "100 bars" in warning


def test_stale_higher_timeframes_are_refused_when_configured() -> None:
    # Arrange: the 4h candles end 3 bars (12 h) before the 5m close; 2 bars are allowed
    base = market_candles("2024-02-01", 40)
    by_tf = {"5m": base, **resample_all(base, "5m", ["4h"])}
    by_tf["4h"] = by_tf["4h"].iloc[:-3]
    refuse = AnalysisConfig(on_stale="refuse")

    # Act / Assert
    with pytest.raises(StaleDataError, match=r"candles_by_tf\['4h'\]: .*3 bars"):
        read_multi_timeframe(by_tf, "X/USDT", "5m", config=refuse)
    with pytest.raises(StaleDataError, match="stale"):
        analyze_smc(by_tf, "X/USDT", config=refuse)
    assert (
        read_multi_timeframe(
            by_tf, "X/USDT", "5m", config=AnalysisConfig(max_age_bars=3, on_stale="refuse")
        )["timeframes"]["4h"]["age_bars"]
        == 3.0
    )


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


def test_higher_timeframe_candles_closing_after_the_primary_are_ignored() -> None:
    # Arrange: 5m candles up to 2024-03-05 10:25 close; 1h and 4h candles for 40 days.
    base = market_candles("2024-02-01", 40)
    cut = base.loc[:"2024-03-05 10:20"]
    full_htf = resample_all(base, "5m", ["1h", "4h"])
    known_htf = resample_all(cut, "5m", ["1h", "4h"])

    # Act
    with_future = read_multi_timeframe({"5m": cut, **full_htf}, "X/USDT", "5m")
    without = read_multi_timeframe({"5m": cut, **known_htf}, "X/USDT", "5m")

    # Assert
    assert with_future == without
    assert without["timeframes"]["1h"]["known_at"] == "2024-03-05T10:00:00Z"
    assert without["timeframes"]["1h"]["age_seconds"] == 25 * 60


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: analyze_smc(c, "X/USDT", ["order_blocks", "elliott_waves"]),
         "unknown analysis type 'elliott_waves'"),
        (lambda c: analyze_smc(c, "X/USDT", []), "analysis_type is empty"),
        (lambda c: analyze_smc(c, "X/USDT", None, ["15m"]),
         r"requested timeframe '15m' is not in candles_by_tf"),
        (lambda c: analyze_smc(c, "BTC"), "symbol 'BTC': write it BASE/QUOTE"),
        (lambda c: read_multi_timeframe(c, "X/USDT", "15m"),
         r"primary timeframe '15m' is not in candles_by_tf"),
        (lambda c: read_multi_timeframe(c, "X/USDT", "5m", ["1h", "2h"]),
         r"analysis timeframe '2h' is not in candles_by_tf"),
        (lambda c: read_multi_timeframe(c, "X/USDT", "1h", ["5m"]),
         r"analysis timeframe '5m' must be above the primary timeframe '1h'"),
        (lambda c: read_multi_timeframe(c, "X/USDT", "5x"), "unknown timeframe '5x'"),
        (lambda c: analyze_smc({}, "X/USDT"), "non-empty mapping"),
        (lambda c: AnalysisConfig(on_stale="ignore"), "AnalysisConfig.on_stale"),
        (lambda c: AnalysisConfig(max_age_bars=0.5), "AnalysisConfig.max_age_bars"),
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
        analyze_smc({**candles, "1h": broken}, "X/USDT")


def test_zone_lists_are_the_live_records_of_detect_zones(
    candles: dict[str, pd.DataFrame], smc_answer: dict[str, Any]
) -> None:
    # Arrange
    records = detect_zones(candles["4h"], SMCConfig.for_timeframe("4h"))
    ended = records[["filled_at", "swept_at", "invalidated_at", "expired_at"]].notna().any(axis=1)
    live = records[~ended]

    # Act
    blocks = [b for b in smc_answer["order_blocks"] if b["timeframe"] == "4h"]
    gaps = [g for g in smc_answer["fair_value_gaps"] if g["timeframe"] == "4h"]

    # Assert
    assert len(blocks) == min(live["kind"].isin(["order_block", "breaker"]).sum(), 10)
    assert len(gaps) == min(live["kind"].isin(["fvg", "inverse_fvg"]).sum(), 10)
    listed = {(b["top"], b["bottom"]) for b in blocks}
    assert listed <= set(zip(live["top"], live["bottom"], strict=True))
