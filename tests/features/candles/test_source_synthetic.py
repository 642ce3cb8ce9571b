"""Tests for the synthetic market source."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.candles.schema import CandleDataError, Timeframe
from features.candles.sources import (
    MarketDataSource,
    SymbolSpec,
    SyntheticConfig,
    SyntheticSource,
    default_symbols,
    make_source,
)
from features.candles.sources import synthetic as synthetic_module

UTC = "UTC"
FAR_FUTURE = pd.Timestamp("2035-01-01", tz=UTC)
TF5 = Timeframe.parse("5m")
RAW_COLUMNS = ["ts", "open", "high", "low", "close", "volume", "source_row"]


def _source(seed: int = 42, **config: Any) -> SyntheticSource:
    return SyntheticSource(SyntheticConfig(seed=seed, **config), now=lambda: FAR_FUTURE)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture(scope="module")
def half_year() -> dict[str, pd.DataFrame]:
    source = _source()
    start, end = _ts("2024-01-01"), _ts("2024-06-29")  # 180 days, as `make run` uses
    return {s: source.fetch(s, TF5, start, end) for s in ("BTC/USDT", "ETH/USDT")}


def _log_returns(frame: pd.DataFrame) -> pd.Series:
    close = frame.set_index("ts")["close"]
    return np.log(close).diff().dropna()


# --- contract and determinism ------------------------------------------------------------


def test_source_implements_market_data_source_protocol() -> None:
    source = _source()

    assert isinstance(source, MarketDataSource)
    assert source.name == "synthetic"
    assert source.symbols() == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def test_fetch_returns_raw_frame_columns_and_dtypes() -> None:
    raw = _source().fetch("BTC/USDT", TF5, _ts("2024-01-01"), _ts("2024-01-02"))

    assert list(raw.columns) == RAW_COLUMNS
    assert isinstance(raw.index, pd.RangeIndex)
    assert str(raw["ts"].dtype) == "datetime64[ns, UTC]"
    assert raw["source_row"].dtype == np.int64
    assert all(raw[c].dtype == np.float64 for c in ("open", "high", "low", "close", "volume"))
    assert len(raw) == 288
    assert raw["ts"].iloc[0] == _ts("2024-01-01")
    assert raw["ts"].iloc[-1] == _ts("2024-01-01 23:55")


def test_same_seed_gives_identical_candles_from_separate_sources() -> None:
    start, end = _ts("2023-05-01"), _ts("2023-05-03")

    first = _source(seed=7).fetch("ETH/USDT", TF5, start, end)
    second = _source(seed=7).fetch("ETH/USDT", TF5, start, end)

    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_different_seeds_give_different_markets() -> None:
    start, end = _ts("2023-05-01"), _ts("2023-05-02")

    first = _source(seed=1).fetch("BTC/USDT", TF5, start, end)
    second = _source(seed=2).fetch("BTC/USDT", TF5, start, end)

    assert not np.array_equal(first["close"].to_numpy(), second["close"].to_numpy())


def test_known_candles_have_pinned_values_on_every_machine() -> None:
    # Golden values, compared bit for bit: a change here changes the market for every user.
    raw = _source(seed=42).fetch("BTC/USDT", TF5, _ts("2024-01-01"), _ts("2024-01-01 00:10"))

    assert raw["source_row"].tolist() == [420769, 420770]
    assert raw["open"].tolist() == [23728.206798341605, 23744.122528035117]
    assert raw["high"].tolist() == [23749.12078008781, 23752.226324662035]
    assert raw["low"].tolist() == [23725.26286413532, 23727.28012273098]
    assert raw["close"].tolist() == [23744.122528035117, 23743.74055937329]
    assert raw["volume"].tolist() == [45.17252617545929, 15.949924797515026]


def test_adding_a_symbol_does_not_change_the_others() -> None:
    start, end = _ts("2022-03-01"), _ts("2022-03-03")
    alone = SyntheticSource(
        SyntheticConfig(symbols=default_symbols("ETH/USDT")), now=lambda: FAR_FUTURE
    )
    extra = SymbolSpec("DOGE/USDT", 0.1, vol_scale=2.0, market_weight=0.7)
    crowded = SyntheticSource(
        SyntheticConfig(symbols=(extra, *default_symbols("BTC/USDT", "ETH/USDT"))),
        now=lambda: FAR_FUTURE,
    )

    pd.testing.assert_frame_equal(
        alone.fetch("ETH/USDT", TF5, start, end),
        crowded.fetch("ETH/USDT", TF5, start, end),
        check_exact=True,
    )


# --- window consistency ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    timeframe=st.sampled_from(["5m", "15m", "1h", "4h"]),
    first=st.integers(0, 3 * 1440),
    second=st.integers(0, 3 * 1440),
    third=st.integers(0, 3 * 1440),
)
def test_fetch_equals_concatenation_of_split_windows(
    timeframe: str, first: int, second: int, third: int
) -> None:
    a, b, c = (_ts("2021-12-30") + pd.Timedelta(minutes=m) for m in sorted((first, second, third)))
    source, tf = _source(seed=3), Timeframe.parse(timeframe)

    whole = source.fetch("SOL/USDT", tf, a, c)
    parts = pd.concat(
        [source.fetch("SOL/USDT", tf, a, b), source.fetch("SOL/USDT", tf, b, c)],
        ignore_index=True,
    )

    pd.testing.assert_frame_equal(whole, parts, check_exact=True)


def test_day_fetched_alone_equals_same_day_inside_a_long_window() -> None:
    source = _source()
    day = _ts("2024-03-10")

    alone = source.fetch("BTC/USDT", TF5, day, day + pd.Timedelta(days=1))
    inside = source.fetch("BTC/USDT", TF5, _ts("2024-01-01"), _ts("2024-06-01"))
    inside = inside[inside["ts"].dt.normalize() == day].reset_index(drop=True)

    pd.testing.assert_frame_equal(alone, inside, check_exact=True)


def test_one_day_fetch_generates_only_that_day_however_far_from_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    generated: list[int] = []
    original = synthetic_module._intraday

    def spy(config, spec, model, days):
        generated.append(len(days))
        return original(config, spec, model, days)

    monkeypatch.setattr(synthetic_module, "_intraday", spy)
    day = _ts("2031-07-15")

    raw = _source().fetch("BTC/USDT", TF5, day, day + pd.Timedelta(days=1))

    assert generated == [1]
    assert len(raw) == 288


# --- candle validity --------------------------------------------------------------------------


def test_candles_are_valid_ohlc_with_positive_volume(half_year: dict[str, pd.DataFrame]) -> None:
    for raw in half_year.values():
        body_top = raw[["open", "close"]].max(axis=1)
        body_bottom = raw[["open", "close"]].min(axis=1)

        assert (raw["high"] >= body_top).all()
        assert (raw["low"] <= body_bottom).all()
        assert (raw["low"] > 0).all()
        assert (raw["volume"] > 0).all()
        assert np.isfinite(raw[["open", "high", "low", "close", "volume"]].to_numpy()).all()


def test_each_open_equals_the_previous_close(half_year: dict[str, pd.DataFrame]) -> None:
    raw = half_year["BTC/USDT"]

    assert np.array_equal(raw["open"].to_numpy()[1:], raw["close"].to_numpy()[:-1])


def test_timestamps_are_contiguous_on_the_grid(half_year: dict[str, pd.DataFrame]) -> None:
    ts = half_year["ETH/USDT"]["ts"]

    assert (ts.diff().dropna() == pd.Timedelta(minutes=5)).all()
    assert half_year["ETH/USDT"]["source_row"].diff().dropna().eq(1).all()


def test_start_prices_are_near_the_configured_ones() -> None:
    source = _source()

    first = {
        s: source.fetch(s, TF5, _ts("2020-01-01"), _ts("2020-01-01 00:05"))["open"].iloc[0]
        for s in source.symbols()
    }

    assert first == {"BTC/USDT": 40_000.0, "ETH/USDT": 2_500.0, "SOL/USDT": 100.0}


def test_hour_candle_aggregates_its_twelve_base_bars_exactly() -> None:
    source = _source()
    start, end = _ts("2024-02-01 13:00"), _ts("2024-02-01 14:00")

    hour = source.fetch("ETH/USDT", Timeframe.parse("1h"), start, end)
    bars = source.fetch("ETH/USDT", TF5, start, end)

    assert len(hour) == 1
    assert hour["open"].iloc[0] == bars["open"].iloc[0]
    assert hour["high"].iloc[0] == bars["high"].max()
    assert hour["low"].iloc[0] == bars["low"].min()
    assert hour["close"].iloc[0] == bars["close"].iloc[-1]
    assert hour["volume"].iloc[0] == pytest.approx(bars["volume"].sum(), rel=1e-12)


def test_window_before_origin_starts_at_origin_with_row_one() -> None:
    raw = _source().fetch(
        "BTC/USDT", Timeframe.parse("1h"), _ts("2019-12-31"), _ts("2020-01-01 03:00")
    )

    assert raw["ts"].tolist() == [_ts("2020-01-01") + pd.Timedelta(hours=h) for h in range(3)]
    assert raw["source_row"].tolist() == [1, 2, 3]


# --- stylized facts --------------------------------------------------------------------------


def test_returns_are_fat_tailed(half_year: dict[str, pd.DataFrame]) -> None:
    returns = _log_returns(half_year["BTC/USDT"]).to_numpy()
    centered = returns - returns.mean()

    kurtosis = float((centered**4).mean() / (centered**2).mean() ** 2)

    assert kurtosis > 5.0


def test_volatility_clusters(half_year: dict[str, pd.DataFrame]) -> None:
    absolute = _log_returns(half_year["BTC/USDT"]).abs()

    assert absolute.autocorr(1) > 0.1
    assert absolute.autocorr(12) > 0.05


def test_weekends_are_quieter_than_weekdays(half_year: dict[str, pd.DataFrame]) -> None:
    returns = _log_returns(half_year["BTC/USDT"])
    raw = half_year["BTC/USDT"].set_index("ts")
    weekend = pd.DatetimeIndex(returns.index).dayofweek >= 5
    weekend_bars = pd.DatetimeIndex(raw.index).dayofweek >= 5

    assert returns[weekend].std() < 0.8 * returns[~weekend].std()
    assert raw["volume"][weekend_bars].mean() < 0.8 * raw["volume"][~weekend_bars].mean()


def test_intraday_volatility_peaks_at_london_and_new_york_opens(
    half_year: dict[str, pd.DataFrame],
) -> None:
    absolute = _log_returns(half_year["ETH/USDT"]).abs()
    by_hour = absolute.groupby(pd.DatetimeIndex(absolute.index).hour).mean()

    assert by_hour.idxmax() == 14  # New York open / US equities overlap
    assert by_hour[8] > 1.5 * by_hour[4]  # London open vs late Asia
    assert by_hour[8] > by_hour[6]
    assert by_hour[8] > by_hour[11]


def test_symbols_are_correlated_in_the_target_band(half_year: dict[str, pd.DataFrame]) -> None:
    btc, eth = _log_returns(half_year["BTC/USDT"]), _log_returns(half_year["ETH/USDT"])

    correlation = float(np.corrcoef(btc.to_numpy(), eth.to_numpy())[0, 1])

    assert 0.7 <= correlation <= 0.9


def test_all_three_regimes_occur_and_move_prices_their_way() -> None:
    source = _source()
    start, end = _ts("2022-01-01"), _ts("2024-01-01")
    regimes = source.regimes(start, end)
    daily = source.fetch("BTC/USDT", Timeframe.parse("1d"), start, end).set_index("ts")
    returns = daily["close"] / daily["open"] - 1.0

    mean_by_regime = returns.groupby(regimes.to_numpy()).mean()

    assert set(regimes) == {"range", "up", "down"}
    assert mean_by_regime["up"] > 0 > mean_by_regime["down"]


# --- clock, bad input, factory ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeframe", "now", "last_open"),
    [
        ("5m", "2024-01-01 10:07", "2024-01-01 10:00"),
        ("5m", "2024-01-01 10:05", "2024-01-01 10:00"),
        ("1h", "2024-01-01 10:07", "2024-01-01 09:00"),
        ("1d", "2024-01-03 00:00", "2024-01-02 00:00"),
    ],
)
def test_only_candles_closed_by_the_clock_are_returned(
    timeframe: str, now: str, last_open: str
) -> None:
    source = SyntheticSource(SyntheticConfig(), now=lambda: _ts(now))

    raw = source.fetch("BTC/USDT", Timeframe.parse(timeframe), _ts("2024-01-01"), _ts("2024-02-01"))

    assert raw["ts"].iloc[-1] == _ts(last_open)


def test_window_entirely_in_the_future_is_empty() -> None:
    source = SyntheticSource(SyntheticConfig(), now=lambda: _ts("2024-01-01"))

    raw = source.fetch("BTC/USDT", TF5, _ts("2024-01-02"), _ts("2024-01-03"))

    assert raw.empty
    assert list(raw.columns) == RAW_COLUMNS


def test_unknown_symbol_is_named_with_the_known_ones() -> None:
    with pytest.raises(CandleDataError, match=r"unknown symbol 'XRP/USDT'.*BTC/USDT.*SOL/USDT"):
        _source().fetch("XRP/USDT", TF5, _ts("2024-01-01"), _ts("2024-01-02"))


@pytest.mark.parametrize(("start", "end"), [(None, "2024-01-02"), ("2024-01-01", None)])
def test_fetch_without_explicit_bounds_is_refused(start: str | None, end: str | None) -> None:
    bounds = [None if b is None else _ts(b) for b in (start, end)]

    with pytest.raises(CandleDataError, match="explicit start and end"):
        _source().fetch("BTC/USDT", TF5, *bounds)


@pytest.mark.parametrize("timeframe", ["1m", "7m", "2m"])
def test_timeframe_not_a_multiple_of_the_base_is_refused(timeframe: str) -> None:
    with pytest.raises(CandleDataError, match=rf"{timeframe} is not a multiple of it"):
        _source().fetch(
            "BTC/USDT", Timeframe.parse(timeframe), _ts("2024-01-01"), _ts("2024-01-02")
        )


def test_base_timeframe_of_one_minute_serves_one_minute_candles() -> None:
    source = _source(base_timeframe="1m", symbols=("BTC/USDT",))

    raw = source.fetch(
        "BTC/USDT", Timeframe.parse("1m"), _ts("2024-01-01"), _ts("2024-01-01 01:00")
    )

    assert len(raw) == 60
    assert (raw["ts"].diff().dropna() == pd.Timedelta(minutes=1)).all()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"seed": -1}, "seed must be in"),
        ({"base_timeframe": "7m"}, "must divide one day"),
        ({"origin": "2020-01-01 03:00"}, "must be midnight UTC"),
        ({"garch_alpha": 0.2, "garch_beta": 0.85}, "garch_beta must be < 1"),
        ({"tail_df": 2}, "tail_df must be >= 3"),
        ({"regime_transition": ((0.5, 0.5, 0.5), (0, 1, 0), (0, 0, 1))}, "row 'range'"),
        ({"hourly_vol": (1.0,) * 23}, "hourly_vol needs 24 positive values"),
        ({"symbols": ("BTC/USDT", "BTC/USDT")}, "duplicate synthetic symbols"),
        ({"symbols": ("NOPE/USDT",)}, "unknown default synthetic symbol 'NOPE/USDT'"),
        ({"symbols": ()}, "at least one symbol"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(fields: dict, message: str) -> None:
    with pytest.raises(CandleDataError, match=message):
        SyntheticConfig(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start_price": 0.0}, "start_price must be > 0"),
        ({"market_weight": 1.5}, r"market_weight must be in \[0, 1\]"),
        ({"vol_scale": -1.0}, "vol_scale must be > 0"),
    ],
)
def test_bad_symbol_spec_is_refused(fields: dict, message: str) -> None:
    arguments = {"symbol": "X/USDT", "start_price": 1.0, **fields}

    with pytest.raises(CandleDataError, match=message):
        SymbolSpec(**arguments)


def test_make_source_builds_a_synthetic_source_from_config_fields() -> None:
    source = make_source("synthetic", seed=9, symbols=("BTC/USDT",), now=lambda: FAR_FUTURE)

    assert isinstance(source, SyntheticSource)
    assert source.config.seed == 9
    assert source.symbols() == ["BTC/USDT"]


def test_make_source_rejects_unknown_kind_listing_the_kinds() -> None:
    with pytest.raises(
        CandleDataError, match=r"unknown source kind 'kafka'.*synthetic, file, ccxt"
    ):
        make_source("kafka")


def test_make_source_rejects_unknown_synthetic_option() -> None:
    with pytest.raises(CandleDataError, match=r"synthetic source: .*volatility"):
        make_source("synthetic", volatility=0.5)
