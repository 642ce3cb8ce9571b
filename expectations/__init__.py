"""Great Expectations suites as code (candles); GX itself is imported only when a suite runs."""

from expectations.candles import (
    CandleSuiteReport,
    ExpectationOutcome,
    build_candle_suite,
    run_candle_suite,
)

__all__ = ["CandleSuiteReport", "ExpectationOutcome", "build_candle_suite", "run_candle_suite"]
