"""Typed request and response bodies of the API (the OpenAPI schema is built from them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Symbol = Field(min_length=1, max_length=32, examples=["BTCUSDT", "BTC/USDT"])
TimeframeLabel = Field(min_length=1, max_length=8, examples=["15m"])


class SignalRequest(BaseModel):
    """``POST /api/signal``: the signal of the latest closed candle of one market."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Symbol
    timeframe: str = TimeframeLabel


class SMCAnalyzeRequest(BaseModel):
    """``POST /api/smc/analyze``: the product plan's body (``fvg`` and ``BTCUSDT`` accepted)."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Symbol
    timeframes: list[str] | None = Field(default=None, max_length=8, examples=[["1h", "15m"]])
    analysis_type: list[str] | str | None = Field(
        default=None, examples=[["order_blocks", "fvg", "liquidity_levels"]]
    )


class MultiTimeframeRequest(BaseModel):
    """``POST /api/analysis/multi-timeframe``: the product plan's body."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Symbol
    primary_timeframe: str = TimeframeLabel
    analysis_timeframes: list[str] | None = Field(
        default=None, max_length=8, examples=[["1d", "4h", "1h"]]
    )


class SMCFacts(BaseModel):
    """The SMC facts of a signal."""

    order_block_present: bool
    fvg_confluence: bool
    liquidity_sweep: bool
    market_structure: str | None


class SignalResponse(BaseModel):
    """The signal format of ``DESIGN.md`` (``serving.signals.Signal.to_dict``) and its source.

    ``model_status`` says where ``confidence_score`` comes from: ``rule_only`` (no champion
    model, or one that does not score this market or intent: ``confidence_score``,
    ``model_version`` and ``model_size`` are null) or ``scored`` (the champion's calibrated
    P(take) x 100, its version and its risk multiplier; 0 declines the entry).
    """

    signal_id: str
    symbol: str
    type: Literal["ENTRY", "EXIT", "NONE"]
    direction: Literal["LONG", "SHORT"] | None
    strength: Literal["WEAK", "MODERATE", "STRONG"] | None
    timeframe: str
    entry_price: float | None
    stop_loss: float | None
    take_profit: list[float]
    risk_reward_ratio: float | None
    confidence_score: int | None
    model_version: str | None
    model_status: Literal["rule_only", "scored"]
    model_size: float | None = None
    smc_analysis: SMCFacts
    confluence_factors: list[str]
    score: float
    reason: str | None
    generated_at: str
    expires_at: str


class SMCAnalyzeResponse(BaseModel):
    """``analyze_smc``'s answer (``docs/mtf.md``); the zone lists appear when asked for."""

    model_config = ConfigDict(extra="allow")

    symbol: str
    as_of: str
    analysis_types: list[str]
    confluence_score: float | None
    confluence: dict[str, Any]
    timeframes: dict[str, Any]
    warnings: list[str]


class MultiTimeframeResponse(BaseModel):
    """``analyze_multi_timeframe``'s answer (``docs/mtf.md``) with the entry signals."""

    model_config = ConfigDict(extra="allow")

    symbol: str
    primary_timeframe: str
    analysis_timeframes: list[str]
    as_of: str
    higher_timeframe_bias: str | None
    discount_zones: list[dict[str, Any]]
    premium_zones: list[dict[str, Any]]
    entry_signals: list[dict[str, Any]]
    confluence_score: float | None
    warnings: list[str]


class ErrorDetail(BaseModel):
    """What went wrong and which request field it concerns."""

    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """Every error the service itself answers."""

    error: ErrorDetail
