"""Backtests around the engine: the fast path, the bar-by-bar reference (the live runner of
``serving.runtime`` on history), evaluation, reports and the look-ahead audit."""
