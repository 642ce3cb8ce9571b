"""Purged walk-forward folds, combinatorial purged CV and the probability of overfitting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import ConfigError, SplitConfig
from training.splits import (
    combinatorial_purged_cv,
    cpcv_paths,
    probability_of_backtest_overfitting,
    purged_walk_forward,
)

BAR = pd.Timedelta(minutes=5)
START = pd.Timestamp("2024-01-01", tz="UTC")


def dataset(
    n_bars: int, n_symbols: int = 1, horizon: int = 12, seed: int = 0
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, np.ndarray]:
    """Rows of several symbols, shuffled; each label resolves 1..horizon bars later."""
    rng = np.random.default_rng(seed)
    bars = np.tile(np.arange(n_bars), n_symbols)
    held = rng.integers(1, horizon + 1, bars.size) if horizon else np.zeros(bars.size, int)
    order = rng.permutation(bars.size)
    bars, held = bars[order], held[order]
    decision = pd.DatetimeIndex(START + bars * BAR)
    return decision, pd.DatetimeIndex(decision + held * BAR), bars


def test_expanding_folds_purge_training_labels_that_reach_the_test_window() -> None:
    # Arrange: one symbol, 100 bars, labels exactly 3 bars long
    decision = pd.date_range(START, periods=100, freq=BAR)
    label = decision + 3 * BAR
    config = SplitConfig(
        n_folds=2, min_train=40, valid_fraction=0.0, embargo_bars=3, horizon_bars=3
    )
    # Act
    folds = purged_walk_forward(decision, label, config)
    # Assert: tests are bars 40..69 and 70..99; train stops 3 bars before each
    assert [f.test.tolist() for f in folds] == [list(range(40, 70)), list(range(70, 100))]
    assert folds[0].train.tolist() == list(range(37))
    assert folds[1].train.tolist() == list(range(67))
    assert [f.purged for f in folds] == [3, 3]
    assert folds[1].test_start == decision[70]
    assert folds[1].test_end == decision[99]


def test_sliding_folds_train_on_the_last_train_size_bars_with_a_purged_validation() -> None:
    decision = pd.date_range(START, periods=100, freq=BAR)
    label = decision + 2 * BAR
    config = SplitConfig(
        n_folds=2, min_train=40, scheme="sliding", train_size=20, valid_fraction=0.25,
        embargo_bars=2, horizon_bars=2,
    )  # fmt: skip
    folds = purged_walk_forward(decision, label, config)
    # fold 1: window bars 50..69, validation 65..69 (purged against test: 65..67), train 50..62
    assert folds[1].valid.tolist() == [65, 66, 67]
    assert folds[1].train.tolist() == list(range(50, 63))
    assert folds[1].train_start == decision[50]
    assert folds[1].valid_start == decision[65]


@st.composite
def walk_forward_cases(draw: st.DrawFn) -> tuple[int, int, int, SplitConfig, int]:
    horizon = draw(st.integers(0, 15))
    n_folds = draw(st.integers(1, 6))
    min_train = draw(st.integers(3 * (horizon + 2), 150))  # room for purging
    n_bars = draw(st.integers(min_train + n_folds, min_train + 300))
    sliding = draw(st.booleans())
    train_size = draw(st.integers(3 * (horizon + 2), min_train)) if sliding else None
    config = SplitConfig(
        n_folds=n_folds,
        min_train=min_train,
        scheme="sliding" if sliding else "expanding",
        train_size=train_size,
        valid_fraction=draw(st.sampled_from([0.0, 0.1, 0.3])),
        embargo_bars=horizon + draw(st.integers(0, 5)),
        horizon_bars=horizon,
    )
    return n_bars, draw(st.integers(1, 3)), horizon, config, draw(st.integers(0, 1000))


@settings(max_examples=120, deadline=None)
@given(walk_forward_cases())
def test_no_training_label_reaches_its_test_window_and_tests_tile_the_end_in_order(
    case: tuple[int, int, int, SplitConfig, int],
) -> None:
    # Arrange
    n_bars, n_symbols, horizon, config, seed = case
    decision, label, bars = dataset(n_bars, n_symbols, horizon, seed)
    # Act
    folds = purged_walk_forward(decision, label, config)
    # Assert
    assert len(folds) == config.n_folds
    test_len = (n_bars - config.min_train) // config.n_folds
    covered = np.concatenate([np.unique(bars[f.test]) for f in folds])
    np.testing.assert_array_equal(covered, np.arange(n_bars - config.n_folds * test_len, n_bars))
    for fold in folds:
        test_start = decision[fold.test].min()
        assert (label[fold.train] < test_start).all()  # purged: no label reaches the test
        assert (label[fold.valid] < test_start).all()
        if fold.valid.size:
            assert (label[fold.train] < decision[fold.valid].min()).all()
            assert bars[fold.train].max() < bars[fold.valid].min()
        assert np.intersect1d(fold.train, fold.test).size == 0
        assert np.intersect1d(fold.valid, fold.test).size == 0
        assert np.all(np.diff(fold.train) > 0)
        assert np.all(np.diff(fold.test) > 0)
        assert fold.test.size == test_len * n_symbols
        if config.scheme == "sliding":
            first = bars[fold.test].min() - (config.train_size or 0)
            assert bars[fold.train].min() >= first
    for before, after in itertools.pairwise(folds):
        assert bars[before.test].max() + 1 == bars[after.test].min()  # in order, no overlap


def test_too_few_rows_for_the_folds_is_a_clear_error_with_the_numbers() -> None:
    decision, label, _ = dataset(50)
    config = SplitConfig(n_folds=5, min_train=48)
    with pytest.raises(
        ValueError, match=r"50 distinct decision times .* min_train=48 .*\(need 53\)"
    ):
        purged_walk_forward(decision, label, config)


def test_a_fold_whose_training_rows_are_all_purged_says_so() -> None:
    decision = pd.date_range(START, periods=30, freq=BAR)
    label = decision + 12 * BAR
    config = SplitConfig(n_folds=2, min_train=10, valid_fraction=0.0)
    with pytest.raises(ValueError, match="fold 0 has no training rows left"):
        purged_walk_forward(decision, label, config)


def test_a_label_before_its_decision_is_refused() -> None:
    decision = pd.date_range(START, periods=30, freq=BAR)
    label = decision.to_numpy().copy()
    label[7] = decision[3]
    with pytest.raises(ValueError, match="row 7's label time"):
        purged_walk_forward(decision, label, SplitConfig(n_folds=2, min_train=10))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"embargo_bars": 5, "horizon_bars": 12}, "embargo_bars .5. must be at least"),
        ({"scheme": "sliding"}, "train_size is required"),
        ({"scheme": "sliding", "train_size": 2000}, "must not exceed min_train"),
        ({"n_folds": 0}, "n_folds must be in"),
        ({"scheme": "random"}, "scheme must be one of"),
    ],
)
def test_split_config_is_validated(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SplitConfig(**fields)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(30, 200),
    st.integers(1, 3),
    st.integers(0, 10),
    st.integers(3, 8),
    st.integers(0, 15),
    st.integers(0, 1000),
)
def test_cpcv_purges_around_every_test_group_and_honours_the_embargo(
    n_bars: int, n_symbols: int, horizon: int, n_groups: int, embargo: int, seed: int
) -> None:
    # Arrange
    decision, label, bars = dataset(n_bars, n_symbols, horizon, seed)
    # Act
    splits = combinatorial_purged_cv(
        decision, label, n_groups=n_groups, n_test_groups=2, embargo_bars=embargo
    )
    # Assert
    assert len(splits) == math.comb(n_groups, 2)
    group_of = np.searchsorted(
        np.cumsum([len(g) for g in np.array_split(np.arange(n_bars), n_groups)]), bars, "right"
    )
    for split in splits:
        assert set(np.unique(group_of[split.test])) == set(split.test_groups)
        assert np.intersect1d(split.train, split.test).size == 0
        assert split.train.size + split.test.size + split.purged == bars.size
        for g in split.test_groups:
            block = np.flatnonzero(group_of == g)
            start, label_end = decision[block].min(), label[block].max()
            last = bars[block].max()
            overlap = (decision[split.train] <= label_end) & (label[split.train] >= start)
            assert not overlap.any()
            after = bars[split.train] - last
            assert not ((after > 0) & (after <= embargo)).any()  # the embargo


def test_cpcv_paths_use_each_split_for_its_test_groups() -> None:
    paths = cpcv_paths(6, 2)
    splits = combinatorial_purged_cv(
        pd.date_range(START, periods=60, freq=BAR),
        pd.date_range(START, periods=60, freq=BAR),
        n_groups=6,
        n_test_groups=2,
    )
    assert paths.shape == (5, 6)
    for path in paths:
        for group, split in enumerate(path):
            assert group in splits[split].test_groups
    counts = np.bincount(paths.ravel(), minlength=len(splits))
    assert (counts == 2).all()  # every split feeds exactly its two test groups


def test_pbo_is_zero_when_one_variant_dominates_everywhere() -> None:
    rng = np.random.default_rng(1)
    performance = rng.normal(0.0, 1.0, (64, 8))
    performance[:, 2] += 5.0
    result = probability_of_backtest_overfitting(performance, n_partitions=8)
    assert result.pbo == 0.0
    assert (result.best_in_sample == 2).all()
    assert len(result.logits) == math.comb(8, 4)


def test_pbo_is_one_when_the_in_sample_winner_always_fails_out_of_sample() -> None:
    # Arrange: variant k earns only in block k; whichever wins in sample earns nothing after
    performance = np.eye(4).repeat(5, axis=0)
    # Act
    result = probability_of_backtest_overfitting(performance, n_partitions=4, metric="mean")
    # Assert
    assert result.pbo == 1.0


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(size=(120, 10)), n_partitions=8
        ).pbo
        for seed in range(30)
    ]
    assert 0.35 < float(np.mean(values)) < 0.65


@pytest.mark.parametrize(
    ("shape", "partitions", "message"),
    [((20, 1), 4, "variants>=2"), ((20, 3), 5, "must be even"), ((6, 3), 8, "at most the 6")],
)
def test_pbo_refuses_bad_input(shape: tuple[int, int], partitions: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.zeros(shape), n_partitions=partitions)


def test_cpcv_embargo_drops_the_bars_right_after_each_test_group() -> None:
    # Arrange: 60 bars, labels resolved at their own bar (nothing to purge), 6 groups of 10
    decision = pd.date_range(START, periods=60, freq=BAR)
    # Act
    splits = combinatorial_purged_cv(
        decision, decision, n_groups=6, n_test_groups=2, embargo_bars=3
    )
    # Assert: testing groups 1 and 3 embargoes bars 20..22 and 40..42
    split = next(s for s in splits if s.test_groups == (1, 3))
    expected = [b for b in range(60) if not (10 <= b < 20 or 30 <= b < 40)]
    expected = [b for b in expected if b not in (20, 21, 22, 40, 41, 42)]
    assert split.train.tolist() == expected
    assert split.purged == 6
