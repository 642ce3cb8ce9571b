"""SMCStream: bar checks, time order, snapshot/restore, the dict it returns."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import CandleDataError
from features.schema import to_float64
from features.smc import SMCConfig, SMCStream, columns, compute_smc, context, engine, iter_smc
from tests.features.smc.smc_helpers import random_candles

FRAME = random_candles(400, seed=9)


def _bar(k: int, **change: object) -> dict[str, object]:
    o, h, lo, c, v = FRAME.to_numpy()[k]
    bar: dict[str, object] = {
        "timestamp": FRAME.index[k],
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": v,
    }
    bar.update(change)
    return bar


def _fed(n: int) -> SMCStream:
    stream = SMCStream()
    for k in range(n):
        stream.update(_bar(k))
    return stream


def test_update_returns_every_column_as_floats() -> None:
    row = SMCStream().update(_bar(0))
    assert tuple(row) == columns()
    assert all(type(value) is float for value in row.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamp": pd.Timestamp("2024-03-04 00:30")}, "tz-naive"),
        ({"timestamp": 1_709_510_400_000}, "is a number"),
        ({"close": float("nan")}, "non-finite 'close'"),
        ({"high": 1.0}, "high is below"),
        ({"low": 1e9}, "low is above"),
        ({"volume": -5.0}, "volume is negative"),
        ({"open": "abc"}, "non-numeric 'open'"),
    ],
)
def test_bad_bar_is_refused_and_leaves_the_stream_unchanged(change: dict, message: str) -> None:
    stream = _fed(30)
    with pytest.raises(CandleDataError, match=message):
        stream.update(_bar(30, **change))
    assert stream.bars_seen == 30
    row = stream.update(_bar(30))
    np.testing.assert_array_equal(
        np.array(list(row.values())), to_float64(compute_smc(FRAME.iloc[:31]))[30]
    )


def test_missing_keys_are_named() -> None:
    bar = _bar(0)
    del bar["volume"]
    with pytest.raises(CandleDataError, match="'volume'"):
        SMCStream().update(bar)
    with pytest.raises(CandleDataError, match="timestamp"):
        SMCStream().update({"open": 1.0})


@pytest.mark.parametrize(
    ("k", "message"), [(9, "not after the last bar"), (10, "not after the last bar")]
)
def test_bars_must_arrive_in_strictly_increasing_time(k: int, message: str) -> None:
    stream = _fed(11)
    with pytest.raises(CandleDataError, match=message):
        stream.update(_bar(k))


def test_bar_closer_than_the_timeframe_is_refused() -> None:
    stream = _fed(11)
    early = FRAME.index[10] + pd.Timedelta(minutes=2)
    with pytest.raises(CandleDataError, match="less than the timeframe"):
        stream.update(_bar(11, timestamp=early))


@pytest.mark.parametrize(
    "stamp",
    [
        lambda t: t.to_pydatetime(),
        lambda t: t.isoformat(),
        lambda t: t.tz_convert("America/New_York"),
        lambda t: np.datetime64(t.tz_localize(None)),
    ],
    ids=["datetime", "iso", "other_tz", "datetime64"],
)
def test_timestamps_in_other_forms_are_read_as_the_same_instant(stamp: object) -> None:
    bar = _bar(0)
    bar["ts"] = stamp(bar.pop("timestamp"))  # type: ignore[operator]
    stream = SMCStream()
    stream.update(bar)
    assert stream.last_timestamp == FRAME.index[0]


def test_datetime_without_tz_is_refused() -> None:
    with pytest.raises(CandleDataError, match="tz-naive"):
        SMCStream().update(_bar(0, timestamp=dt.datetime(2024, 3, 4)))


def test_snapshot_is_a_deep_copy() -> None:
    stream = _fed(50)
    snap = stream.snapshot()
    stream.update(_bar(50))
    restored = SMCStream.restore(snap)
    assert restored.bars_seen == 50
    assert restored.last_timestamp == FRAME.index[49]


def test_restore_refuses_a_foreign_or_mismatched_snapshot() -> None:
    snap = pickle.loads(pickle.dumps(_fed(5).snapshot()))
    with pytest.raises(ValueError, match="version"):
        SMCStream.restore({**snap, "version": 99})
    other = SMCStream(SMCConfig.for_timeframe("1h")).snapshot()
    with pytest.raises(ValueError, match="shape"):
        SMCStream.restore({**other, "state": snap["state"]})


def test_update_array_checks_values_too() -> None:
    with pytest.raises(CandleDataError, match="high is below"):
        SMCStream().update_array(FRAME.index.asi8[0], np.array([10.0, 9.0, 8.0, 10.0, 1.0]))


@pytest.mark.parametrize("chunk", [1, 7, 100, 399, 400, 10_000])
def test_iter_smc_yields_the_rows_of_compute_smc_chunk_by_chunk(chunk: int) -> None:
    parts = list(iter_smc(FRAME, chunk_bars=chunk))
    assert [len(p) for p in parts[:-1]] == [chunk] * (len(parts) - 1)
    pd.testing.assert_frame_equal(pd.concat(parts), compute_smc(FRAME))


def test_iter_smc_refuses_bad_input_like_compute_smc() -> None:
    with pytest.raises(ValueError, match="chunk_bars"):
        next(iter_smc(FRAME, chunk_bars=0))
    with pytest.raises(CandleDataError, match="empty"):
        next(iter_smc(FRAME.iloc[:0]))
    unsorted = pd.concat([FRAME.iloc[:150], FRAME.iloc[100:200]])
    with pytest.raises(CandleDataError):
        list(iter_smc(unsorted, chunk_bars=120))


@pytest.mark.parametrize("chunk", [1, 57, 400])
def test_update_values_are_the_frame_columns_read_as_float64(chunk: int) -> None:
    # Arrange: every column, in reverse order (every dtype, sentinels and NaN included)
    names = columns()[::-1]
    expected = to_float64(compute_smc(FRAME), names)
    stream = SMCStream()
    # Act
    parts = [
        stream.update_values(FRAME.iloc[k : k + chunk], names) for k in range(0, len(FRAME), chunk)
    ]
    # Assert
    np.testing.assert_array_equal(np.vstack(parts), expected)
    assert stream.bars_seen == len(FRAME)


def test_update_values_writes_into_out_and_refuses_bad_requests() -> None:
    # Arrange
    names = ("liq_pdh", "smc_warm", "ctx_atr")
    out = np.full((50, 3), -1.0)
    # Act
    got = SMCStream().update_values(FRAME.iloc[:50], names, out=out)
    # Assert
    assert got is out
    np.testing.assert_array_equal(out, to_float64(compute_smc(FRAME.iloc[:50]), names))
    with pytest.raises(KeyError, match="nope"):
        SMCStream().update_values(FRAME.iloc[:50], ("nope",))
    with pytest.raises(ValueError, match="C-contiguous float64 array of shape"):
        SMCStream().update_values(FRAME.iloc[:50], names, out=np.empty((50, 3), order="F"))


@pytest.mark.parametrize("concept", [name for name, _ in engine.CONCEPTS])
def test_a_stream_of_one_concepts_columns_runs_only_what_they_need(concept: str) -> None:
    # Arrange: the concept's columns and smc_warm; the stream skips every concept not needed
    module = dict(engine.CONCEPTS)[concept]
    names = ("smc_warm", *(spec.name for spec in module.SPECS))
    lay = engine.layout(SMCConfig())
    stream = SMCStream(only=names)
    # Act
    parts = [stream.update_values(FRAME.iloc[k : k + 150], names) for k in range(0, 400, 150)]
    # Assert
    np.testing.assert_array_equal(np.vstack(parts), to_float64(compute_smc(FRAME), names))
    on = lay.concepts_for(names)
    needed = {concept, *engine.NEEDS.get(concept, ())}
    assert [
        n for (n, _), k in zip(engine.CONCEPTS, on[1 : len(engine.CONCEPTS) + 1], strict=True) if k
    ] == [n for n, _ in engine.CONCEPTS if n in needed]


def test_a_stream_without_the_volume_profile_columns_skips_the_profile() -> None:
    # Arrange: the context columns the strategies read, none of the profile's
    names = ("ctx_atr", "ctx_regime", "ctx_vol_pct")
    stream = SMCStream(only=names)
    # Act
    parts = [stream.update_values(FRAME.iloc[k : k + 150], names) for k in range(0, 400, 150)]
    # Assert: the same values; the profile's window never took a candle
    np.testing.assert_array_equal(np.vstack(parts), to_float64(compute_smc(FRAME), names))
    lay = engine.layout(SMCConfig())
    profile_count = lay.s_off[len(engine.CONCEPTS)] + context._P_COUNT  # context: the last slice
    assert stream._state[profile_count] == 0.0
    full = SMCStream(only=(*names, "ctx_vp_poc"))
    full.update_values(FRAME.iloc[:400], (*names, "ctx_vp_poc"))
    assert full._state[profile_count] > 0.0


def test_a_narrower_stream_refuses_full_rows_and_other_columns() -> None:
    stream = SMCStream(only=("fvg_bull_dist",))
    for call in (
        lambda: stream.update(_bar(0)),
        lambda: stream.update_frame(FRAME.iloc[:5]),
        lambda: stream.update_array(FRAME.index.asi8[0], FRAME.to_numpy()[0]),
        stream.snapshot,
    ):
        with pytest.raises(ValueError, match=r"computes only \['fvg_bull_dist'\]"):
            call()
    with pytest.raises(KeyError, match="ob_bull_dist"):
        stream.update_values(FRAME.iloc[:5], ("ob_bull_dist",))
