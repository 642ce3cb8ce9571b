"""Whole-engine proofs: prefix invariance, streaming equals batch, zones known by a prefix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.candles.schema import CandleDataError, Timeframe
from features.candles.sources import make_source
from features.candles.validate import validate_candles
from features.schema import spec_of, to_float64
from features.smc import SMCConfig, SMCStream, compute_smc, detect_zones
from features.smc.zones import EVENT_FIELDS
from tests.features.smc.smc_helpers import assert_same

FIVE_MIN = Timeframe.parse("5m")


def _synthetic(days: int, seed: int = 3) -> pd.DataFrame:
    source = make_source("synthetic", seed=seed, symbols=("BTC/USDT",))
    start = pd.Timestamp("2024-02-26", tz="UTC")
    raw = source.fetch("BTC/USDT", FIVE_MIN, start, start + pd.Timedelta(days=days))
    return validate_candles(raw, FIVE_MIN, source="synthetic", symbol="BTC/USDT").valid


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return _synthetic(days=21)  # 6,048 bars across a DST change and two week boundaries


@pytest.fixture(scope="module")
def full(candles: pd.DataFrame) -> pd.DataFrame:
    return compute_smc(candles)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.index.equals(b.index)
    # NaN == NaN, exact values ("not yet known" of integer columns: NaN in to_float64)
    assert_same(a, b)


def test_output_is_one_numeric_row_per_bar(candles: pd.DataFrame, full: pd.DataFrame) -> None:
    assert full.index.equals(candles.index)
    assert list(full.dtypes) == [spec_of(c).dtype for c in full.columns]
    assert not np.isinf(to_float64(full)).any()


@pytest.mark.parametrize("k", [1, 2, 50, 289, 1000, 2016, 3001, 4500, 6047])
def test_every_prefix_gives_the_full_rows_exactly(
    candles: pd.DataFrame, full: pd.DataFrame, k: int
) -> None:
    prefix = compute_smc(candles.iloc[:k])

    _assert_same(prefix, full.iloc[:k])


@st.composite
def random_candles(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=30, max_value=400))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.standard_t(3, n) * 0.004))
    open_ = np.r_[100.0, close[:-1]] * (1 + rng.normal(0, 0.0005, n))
    wick = np.abs(rng.normal(0, 0.003, (2, n))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.lognormal(3, 1, n)
    start = pd.Timestamp("2024-03-29", tz="UTC") + pd.Timedelta(minutes=5 * int(seed % 500))
    index = pd.date_range(start, periods=n, freq="5min", name="ts")
    gaps = draw(st.lists(st.integers(min_value=1, max_value=n - 1), max_size=5, unique=True))
    keep = np.ones(n, dtype=bool)
    keep[gaps] = False  # missing bars must not break causality either
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
    return frame[keep]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=random_candles(), cut=st.floats(min_value=0.05, max_value=0.95))
def test_prefix_invariance_holds_on_generated_candles(frame: pd.DataFrame, cut: float) -> None:
    k = max(1, int(len(frame) * cut))

    _assert_same(compute_smc(frame.iloc[:k]), compute_smc(frame).iloc[:k])


def _stream(frame: pd.DataFrame, stream: SMCStream) -> pd.DataFrame:
    rows = [
        stream.update({"timestamp": ts, **bar})
        for ts, bar in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return pd.DataFrame(rows, index=frame.index)


def test_streaming_equals_batch_with_a_snapshot_restore_midway(
    candles: pd.DataFrame, full: pd.DataFrame
) -> None:
    part = candles.iloc[:2600]
    first = _stream(part.iloc[:1300], stream := SMCStream())
    restored = SMCStream.restore(stream.snapshot())
    second = _stream(part.iloc[1300:], restored)

    streamed = pd.concat([first, second])[list(full.columns)]
    _assert_same(streamed.rename_axis("ts"), full.iloc[:2600])


def test_stream_rejects_a_bar_that_is_not_after_the_last() -> None:
    frame = _synthetic(days=1)
    stream = SMCStream()
    first = frame.iloc[0].to_dict()
    stream.update({"timestamp": frame.index[1], **first})

    with pytest.raises(CandleDataError):
        stream.update({"timestamp": frame.index[0], **first})


def test_zone_fields_known_by_a_prefix_end_equal_the_full_run(candles: pd.DataFrame) -> None:
    k = 3500
    end = candles.index[k - 1]
    full = detect_zones(candles)
    prefix = detect_zones(candles.iloc[:k])
    known = full[full["confirmed_at"] <= end].reset_index(drop=True)

    assert len(prefix) == len(known)
    for field in ("kind", "direction", "top", "bottom", "formed_at", "confirmed_at"):
        pd.testing.assert_series_equal(prefix[field], known[field], check_names=False)
    for field in EVENT_FIELDS:
        seen = known[field].where(known[field] <= end)
        pd.testing.assert_series_equal(prefix[field], seen, check_names=False)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["volume"]), "volume"),
        (lambda f: f.iloc[::-1], "increasing"),
        (lambda f: pd.concat([f.iloc[:3], f.iloc[2:5]]), "duplicate"),
        (lambda f: f.tz_convert("Europe/London"), "UTC"),
        (lambda f: f.tz_localize(None), "UTC"),
        (lambda f: f.assign(close=np.where(np.arange(len(f)) == 4, np.nan, f["close"])), "close"),
        (lambda f: f.iloc[:0], "empty"),
    ],
)
def test_bad_input_is_a_clear_error(mutate: object, message: str) -> None:
    frame = _synthetic(days=1).iloc[:20]

    with pytest.raises(CandleDataError, match=message):
        compute_smc(mutate(frame))  # type: ignore[operator]


def test_config_is_frozen_and_validated() -> None:
    config = SMCConfig.for_timeframe("5m")

    with pytest.raises((AttributeError, TypeError)):
        config.bar = None  # type: ignore[misc]
