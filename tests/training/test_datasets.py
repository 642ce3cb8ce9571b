"""Model-ready arrays: per-kind treatment, train-only fitting, windows, fingerprints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import ConfigError, DatasetConfig, SplitConfig
from training.datasets import (
    LeakageError,
    Preprocessor,
    feature_fingerprint,
    fold_data,
    input_columns,
    sequence_windows,
)
from training.splits import purged_walk_forward

BAR = pd.Timedelta(minutes=5)
STEP = int(BAR.value)
START = pd.Timestamp("2024-01-01", tz="UTC")
# one column of each kind: flag, direction, state (codes -1/0/+1), ratio, count, age
COLUMNS = [
    "smc_5m__smc_warm",
    "mtf_5m__h1_bias",
    "smc_5m__pd_zone",
    "smc_5m__swing_int_high_dist",
    "smc_5m__fvg_bull_count",
    "smc_5m__swing_int_high_age",
]


def training_set(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A training-set-like frame: keys, the six inputs, a price, a label."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "symbol": "BTC/USDT",
            "event_timestamp": START + np.arange(n) * BAR,
            "smc_5m__known_at": np.arange(n, dtype=float),
            COLUMNS[0]: rng.integers(0, 2, n).astype(float),
            COLUMNS[1]: rng.integers(-1, 2, n).astype(float),
            COLUMNS[2]: rng.integers(-1, 2, n).astype(float),
            COLUMNS[3]: rng.normal(2.0, 3.0, n),
            COLUMNS[4]: rng.integers(0, 9, n).astype(float),
            COLUMNS[5]: rng.integers(0, 500, n).astype(float),
            "smc_5m__swing_int_high": 40_000.0 + rng.normal(0.0, 10.0, n),
            "forward_return": rng.normal(0.0, 0.01, n),
        }
    )


def test_input_columns_keep_model_inputs_and_drop_keys_prices_times_and_labels() -> None:
    assert input_columns(training_set()) == COLUMNS


def test_codes_are_one_hot_never_magnitudes_with_an_unknown_slot() -> None:
    # Arrange
    frame = training_set(4)
    frame[COLUMNS[2]] = [-1.0, 0.0, 1.0, np.nan]
    pre = Preprocessor([COLUMNS[2]]).fit(frame)
    # Act
    out = pre.transform(frame)
    # Assert
    assert pre.output_names == [
        f"{COLUMNS[2]}={c}" for c in ("discount", "equilibrium", "premium", "unknown")
    ]
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32))


def test_codes_as_embedding_ids_start_at_one_and_zero_is_unknown() -> None:
    frame = training_set(4)
    frame[COLUMNS[2]] = [-1.0, 0.0, 1.0, np.nan]
    pre = Preprocessor([COLUMNS[0], COLUMNS[2]], DatasetConfig(codes="ids")).fit(frame)
    out = pre.transform(frame)
    assert pre.id_columns == [(1, 4)]  # after the flag (required, never missing: no indicator)
    np.testing.assert_array_equal(out[:, 1], [1, 2, 3, 0])


def test_flags_stay_0_1_and_missing_values_get_an_indicator_and_a_neutral_fill() -> None:
    # Arrange: the compact int8 sentinel -128 means "not yet known"
    frame = training_set(5)
    frame[COLUMNS[0]] = np.array([1, 0, -128, 1, 0], dtype=np.int8)
    frame[COLUMNS[3]] = [1.0, 3.0, np.nan, 5.0, 7.0]
    pre = Preprocessor([COLUMNS[0], COLUMNS[3]]).fit(frame)
    # Act
    out = pre.transform(frame)
    # Assert
    assert pre.output_names == [
        COLUMNS[0],
        f"{COLUMNS[0]}?missing",
        COLUMNS[3],
        f"{COLUMNS[3]}?missing",
    ]
    np.testing.assert_array_equal(out[:, 0], [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(out[:, 1], [0, 0, 1, 0, 0])
    scale = np.std([1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(out[:, 2], np.array([-3, -1, 0, 1, 3]) / scale, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 3], [0, 0, 1, 0, 0])


def test_counts_and_ages_are_log_scaled_before_standardizing() -> None:
    frame = training_set(50)
    pre = Preprocessor([COLUMNS[5]]).fit(frame)
    logged = np.log1p(frame[COLUMNS[5]].to_numpy())
    expected = (logged - logged.mean()) / logged.std()
    np.testing.assert_allclose(pre.transform(frame)[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_robust_scaling_centres_on_the_median_and_clips() -> None:
    frame = training_set(5)
    frame[COLUMNS[3]] = [0.0, 1.0, 2.0, 3.0, 1000.0]
    pre = Preprocessor([COLUMNS[3]], DatasetConfig(scaling="robust", clip=5.0)).fit(frame)
    out = pre.transform(frame)[:, 0]
    assert out[2] == 0.0
    assert out[4] == 5.0


def test_the_scalers_see_only_training_rows() -> None:
    # Arrange: the same training rows, followed by wildly different test rows
    frame = training_set(60)
    train, test = frame.iloc[:40], frame.iloc[40:].copy()
    test[COLUMNS[3]] = 1e6
    test[COLUMNS[5]] = 1e6
    # Act
    honest = Preprocessor(COLUMNS).fit(train)
    leaky = Preprocessor(COLUMNS).fit(pd.concat([train, test]))
    again = Preprocessor(COLUMNS).fit(frame.iloc[:40])
    # Assert: fitting depends on the training rows alone, a leaky fit is visible and refused
    np.testing.assert_array_equal(honest.transform(train), again.transform(train))
    assert not np.array_equal(honest.transform(train), leaky.transform(train))
    honest.check_unseen(test)
    with pytest.raises(LeakageError, match="20 of 20 rows here are not later"):
        leaky.check_unseen(test)


def test_infinite_values_are_refused_naming_the_column() -> None:
    frame = training_set(5)
    frame.loc[3, COLUMNS[3]] = np.inf
    with pytest.raises(
        ValueError, match=r"'smc_5m__swing_int_high_dist' has 1 infinite value\(s\), first at row 3"
    ):
        Preprocessor(COLUMNS).fit(frame)


def test_price_columns_are_refused_as_inputs() -> None:
    with pytest.raises(ValueError, match="is a price column, not an input"):
        Preprocessor(["smc_5m__swing_int_high"])


def test_transform_needs_a_fit_and_every_input_column() -> None:
    pre = Preprocessor(COLUMNS)
    with pytest.raises(ValueError, match="call fit"):
        pre.transform(training_set())
    pre.fit(training_set())
    with pytest.raises(ValueError, match="lack input column"):
        pre.transform(training_set().drop(columns=[COLUMNS[1]]))


def test_a_preprocessor_round_trips_through_json() -> None:
    frame = training_set(30)
    pre = Preprocessor(COLUMNS, DatasetConfig(scaling="robust")).fit(frame.iloc[:20])
    saved = json.loads(json.dumps(pre.to_dict()))
    loaded = Preprocessor.from_dict(saved)
    np.testing.assert_array_equal(loaded.transform(frame), pre.transform(frame))
    assert loaded.fitted_until == frame["event_timestamp"].iloc[19]
    assert loaded.output_names == pre.output_names


def test_a_saved_preprocessor_with_another_fingerprint_is_refused() -> None:
    saved = Preprocessor(COLUMNS).fit(training_set()).to_dict()
    saved["fingerprint"] = "0" * 64
    with pytest.raises(ValueError, match="the inputs changed"):
        Preprocessor.from_dict(saved)


def test_fingerprint_changes_when_a_column_its_order_or_the_config_changes() -> None:
    base = feature_fingerprint(COLUMNS, DatasetConfig())
    assert base == feature_fingerprint(list(COLUMNS), DatasetConfig())
    assert base != feature_fingerprint(
        [*COLUMNS[:-1], "smc_5m__swing_int_low_age"], DatasetConfig()
    )
    assert base != feature_fingerprint(COLUMNS[::-1], DatasetConfig())
    assert base != feature_fingerprint(COLUMNS, DatasetConfig(codes="ids"))
    assert base != feature_fingerprint(COLUMNS, DatasetConfig(lookback=8))
    assert Preprocessor(COLUMNS).fingerprint == base


def test_windows_end_at_their_decision_row_and_skip_gaps_and_symbol_starts() -> None:
    # Arrange: two symbols interleaved; ETH misses bar 3
    times = list(START + np.arange(6) * BAR) + list(START + np.array([0, 1, 2, 4, 5]) * BAR)
    symbols = ["BTC"] * 6 + ["ETH"] * 5
    order = np.random.default_rng(3).permutation(11)
    values = np.arange(11, dtype=float)[order][:, None]  # each row's value = its original number
    # Act
    win = sequence_windows(
        values, np.array(symbols)[order], np.array(times)[order], lookback=3, step_ns=STEP
    )
    # Assert: BTC rows 2..5 and ETH row 8 (bars 0..2) have 3 consecutive bars
    originals = order[win.rows]
    assert sorted(originals.tolist()) == [2, 3, 4, 5, 8]
    for row, window in zip(originals, win.x, strict=True):
        np.testing.assert_array_equal(window[:, 0], [row - 2, row - 1, row])
    assert win.x.shape == (5, 3, 1)
    assert win.x.dtype == np.float32


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 40)),
        min_size=1,
        max_size=80,
        unique=True,
    ),
    st.integers(1, 6),
)
def test_every_window_is_one_symbols_consecutive_bars_ending_at_its_row(
    keys: list[tuple[str, int]], lookback: int
) -> None:
    # Arrange
    symbols = np.array([s for s, _ in keys])
    bars = np.array([b for _, b in keys])
    times = START + bars * BAR
    values = np.stack([bars.astype(float), np.arange(len(keys), dtype=float)], axis=1)
    present = set(keys)
    # Act
    win = sequence_windows(values, symbols, times, lookback=lookback, step_ns=STEP)
    # Assert
    expected = [
        k for k, (s, b) in enumerate(keys) if all((s, b - j) in present for j in range(lookback))
    ]
    assert sorted(win.rows.tolist()) == expected
    for row, window in zip(win.rows, win.x, strict=True):
        np.testing.assert_array_equal(window[:, 0], bars[row] - np.arange(lookback)[::-1])
        assert window[-1, 1] == row
        assert set(symbols[window[:, 1].astype(int)]) == {symbols[row]}


def test_windows_for_chosen_rows_only_and_repeated_times_refused() -> None:
    times = START + np.arange(10) * BAR
    win = sequence_windows(
        np.ones((10, 2)), ["X"] * 10, times, lookback=4, step_ns=STEP, rows=np.array([9, 1, 5])
    )
    assert win.rows.tolist() == [9, 5]
    with pytest.raises(ValueError, match="repeats its symbol's decision time"):
        sequence_windows(
            np.ones((3, 1)), ["X"] * 3, [START, START, START + BAR], lookback=1, step_ns=STEP
        )


def test_fold_data_scales_on_training_rows_and_windows_every_part() -> None:
    # Arrange: two symbols, 60 bars each, labels 2 bars long, one fold
    frames = [training_set(60, seed=s).assign(symbol=name) for s, name in enumerate(("BTC", "ETH"))]
    frame = pd.concat(frames, ignore_index=True)
    frame["label_time"] = frame["event_timestamp"] + 2 * BAR
    frame["outcome"] = (frame["forward_return"] > 0).astype(float)
    config = SplitConfig(
        n_folds=1, min_train=40, valid_fraction=0.25, embargo_bars=2, horizon_bars=2
    )
    fold = purged_walk_forward(frame["event_timestamp"], frame["label_time"], config)[0]
    dataset_config = DatasetConfig(lookback=4)
    # Act
    data = fold_data(
        frame, fold.train, fold.valid, fold.test, columns=COLUMNS, target="outcome",
        step_ns=STEP, config=dataset_config,
    )  # fmt: skip
    # Assert
    expected = Preprocessor(COLUMNS, dataset_config).fit(frame.iloc[fold.train])
    assert data.preprocessor.to_dict() == expected.to_dict()
    for part, rows in ((data.train, fold.train), (data.valid, fold.valid), (data.test, fold.test)):
        assert set(part.rows) <= set(rows)
        np.testing.assert_array_equal(part.x[:, -1], expected.transform(frame.iloc[part.rows]))
        np.testing.assert_array_equal(part.y, frame["outcome"].to_numpy()[part.rows])
        assert (part.w == 1.0).all()
    assert data.test.rows.size == fold.test.size  # test rows have their history
    x, y, w = data.train.batch(3, 9)
    np.testing.assert_array_equal(x, data.train.x[3:9])
    np.testing.assert_array_equal(y, data.train.y[3:9])
    assert w.shape == (6,)
    assert data.train.x.shape[1:] == (4, len(expected.output_names))


def test_fold_data_refuses_a_test_row_the_scalers_saw() -> None:
    frame = training_set(40)
    frame["y"] = 1.0
    with pytest.raises(LeakageError, match="not later"):
        fold_data(
            frame, np.arange(30), np.array([], dtype=int), np.arange(25, 40), columns=COLUMNS,
            target="y", step_ns=STEP,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"codes": "bits"}, r"DatasetConfig\.codes must be one of"),
        ({"scaling": "minmax"}, r"DatasetConfig\.scaling must be one of"),
        ({"lookback": 0}, r"DatasetConfig\.lookback must be in"),
        ({"clip": 0.0}, r"DatasetConfig\.clip must be in"),
    ],
)
def test_dataset_config_is_validated(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DatasetConfig(**fields)  # type: ignore[arg-type]
