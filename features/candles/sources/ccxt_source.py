"""Candles from any exchange that ccxt supports (Delta Exchange, Binance, ...).

``ccxt`` is imported lazily (about 3 s), only when an exchange is built by id or a fetch runs.

Examples:
    >>> src = CcxtSource.from_id("binance")                      # public OHLCV, no key needed
    >>> src = CcxtSource.from_id("delta", {"apiKey": key, "secret": secret})
    >>> raw = src.fetch("BTC/USDT", Timeframe.parse("5m"), start, end)
"""

from __future__ import annotations

import difflib
import numbers
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.candles.sources._raw import (
    empty_raw,
    raw_frame,
    utc_bound,
    utc_required,
    wall_clock,
)


def resume_start(
    last_stored: pd.Timestamp | None, timeframe: Timeframe, default_start: pd.Timestamp
) -> pd.Timestamp:
    """Return where ingestion resumes: the open after the last stored candle, else the default.

    Args:
        last_stored: Open time of the newest stored candle (``CandleStore.last_timestamp``).
        timeframe: The candles' timeframe.
        default_start: Where to start when nothing is stored yet.
    """
    if last_stored is None:
        return utc_required(default_start, "default_start")
    return utc_required(last_stored, "last_stored") + Timeframe.parse(timeframe).delta


class CcxtSource:
    """A ``MarketDataSource`` over a ccxt exchange object.

    ``fetch`` pages through ``exchange.fetch_ohlcv(symbol, timeframe, since=ms, limit=limit)``
    from ``start`` to ``end``, moving ``since`` past the last candle of each page, and stops on
    an empty page, a page that makes no progress, or once ``end`` (or the present) is reached.
    Between two calls it sleeps the exchange's ``rateLimit`` (ms); ccxt's own throttle is
    switched off in ``from_id`` so the pacing happens once, here, through the injected
    ``sleep``. Network errors (``RequestTimeout``, ``DDoSProtection``, ``RateLimitExceeded``,
    ``ExchangeNotAvailable``, any ``ccxt.NetworkError``) are retried after
    ``backoff_s * 2**attempt`` seconds (capped at ``max_backoff_s``, never below the rate limit)
    up to ``max_retries`` times, then raise ``CandleDataError``.

    Only closed candles are kept: exchanges usually return the candle in progress as the last
    row; it is left out (open + timeframe > ``clock()``), which is not data loss: the next run
    fetches it once it has closed. Identical copies of a candle repeated across page boundaries
    are kept once; conflicting copies are all passed on for the validator to quarantine.
    Values are as received; ``source_row`` is the 1-based position in the received stream.

    Args:
        exchange: A ccxt exchange instance (or anything with its interface: ``id``,
            ``rateLimit``, ``timeframes``, ``markets``, ``fetch_ohlcv``).
        clock: Current UTC time; defaults to the wall clock.
        sleep: Sleeps the given seconds; defaults to ``time.sleep``.
        max_retries: Retries of one call after a network error.
        limit: Candles per page (``None``: the exchange's default).
        backoff_s: First retry delay in seconds.
        max_backoff_s: Longest retry delay in seconds.
        name: Source name; defaults to the exchange id.
    """

    def __init__(
        self,
        exchange: Any,
        *,
        clock: Callable[[], pd.Timestamp] | None = None,
        sleep: Callable[[float], None] | None = None,
        max_retries: int = 5,
        limit: int | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        name: str | None = None,
    ) -> None:
        if max_retries < 0:
            raise CandleDataError(f"max_retries must be >= 0, got {max_retries}")
        if limit is not None and limit <= 0:
            raise CandleDataError(f"limit must be > 0 or None, got {limit}")
        if backoff_s < 0 or max_backoff_s < backoff_s:
            raise CandleDataError(
                f"need 0 <= backoff_s <= max_backoff_s, got {backoff_s} and {max_backoff_s}"
            )
        self.exchange = exchange
        self.name = name or str(getattr(exchange, "id", "ccxt"))
        self._clock = clock if clock is not None else wall_clock
        self._sleep = sleep if sleep is not None else time.sleep
        self.max_retries = max_retries
        self.limit = limit
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._called = False

    @classmethod
    def from_id(
        cls, exchange_id: str, options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> CcxtSource:
        """Build the source over ``getattr(ccxt, exchange_id)(options)``.

        Args:
            exchange_id: A ccxt id such as ``binance`` or ``delta``.
            options: Exchange options (``apiKey``, ``secret``, ``options``...).
            **kwargs: Passed on to ``CcxtSource``.
        """
        import ccxt

        if exchange_id not in ccxt.exchanges:
            close = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise CandleDataError(f"unknown ccxt exchange id {exchange_id!r}{hint}")
        settings = {"enableRateLimit": False, **dict(options or {})}
        return cls(getattr(ccxt, exchange_id)(settings), **kwargs)

    def symbols(self) -> list[str]:
        """Return the exchange's symbols once its markets are loaded, else nothing."""
        markets = getattr(self.exchange, "markets", None)
        return list(markets) if markets else []

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Return closed candles of ``symbol`` with open time in ``[start, end)``.

        ``start`` is required (see ``resume_start``); ``end`` defaults to now.
        """
        tf = Timeframe.parse(timeframe)
        self._check(symbol, tf)
        if start is None:
            raise CandleDataError(
                f"{self.name}: fetch needs an explicit start (resume_start gives it for reruns)"
            )
        now_ms = utc_required(self._clock(), "clock()").value // 1_000_000
        start_ms = utc_required(start, "start").value // 1_000_000
        hi = utc_bound(end, "end")
        end_ms = now_ms if hi is None else min(hi.value // 1_000_000, now_ms)
        rows = self._pages(symbol, tf, start_ms, end_ms)
        # a row without a numeric time cannot be placed; it is kept (ts = NaT) for quarantine
        kept = [
            (pos, row)
            for pos, row in rows
            if not _is_number(row[0]) or (start_ms <= row[0] < end_ms and row[0] + tf.ms <= now_ms)
        ]
        if not kept:
            return empty_raw()
        positions = np.asarray([pos for pos, _ in kept], dtype="int64")
        millis = pd.Series([row[0] if _is_number(row[0]) else None for _, row in kept])
        stamps = pd.to_datetime(millis.astype("float64"), unit="ms", utc=True)
        columns = [_column([row[i] for _, row in kept]) for i in range(1, len(OHLCV) + 1)]
        return raw_frame(stamps, columns, positions)

    def _check(self, symbol: str, tf: Timeframe) -> None:
        exchange_id = self.name
        timeframes = getattr(self.exchange, "timeframes", None)
        if timeframes and tf.label not in timeframes:
            raise CandleDataError(
                f"timeframe {tf.label} is not supported by {exchange_id}; "
                f"supported: {', '.join(timeframes)}"
            )
        markets = getattr(self.exchange, "markets", None)
        if markets and symbol not in markets:
            raise CandleDataError(_unknown_symbol(symbol, exchange_id, list(markets)))

    def _pages(
        self, symbol: str, tf: Timeframe, start_ms: int, end_ms: int
    ) -> list[tuple[int, list[Any]]]:
        """Collect ``(received position, row)`` pages, dropping identical cross-page repeats."""
        received: list[tuple[int, list[Any]]] = []
        seen: dict[Any, tuple[Any, ...]] = {}
        position = 0
        since = start_ms
        while since < end_ms:
            page = self._call(symbol, tf, since)
            if not page:
                break
            page_rows: dict[Any, tuple[Any, ...]] = {}
            for raw_row in page:
                position += 1
                row = [*raw_row, *([None] * (len(OHLCV) + 1 - len(raw_row)))]
                key, values = row[0], tuple(row)
                if seen.get(key) == values:
                    continue  # repeated across a page boundary: keep the first copy
                page_rows.setdefault(key, values)
                received.append((position, row))
            seen.update(page_rows)
            stamps = [row[0] for row in page if row and _is_number(row[0])]
            if not stamps:
                break
            next_since = int(max(stamps)) + tf.ms
            if next_since <= since:
                break  # no progress: the exchange keeps returning the same page
            since = next_since
        return received

    def _call(self, symbol: str, tf: Timeframe, since: int) -> list[list[Any]]:
        """Call ``fetch_ohlcv`` once, paced by the rate limit, retrying network errors."""
        import ccxt

        rate_s = float(getattr(self.exchange, "rateLimit", 0) or 0) / 1000.0
        if self._called and rate_s > 0:
            self._sleep(rate_s)
        self._called = True
        attempt = 0
        while True:
            try:
                return list(
                    self.exchange.fetch_ohlcv(symbol, tf.label, since=since, limit=self.limit)
                )
            except ccxt.BadSymbol as exc:
                raise CandleDataError(
                    _unknown_symbol(symbol, self.name, self.symbols()) + f" ({exc})"
                ) from exc
            except ccxt.NetworkError as exc:
                if attempt >= self.max_retries:
                    raise CandleDataError(
                        f"{self.name}: fetch_ohlcv({symbol!r}, {tf.label!r}, since="
                        f"{_iso(since)}) failed after {attempt + 1} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
                self._sleep(max(delay, rate_s))
                attempt += 1
            except ccxt.BaseError as exc:
                raise CandleDataError(
                    f"{self.name} rejected fetch_ohlcv({symbol!r}, {tf.label!r}, since="
                    f"{_iso(since)}): {type(exc).__name__}: {exc}"
                ) from exc


def _unknown_symbol(symbol: str, exchange_id: str, known: list[str]) -> str:
    close = difflib.get_close_matches(symbol, known, n=3, cutoff=0.6) if known else []
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown symbol {symbol!r} on {exchange_id}{hint}"


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _column(values: list[Any]) -> np.ndarray:
    """Return float64 when every value is a number or missing, else the values as received."""
    if all(v is None or _is_number(v) for v in values):
        return np.asarray([np.nan if v is None else v for v in values], dtype="float64")
    return np.asarray(values, dtype=object)
