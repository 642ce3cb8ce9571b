"""A scripted stand-in for a ccxt exchange: its OHLCV interface, no network."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

MINUTE_MS = 60_000


def ms(text: str) -> int:
    """Return a UTC time as epoch milliseconds."""
    return pd.Timestamp(text, tz="UTC").value // 1_000_000


def candles(start: str, count: int, step_ms: int, first_price: float = 100.0) -> list[list[Any]]:
    """Return ``count`` ccxt OHLCV rows ``[ms, o, h, l, c, v]`` with distinct prices."""
    out = []
    for i in range(count):
        price = first_price + i
        out.append([ms(start) + i * step_ms, price, price + 2, price - 1, price + 1, 10.0 + i])
    return out


@dataclass
class FakeExchange:
    """Serves ``book`` like ``fetch_ohlcv``: rows with ``ts >= since``, ``page_size`` at a time.

    ``script`` holds what successive calls do first: an exception instance to raise, or
    ``None`` to answer normally. ``pages``, when given, replaces the book with fixed answers.
    """

    book: dict[str, list[list[Any]]]
    page_size: int = 4
    rateLimit: int = 100
    id: str = "fakex"
    timeframes: dict[str, str] | None = field(
        default_factory=lambda: {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h"}
    )
    markets: dict[str, Any] | None = None
    script: list[BaseException | None] = field(default_factory=list)
    pages: list[list[list[Any]]] | None = None
    unknown_symbol_error: Callable[[str], BaseException] | None = None
    calls: list[tuple[str, str, int | None, int | None]] = field(default_factory=list)

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]:
        self.calls.append((symbol, timeframe, since, limit))
        if self.script:
            action = self.script.pop(0)
            if action is not None:
                raise action
        if symbol not in self.book and self.unknown_symbol_error is not None:
            raise self.unknown_symbol_error(symbol)
        if self.pages is not None:
            return [list(row) for row in self.pages.pop(0)] if self.pages else []
        rows: Iterable[list[Any]] = self.book.get(symbol, [])
        rows = [r for r in rows if since is None or r[0] >= since]
        return [list(r) for r in rows[: limit or self.page_size]]
