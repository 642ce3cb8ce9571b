"""Runners around the engine: the fast path, the bar-by-bar reference, the live/paper runner,
evaluation, reports and the look-ahead audit."""
