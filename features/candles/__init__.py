"""Candles: the canonical frame, sources, validation, resampling and stores."""

from features.candles.schema import (
    INDEX_NAME,
    OHLCV,
    CandleDataError,
    Timeframe,
    empty_candles,
    is_aligned,
)

__all__ = ["INDEX_NAME", "OHLCV", "CandleDataError", "Timeframe", "empty_candles", "is_aligned"]
