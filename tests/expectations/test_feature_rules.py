"""The feature suite's per-column rules come from the schema, not from column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from expectations.features import column_rule, required_columns, row_counts
from features.schema import compact_frame, smc_specs
from features.smc import SMCConfig, compute_smc
from tests.features.smc.smc_helpers import random_candles


def test_a_flag_outside_0_1_and_a_half_are_out_of_range() -> None:
    frame = pd.DataFrame({"fvg_bull_new": [0.0, 1.0, 0.5, 2.0, np.nan]})
    counts = row_counts(frame)
    assert counts.out_of_range == {"fvg_bull_new": 2}
    assert counts.frame["n_out_of_range"].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]


def test_a_state_code_outside_its_set_is_out_of_range() -> None:
    # ob_bull_state codes: 0 untouched, 1 tested, 2 mitigated.
    frame = pd.DataFrame({"ob_bull_state": [0.0, 2.0, 3.0, 1.5, -1.0]})
    assert row_counts(frame).out_of_range == {"ob_bull_state": 3}


def test_a_price_level_must_be_positive() -> None:
    frame = pd.DataFrame({"pd_high": [101.5, 0.0, -3.0, np.nan]})
    assert row_counts(frame).out_of_range == {"pd_high": 2}


def test_the_compact_sentinel_is_missing_not_out_of_range() -> None:
    values = np.array([[np.nan, 1.0], [1.0, np.nan]])
    frame = compact_frame(values, ["struct_int_trend", "ob_bull_state"], pd.RangeIndex(2))
    assert frame["struct_int_trend"].iloc[0] == -128  # stored as int8
    counts = row_counts(frame)
    assert counts.missing == {"struct_int_trend": 1}  # required; ob_bull_state is not
    assert counts.out_of_range == {}


def test_a_column_without_a_spec_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="swing_int_hgih"):
        row_counts(pd.DataFrame({"swing_int_hgih": [1.0]}))


def test_rules_follow_the_specs() -> None:
    assert column_rule("ctx_adx").high == pytest.approx(100.0)
    assert column_rule("mtf_confluence").low == pytest.approx(0.0, abs=1e-8)
    assert column_rule("h4_in_ob_bull").whole
    assert column_rule("liq_pdh").positive
    assert not column_rule("fvg_bull_fill").whole
    assert required_columns(["smc_warm", "fvg_bull_age"]) == ["smc_warm"]
    assert len(required_columns([s.name for s in smc_specs()])) > 80


def test_engine_output_breaks_no_rule() -> None:
    candles = random_candles(4000, seed=5, gaps=True)
    features = compute_smc(candles, SMCConfig.for_timeframe("5m"))
    counts = row_counts(features, warm=features["smc_warm"].to_numpy() == 1)
    assert (counts.infinite, counts.missing, counts.out_of_range) == ({}, {}, {})
