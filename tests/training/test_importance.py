"""Permutation importance: the input the model reads matters, the others do not."""

from __future__ import annotations

import numpy as np
import pytest

from training.importance import permutation_importance


def _data(n: int = 600, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4, 3)).astype("f4")  # windows of 4 steps, 3 inputs
    y = (x[:, -1, 1] > 0).astype(float)  # the label is the sign of input "b" at the last step
    return x, y


def _model(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-4.0 * x[:, -1, 1]))


def test_the_input_the_model_reads_comes_first_and_the_others_score_zero() -> None:
    x, y = _data()

    table = permutation_importance(_model, x, y, ["a", "b", "c"])

    assert table["input"].tolist()[0] == "b"
    assert table["auc_drop"].iloc[0] > 0.3
    assert table["log_loss_rise"].iloc[0] > 0.3
    rest = table[table["input"] != "b"]
    assert rest["auc_drop"].abs().max() == 0.0  # the model never looks at them


def test_it_is_seeded_and_samples_at_most_max_rows() -> None:
    x, y = _data(n=900)
    calls: list[int] = []

    def model(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return _model(batch)

    first = permutation_importance(model, x, y, ["a", "b", "c"], seed=3, max_rows=300)
    second = permutation_importance(_model, x, y, ["a", "b", "c"], seed=3, max_rows=300)

    assert first.equals(second)
    assert calls == [300, 900]  # the baseline, then every permuted copy in one call


def test_names_must_match_the_inputs() -> None:
    x, y = _data()

    with pytest.raises(ValueError, match="3 inputs but 2 names"):
        permutation_importance(_model, x, y, ["a", "b"])
