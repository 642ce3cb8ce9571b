"""OnlineScorer: bar by bar, the probabilities and sizes of the backtest's ``--model`` path."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import OHLCV
from features.layout import utc_ns
from features.model_inputs import model_input_frame
from tests.training.tiny_model import SYMBOL, TF, TIMEFRAMES, after_training, train_tiny
from training.bundle import Bundle, load_bundle
from training.datasets import input_columns
from training.online import OnlineModel, OnlineScorer, replay


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return load_bundle(train_tiny(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    frame = after_training(3)
    return frame.drop(frame.index[[500, 501]])  # a gap: no window spans it


def _backtest_p(bundle: Bundle, candles: pd.DataFrame) -> np.ndarray:
    """What ``smartmarket backtest --model`` computes (orchestration/cli/backtest.py)."""
    features = model_input_frame(candles, TF, TIMEFRAMES)
    features.insert(0, "symbol", SYMBOL)
    assert input_columns(features) == list(bundle.meta.columns)
    return bundle.predict_frame(features, np.arange(len(features)), TF.ns).to_numpy()


def test_replayed_probabilities_and_sizes_equal_the_backtest_path(
    bundle: Bundle, candles: pd.DataFrame
) -> None:
    # Arrange
    expected = _backtest_p(bundle, candles)
    scorer = OnlineScorer(bundle, TIMEFRAMES)
    # Act
    p = replay(scorer, candles)
    sizes = np.array([scorer.size(x) for x in p])
    # Assert
    assert np.array_equal(np.isnan(p), np.isnan(expected))
    assert np.isnan(p[: bundle.meta.lookback - 1]).all()
    assert np.isnan(p[500 : 500 + bundle.meta.lookback - 1]).all()  # the window after the gap
    assert np.isfinite(p).sum() > len(p) - 3 * bundle.meta.lookback
    np.testing.assert_allclose(p[np.isfinite(p)], expected[np.isfinite(expected)], atol=1e-6)
    np.testing.assert_allclose(sizes, bundle.size(np.nan_to_num(expected, nan=0.0)), atol=1e-6)


def test_the_scorer_carries_the_models_identity(bundle: Bundle) -> None:
    scorer = OnlineModel(bundle, version="3").scorer(TIMEFRAMES)

    assert scorer.version == "3"
    assert scorer.fingerprint == bundle.meta.fingerprint
    assert scorer.threshold == bundle.meta.threshold
    assert scorer.model.offered_fingerprint(TIMEFRAMES) == bundle.meta.fingerprint
    assert scorer.model.offered_fingerprint(TIMEFRAMES[:-1]) != bundle.meta.fingerprint


def test_size_is_the_bundles_and_nan_counts_as_zero(bundle: Bundle) -> None:
    scorer = OnlineScorer(bundle, TIMEFRAMES)
    high = max(scorer.threshold, 0.6)

    assert scorer.size(float("nan")) == scorer.size(0.0)
    assert scorer.size(high) == float(bundle.size(np.array([high]))[0])
    assert scorer.size(high) > 0.0


def test_warming_on_history_gives_the_same_next_probability(
    bundle: Bundle, candles: pd.DataFrame
) -> None:
    # Arrange
    head, tail = candles.iloc[:300], candles.iloc[300:320]
    full = replay(OnlineScorer(bundle, TIMEFRAMES), candles.iloc[:320])
    warmed = OnlineScorer(bundle, TIMEFRAMES)
    # Act
    last = warmed.warm(utc_ns(head.index), head[list(OHLCV)].to_numpy())
    after = replay(warmed, tail)
    # Assert
    assert last == full[299]
    np.testing.assert_array_equal(after, full[300:])


def test_tensorflow_is_not_imported_by_the_module() -> None:
    code = (
        "import training.online, sys; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_scorer_for_timeframes_without_the_models_inputs_is_refused(
    bundle: Bundle, tmp_path: Path
) -> None:
    with pytest.raises(KeyError, match="d1_"):
        OnlineScorer(bundle, TIMEFRAMES[:-1])
