"""Tests for the ccxt exchange source, against a scripted fake exchange (no network)."""

from __future__ import annotations

from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest

from features.candles.schema import CandleDataError, Timeframe
from features.candles.sources import CcxtSource, MarketDataSource, make_source, resume_start
from tests.features.candles.fake_exchange import MINUTE_MS, FakeExchange, candles, ms

TF5 = Timeframe.parse("5m")
STEP = 5 * MINUTE_MS
SYMBOL = "BTC/USDT"
START = pd.Timestamp("2024-01-01", tz="UTC")
# 10 closed 5m candles (00:00 .. 00:45) and the one in progress (00:50, closes 00:55)
NOW = pd.Timestamp("2024-01-01 00:52", tz="UTC")
BOOK = {SYMBOL: candles("2024-01-01", 11, STEP)}


class Sleeps(list[float]):
    """Records the sleeps a source asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _source(exchange: FakeExchange, **kwargs: Any) -> tuple[CcxtSource, Sleeps]:
    sleeps = Sleeps()
    source = CcxtSource(exchange, clock=lambda: NOW, sleep=sleeps, **kwargs)
    return source, sleeps


def _rows(raw: pd.DataFrame) -> list[list[Any]]:
    """Return the raw frame as ccxt-style rows ``[ms, o, h, l, c, v]``."""
    stamps = raw["ts"].astype("int64") // 1_000_000
    values = raw[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    return [[int(t), *v] for t, v in zip(stamps, values, strict=True)]


# --- pagination and the clock ---------------------------------------------------------------


def test_pages_through_three_pages_and_drops_the_candle_in_progress() -> None:
    exchange = FakeExchange(dict(BOOK), page_size=4, rateLimit=250)
    source, sleeps = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert isinstance(source, MarketDataSource)
    assert _rows(raw) == BOOK[SYMBOL][:10]
    assert [since for _, _, since, _ in exchange.calls] == [
        ms("2024-01-01 00:00"),
        ms("2024-01-01 00:20"),
        ms("2024-01-01 00:40"),
    ]
    assert sleeps == [0.25, 0.25]  # the rate limit between calls, none before the first
    assert raw["source_row"].tolist() == list(range(1, 11))


def test_candle_is_kept_once_the_clock_reaches_its_close() -> None:
    exchange = FakeExchange(dict(BOOK), page_size=20)
    sleeps = Sleeps()
    at_close = pd.Timestamp("2024-01-01 00:55", tz="UTC")
    source = CcxtSource(exchange, clock=lambda: at_close, sleep=sleeps)

    raw = source.fetch(SYMBOL, TF5, START)

    assert raw["ts"].iloc[-1] == pd.Timestamp("2024-01-01 00:50", tz="UTC")
    assert len(raw) == 11


def test_limit_is_passed_to_the_exchange() -> None:
    exchange = FakeExchange(dict(BOOK), page_size=100)
    source, _ = _source(exchange, limit=5)

    raw = source.fetch(SYMBOL, TF5, START)

    assert [limit for *_, limit in exchange.calls] == [5, 5, 5]
    assert len(raw) == 10


def test_end_bound_is_exclusive_and_stops_paging() -> None:
    exchange = FakeExchange(dict(BOOK), page_size=3)
    source, _ = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START, pd.Timestamp("2024-01-01 00:25", tz="UTC"))

    assert _rows(raw) == BOOK[SYMBOL][:5]
    assert len(exchange.calls) == 2  # 00:00-00:10, 00:15-00:25; since 00:30 >= end


def test_empty_page_stops_paging() -> None:
    exchange = FakeExchange({SYMBOL: BOOK[SYMBOL][:3]}, page_size=3)
    source, sleeps = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert len(raw) == 3
    assert len(exchange.calls) == 2
    assert sleeps == [0.1]


def test_exchange_ignoring_since_is_stopped_without_duplicates() -> None:
    page = BOOK[SYMBOL][:4]
    exchange = FakeExchange(dict(BOOK), pages=[page, page, page])
    source, _ = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert _rows(raw) == page
    assert len(exchange.calls) == 2


def test_identical_candle_repeated_across_pages_is_kept_once() -> None:
    rows = BOOK[SYMBOL]
    exchange = FakeExchange(dict(BOOK), pages=[rows[0:4], rows[3:7], rows[6:10], []])
    source, _ = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert _rows(raw) == rows[:10]
    assert raw["source_row"].tolist() == [1, 2, 3, 4, 6, 7, 8, 10, 11, 12]


def test_conflicting_copies_across_pages_are_all_passed_on() -> None:
    rows = BOOK[SYMBOL]
    conflicting = [rows[3][0], 999.0, 999.0, 999.0, 999.0, 1.0]
    exchange = FakeExchange(dict(BOOK), pages=[rows[0:4], [conflicting, *rows[4:6]], []])
    source, _ = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    same_time = raw[raw["ts"] == pd.Timestamp("2024-01-01 00:15", tz="UTC")]
    assert same_time["open"].tolist() == [rows[3][1], 999.0]
    assert same_time["source_row"].tolist() == [4, 5]
    assert len(raw) == 7


def test_values_are_kept_as_received() -> None:
    rows: list[list[Any]] = [
        [ms("2024-01-01 00:00"), 1.0, 2.0, 0.5, 1.5, None],
        [ms("2024-01-01 00:05"), 1, 2, 1, "x", 3],
    ]
    exchange = FakeExchange({SYMBOL: rows})
    source, _ = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert np.isnan(raw["volume"].iloc[0])
    assert raw["volume"].dtype == np.float64
    assert raw["close"].tolist() == [1.5, "x"]
    assert raw["open"].tolist() == [1.0, 1.0]


# --- retries and backoff ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ccxt.RequestTimeout("read timed out"),
        ccxt.RateLimitExceeded("429 too many requests"),
        ccxt.DDoSProtection("cloudflare"),
        ccxt.ExchangeNotAvailable("503"),
        ccxt.NetworkError("connection reset"),
    ],
)
def test_network_error_is_retried_after_backoff_then_succeeds(error: Exception) -> None:
    exchange = FakeExchange(dict(BOOK), page_size=20, script=[error])
    source, sleeps = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert _rows(raw) == BOOK[SYMBOL][:10]
    assert sleeps == [1.0]
    assert len(exchange.calls) == 2


def test_backoff_doubles_between_retries_of_one_call() -> None:
    script: list[BaseException | None] = [ccxt.RequestTimeout("t")] * 3
    exchange = FakeExchange(dict(BOOK), page_size=8, script=script)
    source, sleeps = _source(exchange)

    raw = source.fetch(SYMBOL, TF5, START)

    assert len(raw) == 10
    assert sleeps == [1.0, 2.0, 4.0, 0.1]  # three retries, then the rate limit before page 2


def test_exhausted_retries_raise_a_clear_error() -> None:
    exchange = FakeExchange(dict(BOOK), script=[ccxt.RequestTimeout("read timed out")] * 10)
    source, sleeps = _source(exchange, max_retries=3)

    with pytest.raises(
        CandleDataError,
        match=r"fakex: fetch_ohlcv\('BTC/USDT', '5m', since=2024-01-01T00:00:00\+00:00\) "
        r"failed after 4 attempts: RequestTimeout: read timed out",
    ):
        source.fetch(SYMBOL, TF5, START)

    assert sleeps == [1.0, 2.0, 4.0]
    assert len(exchange.calls) == 4


def test_backoff_is_capped_and_never_shorter_than_the_rate_limit() -> None:
    script: list[BaseException | None] = [ccxt.RequestTimeout("t")] * 5
    exchange = FakeExchange(dict(BOOK), page_size=20, rateLimit=300, script=script)
    source, sleeps = _source(exchange, backoff_s=0.1, max_backoff_s=1.0)

    source.fetch(SYMBOL, TF5, START)

    assert sleeps == [0.3, 0.3, 0.4, 0.8, 1.0]


def test_other_exchange_error_is_reported_without_retry() -> None:
    exchange = FakeExchange(dict(BOOK), script=[ccxt.AuthenticationError("invalid api key")])
    source, sleeps = _source(exchange)

    with pytest.raises(CandleDataError, match=r"fakex rejected fetch_ohlcv.*invalid api key"):
        source.fetch(SYMBOL, TF5, START)

    assert sleeps == []


# --- bad input -------------------------------------------------------------------------------


def test_symbol_missing_from_loaded_markets_is_refused_before_any_call() -> None:
    exchange = FakeExchange(dict(BOOK), markets={SYMBOL: {}, "ETH/USDT": {}})
    source, _ = _source(exchange)

    with pytest.raises(CandleDataError, match=r"unknown symbol 'BTC/USD' on fakex; did you mean"):
        source.fetch("BTC/USD", TF5, START)

    assert exchange.calls == []
    assert source.symbols() == [SYMBOL, "ETH/USDT"]


def test_bad_symbol_from_the_exchange_is_an_unknown_symbol_error() -> None:
    exchange = FakeExchange(dict(BOOK), unknown_symbol_error=lambda s: ccxt.BadSymbol(s))
    source, _ = _source(exchange)

    with pytest.raises(CandleDataError, match=r"unknown symbol 'DOGE/EUR' on fakex"):
        source.fetch("DOGE/EUR", TF5, START)


def test_unsupported_timeframe_lists_the_supported_ones() -> None:
    source, _ = _source(FakeExchange(dict(BOOK)))

    with pytest.raises(CandleDataError, match=r"timeframe 4h is not supported by fakex.*1m, 5m"):
        source.fetch(SYMBOL, Timeframe.parse("4h"), START)


def test_fetch_without_start_is_refused() -> None:
    source, _ = _source(FakeExchange(dict(BOOK)))

    with pytest.raises(CandleDataError, match="needs an explicit start"):
        source.fetch(SYMBOL, TF5)


def test_unknown_exchange_id_suggests_close_ids() -> None:
    with pytest.raises(CandleDataError, match=r"unknown ccxt exchange id 'binanse'.*binance"):
        CcxtSource.from_id("binanse")


def test_from_id_builds_the_exchange_with_options_and_own_pacing() -> None:
    source = CcxtSource.from_id("delta", {"timeout": 1234}, max_retries=2)

    assert source.exchange.id == "delta"
    assert source.name == "delta"
    assert source.exchange.timeout == 1234
    assert source.exchange.enableRateLimit is False
    assert source.max_retries == 2


def test_make_source_builds_a_ccxt_source_from_an_exchange_object() -> None:
    exchange = FakeExchange(dict(BOOK), page_size=20)

    source = make_source("ccxt", exchange=exchange, clock=lambda: NOW, sleep=Sleeps())

    assert isinstance(source, CcxtSource)
    assert len(source.fetch(SYMBOL, TF5, START)) == 10


def test_make_source_needs_an_exchange() -> None:
    with pytest.raises(CandleDataError, match="ccxt source needs exchange="):
        make_source("ccxt")


# --- resume ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_stored", "timeframe", "expected"),
    [
        (None, "5m", "2023-06-01 00:00"),
        ("2024-01-01 00:45", "5m", "2024-01-01 00:50"),
        ("2024-01-01 23:00", "1h", "2024-01-02 00:00"),
        ("2024-01-01", "1d", "2024-01-02"),
    ],
)
def test_resume_start_is_the_open_after_the_last_stored_candle(
    last_stored: str | None, timeframe: str, expected: str
) -> None:
    last = None if last_stored is None else pd.Timestamp(last_stored, tz="UTC")

    start = resume_start(last, Timeframe.parse(timeframe), pd.Timestamp("2023-06-01", tz="UTC"))

    assert start == pd.Timestamp(expected, tz="UTC")


def test_resumed_fetch_returns_only_new_candles() -> None:
    exchange = FakeExchange(dict(BOOK), page_size=20)
    source, _ = _source(exchange)
    last_stored = pd.Timestamp("2024-01-01 00:30", tz="UTC")

    raw = source.fetch(SYMBOL, TF5, resume_start(last_stored, TF5, START))

    assert _rows(raw) == BOOK[SYMBOL][7:10]
