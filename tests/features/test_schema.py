"""The column schema: every feature column is declared once, and the conversions are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.mtf import output_columns
from features.schema import (
    ColumnSpec,
    Kind,
    compact_frame,
    exact_float,
    is_model_input,
    missing_value,
    smc_specs,
    spec_of,
    specs,
    to_float64,
)
from features.smc import SMCConfig, columns


def test_every_smc_column_has_exactly_one_spec_in_engine_order() -> None:
    assert tuple(s.name for s in smc_specs()) == columns(SMCConfig())
    assert len({s.name for s in smc_specs()}) == len(smc_specs())


@pytest.mark.parametrize("higher", [(), ("1h",), ("15m", "1h", "4h", "1d")])
def test_every_mtf_column_has_a_spec_with_its_prefixed_name(higher: tuple[str, ...]) -> None:
    names = output_columns("5m", list(higher))
    assert [s.name for s in specs(names)] == list(names)


def test_an_undeclared_column_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="swing_int_hgih"):
        spec_of("swing_int_hgih")
    with pytest.raises(KeyError, match="h1_nonsense"):
        spec_of("h1_nonsense")


def test_codes_number_the_categories() -> None:
    assert spec_of("ob_bull_state").codes == (0, 1, 2)
    assert spec_of("pd_zone").codes == (-1, 0, 1)
    assert spec_of("h4_pd_zone").categories == ("discount", "equilibrium", "premium")
    with pytest.raises(ValueError, match="categories"):
        ColumnSpec("x", Kind.STATE, "code", 0.0, 1.0, False, np.dtype(np.int8), "x", ("a",))


def test_model_inputs_leave_out_price_levels_and_time() -> None:
    assert not is_model_input(spec_of("swing_int_high"))
    assert not is_model_input(spec_of("ctx_atr"))
    assert not is_model_input(spec_of("known_at"))
    assert is_model_input(spec_of("ob_bull_dist"))
    assert is_model_input(spec_of("m5_bias"))


def test_to_float64_maps_the_integer_sentinel_to_nan_and_nothing_else() -> None:
    names = ["ob_bull_state", "fvg_bull_age", "fvg_bull_fill", "swing_int_high", "smc_warm"]
    values = np.array(
        [
            [np.nan, np.nan, np.nan, np.nan, 0.0],
            [2.0, 7.0, 0.25, 43_210.57, 1.0],
            [0.0, 0.0, 1.0 / 3.0, 1.0e-3, 1.0],
        ]
    )
    frame = compact_frame(values, names, pd.RangeIndex(3))
    assert [frame[n].dtype for n in names] == [s.dtype for s in specs(names)]
    assert frame["ob_bull_state"].iloc[0] == missing_value(np.dtype(np.int8)) == -128
    back = to_float64(frame)
    expected = values.copy()
    expected[:, 2] = values[:, 2].astype(np.float32)  # float32: its value, widened
    np.testing.assert_array_equal(back, expected)
    assert back.dtype == np.float64


def test_what_compute_mtf_returns_is_declared() -> None:
    from features.candles.resample import resample_candles
    from features.mtf import compute_mtf
    from features.smc import compute_smc
    from features.warm import _tiny_candles

    candles = _tiny_candles()
    hourly = resample_candles(candles, "1h", base="5m")
    frames = {
        "5m": candles.join(compute_smc(candles, SMCConfig.for_timeframe("5m"))),
        "1h": hourly.join(compute_smc(hourly, SMCConfig.for_timeframe("1h"))),
    }
    out = compute_mtf(frames, "5m")
    assert [s.name for s in specs(list(out.columns))] == list(out.columns)
    assert list(out.dtypes) == [spec_of(c).dtype for c in out.columns]


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.int8, np.float32),
        (np.int16, np.float32),
        (np.float32, np.float32),
        (np.int32, np.float64),
        (np.float64, np.float64),
    ],
)
def test_exact_float_holds_every_value_of_the_dtype(dtype: type, expected: type) -> None:
    info = np.iinfo(dtype) if np.dtype(dtype).kind == "i" else np.finfo(dtype)
    extremes: np.ndarray = np.array([info.min, info.max, -1, 0, 1], dtype=dtype)

    got = exact_float(np.dtype(dtype))

    assert got == np.dtype(expected)
    assert np.array_equal(extremes.astype(got).astype(dtype), extremes)


def test_exact_float_refuses_a_dtype_no_float_holds() -> None:
    with pytest.raises(ValueError, match="int64"):
        exact_float(np.dtype(np.int64))
