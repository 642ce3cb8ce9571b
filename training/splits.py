"""Purged, embargoed splits of labelled rows: walk-forward, combinatorial purged CV, and PBO.

Every row is a decision (its ``decision_time``, a bar close) whose label was read from later
prices up to its ``label_time`` (:mod:`training.labels`). Rows may come from several symbols
and in any order; windows are cut on the sorted **distinct decision times** ("bars"), so all
symbols' rows of one bar fall on the same side of every boundary. Index arrays are positions
in the given rows, ascending.

A *block* (a test or validation window) covers decision times ``start .. last``; its labels
reach ``label_end``, the latest label time of its rows. A candidate training row is

- **purged** when its label interval ``[decision_time, label_time]`` overlaps the block's
  ``[start, label_end]``: its label was read from prices the block's rows are judged on;
- **embargoed** when its decision time lies in the ``embargo_bars`` bars right after the
  block's last bar: its features were computed from those same prices (serial correlation).

Walk-forward folds (:func:`purged_walk_forward`): the test windows are consecutive, equally
long and end at the last bar; each fold trains on the bars before its test window (from the
first bar, ``expanding``, or the last ``train_size`` bars, ``sliding``), of which the latest
``valid_fraction`` is the inner validation window. Training rows are purged against the
validation and the test window, validation rows against the test window. Since every training
row precedes its test window, the embargo never removes one here; it does in
:func:`combinatorial_purged_cv`, where training rows follow test groups.

:func:`probability_of_backtest_overfitting` is the CSCV estimate of Bailey, Borwein, López de
Prado and Zhu (2017) from a matrix of per-split performance of every variant tried.

Pure: numpy and pandas.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.config import SplitConfig

_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: row positions and the bounds of its windows.

    Attributes:
        index: The fold's number, 0 first.
        train: Training rows (purged against the validation and test windows).
        valid: Inner validation rows (purged against the test window); may be empty.
        test: Test rows.
        train_start: First training decision time.
        valid_start: First validation decision time (``None`` without validation).
        test_start: First test decision time.
        test_end: Last test decision time.
        purged: Candidate training and validation rows removed by purging or the embargo.
    """

    index: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_start: pd.Timestamp
    valid_start: pd.Timestamp | None
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    purged: int


@dataclass(frozen=True)
class CPCVSplit:
    """One combinatorial purged CV split: the test groups and the row positions."""

    test_groups: tuple[int, ...]
    train: np.ndarray
    test: np.ndarray
    purged: int


@dataclass(frozen=True)
class _Rows:
    """Decision and label times in ns, the sorted distinct decision times, each row's bar."""

    decision: np.ndarray
    label: np.ndarray
    times: np.ndarray
    bar: np.ndarray


def epoch_ns(values: Any, name: str) -> np.ndarray:
    """Return datetime-like ``values`` as int64 UTC nanoseconds (naive values taken as UTC).

    Raises:
        ValueError: A value is missing (NaT), naming ``name``.
    """
    index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    out = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)  # type: ignore[attr-defined]
    if np.any(out == _NAT):
        raise ValueError(f"{name} has {int(np.sum(out == _NAT))} missing time(s)")
    return out


def _rows(decision_time: Any, label_time: Any) -> _Rows:
    decision = epoch_ns(decision_time, "splits: decision_time")
    label = epoch_ns(label_time, "splits: label_time")
    if decision.shape != label.shape:
        raise ValueError(
            f"splits: {decision.shape[0]} decision times but {label.shape[0]} label times"
        )
    early = label < decision
    if early.any():
        k = int(np.argmax(early))
        raise ValueError(
            f"splits: row {k}'s label time {pd.Timestamp(label[k], tz='UTC')} is before its "
            f"decision time {pd.Timestamp(decision[k], tz='UTC')}"
        )
    times = np.unique(decision)
    return _Rows(decision, label, times, np.searchsorted(times, decision))


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(int(ns), tz="UTC")


def _keep(rows: _Rows, candidates: np.ndarray, block: np.ndarray, embargo_bars: int) -> np.ndarray:
    """Return ``candidates`` without those purged or embargoed against the rows ``block``."""
    if block.size == 0 or candidates.size == 0:
        return candidates
    start = rows.decision[block].min()
    label_end = rows.label[block].max()
    last_bar = int(rows.bar[block].max())
    d = rows.decision[candidates]
    overlaps = (d <= label_end) & (rows.label[candidates] >= start)
    bars = rows.bar[candidates]
    embargoed = (bars > last_bar) & (bars <= last_bar + embargo_bars)
    return candidates[~(overlaps | embargoed)]


def _between(rows: _Rows, lo: int, hi: int) -> np.ndarray:
    """Return the rows whose bar lies in ``[lo, hi)``."""
    return np.flatnonzero((rows.bar >= lo) & (rows.bar < hi))


def purged_walk_forward(decision_time: Any, label_time: Any, config: SplitConfig) -> list[Fold]:
    """Return the purged walk-forward folds of the rows (see the module docstring).

    Args:
        decision_time: Each row's decision time (datetime-like, any order, repeated across
            symbols).
        label_time: Each row's label time (not before its decision time).
        config: Folds, training sizes, validation share, embargo.

    Raises:
        ValueError: Too few distinct decision times for the folds, a fold left without
            training rows after purging, or bad times (each message names the numbers).
    """
    rows = _rows(decision_time, label_time)
    n_bars = rows.times.size
    test_len = (n_bars - config.min_train) // config.n_folds
    if test_len < 1:
        raise ValueError(
            f"purged_walk_forward: {n_bars} distinct decision times are too few for "
            f"min_train={config.min_train} plus n_folds={config.n_folds} test windows of at "
            f"least one bar (need {config.min_train + config.n_folds})"
        )
    first_test = n_bars - config.n_folds * test_len
    folds: list[Fold] = []
    for k in range(config.n_folds):
        t0 = first_test + k * test_len
        t1 = t0 + test_len
        w0 = 0 if config.scheme == "expanding" else t0 - int(config.train_size or 0)
        n_valid = round(config.valid_fraction * (t0 - w0))
        v0 = t0 - n_valid
        test = _between(rows, t0, t1)
        valid_candidates = _between(rows, v0, t0)
        valid = _keep(rows, valid_candidates, test, config.embargo_bars)
        candidates = _between(rows, w0, v0)
        train = _keep(rows, _keep(rows, candidates, valid, config.embargo_bars), test,
                      config.embargo_bars)  # fmt: skip
        if train.size == 0:
            raise ValueError(
                f"purged_walk_forward: fold {k} has no training rows left: {v0 - w0} training "
                f"bars, {candidates.size} rows, all purged against labels reaching "
                f"{_stamp(rows.label[np.concatenate([valid, test])].max())}; raise min_train "
                f"or train_size, or shorten the label horizon"
            )
        purged = candidates.size - train.size + valid_candidates.size - valid.size
        folds.append(
            Fold(
                index=k,
                train=train,
                valid=valid,
                test=test,
                train_start=_stamp(rows.times[w0]),
                valid_start=_stamp(rows.times[v0]) if v0 < t0 else None,
                test_start=_stamp(rows.times[t0]),
                test_end=_stamp(rows.times[t1 - 1]),
                purged=int(purged),
            )
        )
    return folds


def combinatorial_purged_cv(
    decision_time: Any,
    label_time: Any,
    *,
    n_groups: int = 6,
    n_test_groups: int = 2,
    embargo_bars: int = 0,
) -> list[CPCVSplit]:
    """Return every combinatorial purged CV split (López de Prado, AFML ch. 12).

    The distinct decision times are cut into ``n_groups`` consecutive groups of nearly equal
    length; each of the ``C(n_groups, n_test_groups)`` splits tests on ``n_test_groups`` of
    them and trains on the rest, purged against each test group and embargoed for
    ``embargo_bars`` bars after it.

    Raises:
        ValueError: Bad group counts or fewer distinct decision times than groups.
    """
    if not 2 <= n_groups <= 64 or not 1 <= n_test_groups < n_groups:
        raise ValueError(
            f"combinatorial_purged_cv: need 2 <= n_groups <= 64 and 1 <= n_test_groups < "
            f"n_groups, got n_groups={n_groups}, n_test_groups={n_test_groups}"
        )
    if embargo_bars < 0:
        raise ValueError(f"combinatorial_purged_cv: embargo_bars must be >= 0, got {embargo_bars}")
    rows = _rows(decision_time, label_time)
    if rows.times.size < n_groups:
        raise ValueError(
            f"combinatorial_purged_cv: {rows.times.size} distinct decision times are too few "
            f"for {n_groups} groups"
        )
    edges = np.array([0, *(len(g) for g in np.array_split(np.arange(rows.times.size), n_groups))])
    bounds = np.cumsum(edges)
    groups = [_between(rows, int(bounds[g]), int(bounds[g + 1])) for g in range(n_groups)]
    splits: list[CPCVSplit] = []
    for combo in itertools.combinations(range(n_groups), n_test_groups):
        candidates = np.concatenate([groups[g] for g in range(n_groups) if g not in combo])
        candidates.sort()
        train = candidates
        for g in combo:
            train = _keep(rows, train, groups[g], embargo_bars)
        test = np.sort(np.concatenate([groups[g] for g in combo]))
        splits.append(CPCVSplit(combo, train, test, int(candidates.size - train.size)))
    return splits


def cpcv_paths(n_groups: int, n_test_groups: int) -> np.ndarray:
    """Return which split tests each group along each backtest path of CPCV.

    ``out[p, g]`` is the index (in :func:`combinatorial_purged_cv`'s order) of the split whose
    test predictions make group ``g`` of path ``p``; there are ``C(n-1, k-1)`` paths.
    """
    combos = list(itertools.combinations(range(n_groups), n_test_groups))
    n_paths = math.comb(n_groups - 1, n_test_groups - 1)
    out = np.empty((n_paths, n_groups), dtype=np.int64)
    for g in range(n_groups):
        out[:, g] = [i for i, c in enumerate(combos) if g in c]
    return out


@dataclass(frozen=True)
class PBOResult:
    """The probability of backtest overfitting and what it was computed from.

    Attributes:
        pbo: Share of in-sample/out-of-sample partitions where the in-sample best variant
            ranks at or below the out-of-sample median (logit <= 0).
        logits: Per partition, the logit of the in-sample best's relative out-of-sample rank.
        best_in_sample: Per partition, the in-sample best variant.
        n_partitions: Blocks the splits were cut into (``S``).
    """

    pbo: float
    logits: np.ndarray
    best_in_sample: np.ndarray
    n_partitions: int


def _block_metric(
    sums: np.ndarray, squares: np.ndarray, counts: np.ndarray, metric: str
) -> np.ndarray:
    mean = sums / counts[:, None]
    if metric == "mean":
        return mean
    var = np.maximum(squares / counts[:, None] - mean**2, 0.0) * counts[:, None]
    std = np.sqrt(var / np.maximum(counts[:, None] - 1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / std, 0.0)


def probability_of_backtest_overfitting(
    performance: np.ndarray | pd.DataFrame, *, n_partitions: int = 16, metric: str = "sharpe"
) -> PBOResult:
    """Return the CSCV probability of backtest overfitting of a set of variants.

    Args:
        performance: ``(T, N)``: for each of ``T`` consecutive splits or periods (rows), the
            performance of each of ``N`` variants tried (e.g. daily returns, or a per-fold
            score).
        n_partitions: ``S``, even: the rows are cut into ``S`` consecutive blocks; every half
            of them is in turn the in-sample set and the other half the out-of-sample set
            (``C(S, S/2)`` combinations).
        metric: How a variant's rows are summarised on each side: ``sharpe`` (mean / standard
            deviation) or ``mean``.

    Raises:
        ValueError: Not a finite 2-d matrix with at least 2 variants, ``S`` odd, below 2 or
            above the number of rows, or an unknown metric.
    """
    m = np.asarray(performance, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"PBO: performance must be (splits, variants>=2), got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"PBO: performance has {int((~np.isfinite(m)).sum())} non-finite values")
    if n_partitions < 2 or n_partitions % 2 or n_partitions > m.shape[0] or n_partitions > 24:
        raise ValueError(
            f"PBO: n_partitions must be even, in [2, 24] and at most the {m.shape[0]} rows, "
            f"got {n_partitions}"
        )
    if metric not in ("sharpe", "mean"):
        raise ValueError(f"PBO: metric must be 'sharpe' or 'mean', got {metric!r}")
    blocks = np.array_split(np.arange(m.shape[0]), n_partitions)
    sums = np.stack([m[b].sum(axis=0) for b in blocks])
    squares = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    counts = np.array([len(b) for b in blocks], dtype=np.float64)
    combos = itertools.combinations(range(n_partitions), n_partitions // 2)
    chosen = np.array([np.isin(np.arange(n_partitions), c) for c in combos], dtype=np.float64)
    rest = 1.0 - chosen
    is_perf = _block_metric(chosen @ sums, chosen @ squares, chosen @ counts, metric)
    oos_perf = _block_metric(rest @ sums, rest @ squares, rest @ counts, metric)
    best = np.argmax(is_perf, axis=1)
    picked = oos_perf[np.arange(len(best)), best][:, None]
    below = (oos_perf < picked).sum(axis=1)
    ties = (oos_perf == picked).sum(axis=1)
    rank = below + (ties + 1) / 2.0  # average rank, 1 = worst, N = best
    omega = rank / (m.shape[1] + 1)
    logits = np.log(omega / (1.0 - omega))
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        best_in_sample=best,
        n_partitions=n_partitions,
    )
