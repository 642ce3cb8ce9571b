"""The look-ahead audit of labels and features: clean on the causal path, loud on a leak."""

from __future__ import annotations

import pandas as pd

from tests.training.test_pipeline import (
    CONFIG,
    _features,
    result,  # noqa: F401  (the trained fixture)
)
from training.leak_audit import audit_inputs, cut_points
from training.pipeline import TrainingResult


def _causal(_symbol: str, candles: pd.DataFrame) -> pd.DataFrame:
    return _features(candles)


def test_the_causal_feature_path_and_the_engine_labels_audit_clean(
    result: TrainingResult,  # noqa: F811
) -> None:
    # Act
    audit = audit_inputs(result.markets, result.columns, _causal, CONFIG.meta, cuts=2)
    # Assert
    assert audit.clean, audit.summary()
    assert audit.cuts == 2 * len(result.markets)
    assert audit.labels_checked > 0
    assert audit.feature_rows_checked > 1000


def test_a_feature_that_reads_a_later_candle_is_found_and_named(
    result: TrainingResult,  # noqa: F811
) -> None:
    # Arrange: one model input peeks three candles ahead
    column = result.columns[0]

    def leaky(_symbol: str, candles: pd.DataFrame) -> pd.DataFrame:
        frame = _features(candles)
        ahead = candles["close"].shift(-3).to_numpy()
        frame[column] = frame[column].to_numpy() + ahead
        return frame

    # Act
    audit = audit_inputs(result.markets, result.columns, leaky, CONFIG.meta, cuts=1)
    # Assert
    assert not audit.clean
    assert {f.what for f in audit.findings} == {"feature"}
    assert column in audit.findings[0].detail
    assert "finding" in audit.summary()
    assert audit.as_dict()["clean"] is False


def test_cut_points_fall_between_the_warm_up_and_the_end() -> None:
    assert cut_points(1000, 3, 400) == [400, 599, 799]
    assert cut_points(300, 3, 400) == []
