"""Bad input gets a clear error naming what and where; short input is documented NaN warm-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import CandleDataError
from features.smc import SMCConfig, compute_smc, detect_zones
from tests.features.smc.smc_helpers import random_candles

FRAME = random_candles(300, seed=1)


def _broken(kind: str) -> pd.DataFrame:
    frame = FRAME.copy()
    if kind == "nan":
        frame.iloc[120, frame.columns.get_loc("close")] = np.nan
    elif kind == "inf":
        frame.iloc[7, frame.columns.get_loc("volume")] = np.inf
    elif kind == "unsorted":
        frame = frame.iloc[[*range(50), 51, 50, *range(52, 300)]]
    elif kind == "duplicated":
        frame = frame.iloc[[*range(60), 59, *range(60, 300)]]
    elif kind == "naive":
        frame.index = frame.index.tz_localize(None)
    elif kind == "other_tz":
        frame.index = frame.index.tz_convert("Europe/London")
    elif kind == "missing":
        frame = frame.drop(columns=["volume"])
    elif kind == "empty":
        frame = frame.iloc[:0]
    elif kind == "range_index":
        frame = frame.reset_index(drop=True)
    elif kind == "high_below_close":
        frame.iloc[33, frame.columns.get_loc("high")] = frame["close"].iloc[33] - 1.0
    elif kind == "low_above_open":
        frame.iloc[34, frame.columns.get_loc("low")] = frame["open"].iloc[34] + 1.0
    elif kind == "negative_volume":
        frame.iloc[35, frame.columns.get_loc("volume")] = -1.0
    elif kind == "too_close":
        frame.index = frame.index.where(
            frame.index != frame.index[10], frame.index[9] + pd.Timedelta(minutes=1)
        )
    elif kind == "strings":
        frame["open"] = frame["open"].astype(str)
    return frame


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nan", r"column 'close' has a non-finite value \(nan\) at row 120"),
        ("inf", r"column 'volume' has a non-finite value \(inf\) at row 7"),
        ("unsorted", r"row 51 .* out of order"),
        ("duplicated", r"row 60 .* duplicated"),
        ("naive", "tz-naive"),
        ("other_tz", "time zone Europe/London, expected UTC"),
        ("missing", r"missing column\(s\) \['volume'\]"),
        ("empty", "empty"),
        ("range_index", "DatetimeIndex"),
        ("high_below_close", "high is below max.* at row 33"),
        ("low_above_open", "low is above min.* at row 34"),
        ("negative_volume", "volume is negative at row 35"),
        ("too_close", "row 10 .* less than the configured timeframe"),
        ("strings", "column 'open' must be numeric"),
    ],
)
def test_bad_candles_raise_a_clear_error(kind: str, message: str) -> None:
    frame = _broken(kind)
    with pytest.raises(CandleDataError, match=message):
        compute_smc(frame)
    with pytest.raises(ValueError, match=message):
        detect_zones(frame)


def test_fewer_bars_than_the_warm_up_give_nan_features_and_a_cold_flag() -> None:
    out = compute_smc(FRAME.iloc[:5])
    assert len(out) == 5
    assert (out["smc_warm"] == 0.0).all()
    assert out["ctx_atr"].isna().all()
    assert out["fvg_bull_dist"].isna().all()


def test_gaps_between_candles_are_allowed() -> None:
    frame = FRAME.drop(FRAME.index[100:110])
    assert len(compute_smc(frame)) == 290


def test_other_index_resolutions_and_dtypes_give_the_same_features() -> None:
    frame = FRAME.copy()
    frame.index = frame.index.as_unit("s")
    frame["volume"] = frame["volume"].round().astype("int64")
    expected = FRAME.copy()
    expected["volume"] = expected["volume"].round()
    np.testing.assert_array_equal(compute_smc(frame).to_numpy(), compute_smc(expected).to_numpy())


def test_extra_columns_are_ignored() -> None:
    frame = FRAME.assign(symbol="BTC/USDT", trades=1)
    np.testing.assert_array_equal(compute_smc(frame).to_numpy(), compute_smc(FRAME).to_numpy())


def test_config_must_be_an_smc_config() -> None:
    with pytest.raises(TypeError, match="SMCConfig"):
        compute_smc(FRAME, {"timeframe": "5m"})  # type: ignore[arg-type]


def test_hourly_candles_with_a_five_minute_config_are_accepted_but_minute_ones_are_not() -> None:
    minute = random_candles(50, seed=4, freq="1min")
    with pytest.raises(CandleDataError, match="for_timeframe"):
        compute_smc(minute, SMCConfig())
    assert len(compute_smc(minute, SMCConfig.for_timeframe("1m"))) == 50
