"""Permutation importance of the model's inputs on validation windows (cheap, seeded).

For each input, its values are shuffled across the validation windows (every time step of a
window moves together, so a window keeps its own shape) and the model predicts again; an input
matters as much as the ranking (ROC AUC) and the fit (log loss) get worse. Several permuted
copies go through one ``predict_proba`` call, so the cost is a few calls, not one per input.
Validation rows only: the test rows stay unseen, and the training rows would flatter inputs
the model memorized.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

MAX_ROWS = 2000
MAX_VALUES = 20_000_000  # float32 values per predict call (80 MB)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    seed: int = 0,
    max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """Return ``input``, ``auc_drop`` and ``log_loss_rise`` per input, most important first.

    Args:
        predict: The fitted classifier's ``predict_proba`` (windows in, P(label 1) out).
        x: Validation windows ``(m, lookback, inputs)`` (or ``(m, inputs)``).
        y: Their labels (0/1).
        names: The inputs' names (the preprocessor's output names), one per last axis entry.
        seed: Seeds the row sample and the shuffles.
        max_rows: At most this many windows are used (a seeded sample).
    """
    if x.shape[-1] != len(names):
        raise ValueError(f"permutation_importance: {x.shape[-1]} inputs but {len(names)} names")
    columns = ["input", "auc_drop", "log_loss_rise"]
    if len(x) == 0:
        return pd.DataFrame(columns=columns)
    rng = np.random.default_rng(seed)
    if len(x) > max_rows:
        keep = np.sort(rng.choice(len(x), max_rows, replace=False))
        x, y = x[keep], y[keep]
    y = np.asarray(y, dtype=np.float64)
    base = np.asarray(predict(x), dtype=np.float64).ravel()
    base_auc, base_loss = _auc(y, base), _log_loss(y, base)
    per_call = max(1, MAX_VALUES // max(1, x.size))
    rows = []
    for start in range(0, len(names), per_call):
        chunk = range(start, min(start + per_call, len(names)))
        batch = np.concatenate([_shuffled(x, j, rng) for j in chunk])
        p = np.asarray(predict(batch), dtype=np.float64).ravel().reshape(len(chunk), len(x))
        for j, pj in zip(chunk, p, strict=True):
            rows.append((names[j], base_auc - _auc(y, pj), _log_loss(y, pj) - base_loss))
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["auc_drop", "log_loss_rise"], ascending=False).reset_index(drop=True)


def _shuffled(x: np.ndarray, j: int, rng: np.random.Generator) -> np.ndarray:
    out = x.copy()
    out[..., j] = x[rng.permutation(len(x))][..., j]
    return out
