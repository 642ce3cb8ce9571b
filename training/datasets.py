"""Model-ready arrays from the point-in-time training set, each column treated by its kind.

The input is the Feast point-in-time training set (``model_inputs_v1``): one row per decision
with ``symbol``, ``event_timestamp`` (the decision time) and the model-input columns, named
plainly (``pd_pos``) or with their view (``smc_5m__pd_pos``, ``full_feature_names``). Every
column's treatment comes from its spec in :mod:`features.schema`:

- ``flag`` (0/1) and ``direction`` (-1/0/+1): kept as they are;
- ``state`` / ``categorical`` codes: never read as magnitudes; one 0/1 column per named code
  plus one for "unknown" (``codes="onehot"``), or one integer id per column, 0 = unknown,
  ``k + 1`` = the k-th code, for an embedding layer (``codes="ids"``);
- ``ratio``: centred and scaled; ``count`` / ``age``: ``log1p`` first (``log_counts``), then
  centred and scaled; scaled values are clipped to ``[-clip, clip]``;
- ``price`` / ``time`` columns are not model inputs (:func:`features.schema.is_model_input`)
  and are refused.

**Missing values** ("not yet known": NaN, or the integer sentinel of a compact column) are
explicit: a coded column maps them to its "unknown" slot; any other column gets a 0/1
``<name>?missing`` indicator column when its spec is not ``required`` or the training rows
held a missing value, and the value itself is filled with 0 (for scaled columns: the training
mean or median). Infinite values are refused, naming the column.

:class:`Preprocessor` is fitted on the training rows only and remembers the latest decision
time it saw, so that :meth:`Preprocessor.check_unseen` can prove a test set is later than
everything the scalers saw. It serializes to a JSON-able dict.

:func:`window_index` finds the rows of the ``lookback``-bar window that ends at each decision
row, never crossing a symbol boundary or a missing bar; :func:`sequence_windows` gathers them
into ``(n, lookback, features)``; :func:`fold_data` does all of it for one fold (fit on its
training rows, windows, targets and weights of each part, gathered a batch at a time if need
be). :func:`feature_fingerprint` digests
the ordered input names, kinds, dtypes, codes and the preprocessing config: a model records
it, and serving refuses features with another.

Pure: numpy and pandas.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ColumnSpec, Kind, is_model_input, missing_value, spec_of, to_float64
from training.config import DatasetConfig
from training.splits import epoch_ns

ENTITY = "symbol"
EVENT_TIMESTAMP = "event_timestamp"
FINGERPRINT_VERSION = "training.datasets/1"
_CODED = (Kind.STATE, Kind.CATEGORICAL)
_AS_IS = (Kind.FLAG, Kind.DIRECTION)
_LOGGED = (Kind.COUNT, Kind.AGE)


class LeakageError(ValueError):
    """A preprocessor or threshold saw rows that it is now asked to judge."""


def column_spec(name: str) -> ColumnSpec:
    """Return the spec of a training-set column, plain (``pd_pos``) or view-prefixed.

    Raises:
        KeyError: No module declares the column.
    """
    try:
        return spec_of(name)
    except KeyError:
        if "__" not in name:
            raise
    return spec_of(name.split("__", 1)[1])


def input_columns(frame: pd.DataFrame) -> list[str]:
    """Return the columns of ``frame`` that are model inputs, in frame order.

    Key and label columns (no spec) and price / time columns are left out.
    """
    return input_names(list(frame.columns))


def input_names(names: Sequence[Any]) -> list[str]:
    """Return the names that are model inputs, in order (see :func:`input_columns`)."""
    out = []
    for name in names:
        try:
            spec = column_spec(str(name))
        except KeyError:
            continue
        if is_model_input(spec):
            out.append(str(name))
    return out


def feature_fingerprint(columns: Sequence[str], config: DatasetConfig) -> str:
    """Return the SHA-256 of the ordered inputs (name, kind, dtype, codes) and the config."""
    items = []
    for name in columns:
        spec = column_spec(name)
        items.append([name, spec.kind.value, spec.dtype.name, list(spec.categories)])
    payload = {"version": FINGERPRINT_VERSION, "columns": items, "config": config.as_dict()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def column_values(frame: pd.DataFrame, name: str, spec: ColumnSpec | None = None) -> np.ndarray:
    """Return one column as float64 with every "not yet known" value as NaN.

    Compact integer columns map their sentinel through :func:`features.schema.to_float64`; a
    float copy of an integer-declared column (the sentinel widened) is mapped the same way.

    Raises:
        ValueError: The column holds infinite values (naming it and the first row).
    """
    spec = spec or column_spec(name)
    values = to_float64(frame, [name])[:, 0]
    if spec.dtype.kind == "i":
        values[values == missing_value(spec.dtype)] = np.nan
    infinite = np.isinf(values)
    if infinite.any():
        k = int(np.argmax(infinite))
        raise ValueError(
            f"column {name!r} has {int(infinite.sum())} infinite value(s), first at row {k}"
        )
    return values


@dataclass
class _Plan:
    """How one input column becomes output columns (fitted parts filled by ``fit``)."""

    name: str
    kind: str
    codes: tuple[int, ...]
    categories: tuple[str, ...]
    log: bool
    center: float = 0.0
    scale: float = 1.0
    indicator: bool = False

    def outputs(self, encoding: str) -> list[str]:
        if self.codes:
            if encoding == "ids":
                return [f"{self.name}#id"]
            return [f"{self.name}={c}" for c in self.categories] + [f"{self.name}=unknown"]
        return [self.name] + ([f"{self.name}?missing"] if self.indicator else [])


@dataclass
class Preprocessor:
    """Per-kind treatment of the model inputs, fitted on training rows only.

    Use ``Preprocessor(columns, config).fit(train)`` then ``transform(any_rows)``.

    Attributes:
        columns: The input columns, in order (model inputs of :mod:`features.schema`).
        config: Encoding, scaling, clipping.
        fitted_rows: Rows ``fit`` saw (0: not fitted).
        fitted_until: The latest ``event_timestamp`` ``fit`` saw, if the rows carried one.
    """

    columns: list[str]
    config: DatasetConfig = field(default_factory=DatasetConfig)
    fitted_rows: int = 0
    fitted_until: pd.Timestamp | None = None
    _plans: list[_Plan] = field(default_factory=list, repr=False, init=False)

    def __post_init__(self) -> None:
        self.columns = [str(c) for c in self.columns]
        if not self.columns:
            raise ValueError("Preprocessor: no input columns")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("Preprocessor: input columns repeat")
        self._plans = [self._plan(name) for name in self.columns]

    def _plan(self, name: str) -> _Plan:
        spec = column_spec(name)
        if not is_model_input(spec):
            raise ValueError(f"Preprocessor: {name!r} is a {spec.kind.value} column, not an input")
        log = self.config.log_counts and spec.kind in _LOGGED
        return _Plan(name, spec.kind.value, spec.codes, spec.categories, log)

    @property
    def fingerprint(self) -> str:
        """The :func:`feature_fingerprint` of these inputs and this config."""
        return feature_fingerprint(self.columns, self.config)

    @property
    def output_names(self) -> list[str]:
        """The names of the columns :meth:`transform` returns, in order."""
        self._require_fitted()
        return [n for p in self._plans for n in p.outputs(self.config.codes)]

    @property
    def id_columns(self) -> list[tuple[int, int]]:
        """With ``codes="ids"``: (output position, number of ids incl. unknown) per coded input."""
        if self.config.codes != "ids":
            return []
        out, pos = [], 0
        for p in self._plans:
            if p.codes:
                out.append((pos, len(p.codes) + 1))
            pos += len(p.outputs(self.config.codes))
        return out

    def _require_fitted(self) -> None:
        if not self.fitted_rows:
            raise ValueError("Preprocessor: call fit(train rows) first")

    def _missing(self, frame: pd.DataFrame) -> None:
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            raise ValueError(f"Preprocessor: the rows lack input column(s) {absent[:10]}")

    def fit(self, train: pd.DataFrame) -> Preprocessor:
        """Fit centres, scales and missing indicators on ``train`` (training rows only)."""
        self._missing(train)
        if len(train) == 0:
            raise ValueError("Preprocessor.fit: no training rows")
        for p in self._plans:
            spec = column_spec(p.name)
            x = column_values(train, p.name, spec)
            nan = np.isnan(x)
            p.indicator = not p.codes and (not spec.required or bool(nan.any()))
            if p.codes or p.kind in _AS_IS:
                continue
            finite = x[~nan]
            if p.log:
                finite = np.log1p(np.maximum(finite, 0.0))
            p.center, p.scale = _center_scale(finite, self.config.scaling)
        self.fitted_rows = len(train)
        self.fitted_until = None
        if EVENT_TIMESTAMP in train.columns:
            self.fitted_until = pd.Timestamp(pd.to_datetime(train[EVENT_TIMESTAMP], utc=True).max())
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return ``frame``'s inputs as a float32 matrix (rows, :attr:`output_names`)."""
        self._require_fitted()
        self._missing(frame)
        values = np.empty((len(frame), len(self._plans)))
        for k, p in enumerate(self._plans):
            values[:, k] = column_values(frame, p.name)
        return self.transform_values(values)

    def transform_values(self, values: np.ndarray) -> np.ndarray:
        """Return the float32 outputs of input values ``(rows, len(columns))``, ``columns`` order.

        ``values`` are float64 with "not yet known" as NaN (:func:`column_values` of each
        column, e.g. a streamed model input vector); :meth:`transform` is this on a frame.

        Raises:
            ValueError: Wrong shape, or an infinite value (naming its column).
        """
        self._require_fitted()
        x_all = np.asarray(values, dtype=np.float64)
        if x_all.ndim != 2 or x_all.shape[1] != len(self._plans):
            raise ValueError(
                f"Preprocessor.transform_values: expected (rows, {len(self._plans)}) values, "
                f"got {x_all.shape}"
            )
        infinite = np.isinf(x_all).any(axis=0)
        if infinite.any():
            raise ValueError(f"column {self.columns[int(np.argmax(infinite))]!r} is infinite")
        encoding, clip = self.config.codes, self.config.clip
        widths = [len(p.outputs(encoding)) for p in self._plans]
        out = np.zeros((x_all.shape[0], sum(widths)), dtype=np.float32)
        j = 0
        for col, (p, width) in enumerate(zip(self._plans, widths, strict=True)):
            x = x_all[:, col]
            nan = np.isnan(x)
            if p.codes:
                index = np.full(x.shape, -1, dtype=np.int64)
                for k, code in enumerate(p.codes):
                    index[x == code] = k
                if encoding == "ids":
                    out[:, j] = index + 1
                else:
                    index[index < 0] = len(p.codes)  # the "unknown" column
                    out[np.arange(len(x)), j + index] = 1.0
            else:
                if p.kind in _AS_IS:
                    out[:, j] = np.where(nan, 0.0, x)
                else:
                    y = np.log1p(np.maximum(x, 0.0)) if p.log else x
                    scaled = (np.where(nan, p.center, y) - p.center) / p.scale
                    out[:, j] = np.clip(scaled, -clip, clip)
                if p.indicator:
                    out[:, j + 1] = nan
            j += width
        return out

    def fit_transform(self, train: pd.DataFrame) -> np.ndarray:
        """Fit on ``train`` and return its transform."""
        return self.fit(train).transform(train)

    def check_unseen(self, frame: pd.DataFrame) -> None:
        """Raise :class:`LeakageError` if any row of ``frame`` is not later than the fit rows.

        Call it on validation and test rows: their decision times must all be after the
        latest training decision the scalers saw.
        """
        self._require_fitted()
        if self.fitted_until is None:
            raise LeakageError("Preprocessor: fitted on rows without event_timestamp")
        if EVENT_TIMESTAMP not in frame.columns:
            raise ValueError(f"check_unseen: the rows lack {EVENT_TIMESTAMP!r}")
        times = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
        seen = int((times <= self.fitted_until).sum())
        if seen:
            raise LeakageError(
                f"the preprocessor was fitted on rows up to {self.fitted_until}: {seen} of "
                f"{len(frame)} rows here are not later (first {times.min()})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return everything needed to rebuild this preprocessor, JSON-serializable."""
        return {
            "fingerprint": self.fingerprint,
            "columns": list(self.columns),
            "config": self.config.as_dict(),
            "fitted_rows": self.fitted_rows,
            "fitted_until": None if self.fitted_until is None else self.fitted_until.isoformat(),
            "plans": [
                {
                    "name": p.name,
                    "center": p.center,
                    "scale": p.scale,
                    "indicator": p.indicator,
                }
                for p in self._plans
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        """Rebuild a preprocessor from :meth:`to_dict` (the schema must give the same inputs).

        Raises:
            ValueError: The fingerprint differs from the one the schema gives now.
        """
        pre = cls(list(data["columns"]), DatasetConfig(**data["config"]))
        if pre.fingerprint != data["fingerprint"]:
            raise ValueError(
                f"Preprocessor.from_dict: feature fingerprint {data['fingerprint'][:12]} was "
                f"saved, the schema now gives {pre.fingerprint[:12]}: the inputs changed"
            )
        for p, saved in zip(pre._plans, data["plans"], strict=True):
            p.center, p.scale = float(saved["center"]), float(saved["scale"])
            p.indicator = bool(saved["indicator"])
        pre.fitted_rows = int(data["fitted_rows"])
        until = data["fitted_until"]
        pre.fitted_until = None if until is None else pd.Timestamp(until)
        return pre


def _center_scale(values: np.ndarray, scaling: str) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 1.0
    if scaling == "robust":
        q1, median, q3 = np.percentile(values, [25.0, 50.0, 75.0])
        spread = (q3 - q1) / 1.349  # the IQR of a standard normal
        if spread > 0:
            return float(median), float(spread)
        center = float(median)
    else:
        center = float(values.mean())
    std = float(values.std())
    return center, std if std > 0 else 1.0


@dataclass(frozen=True)
class WindowIndex:
    """Which rows make each sequence window, without copying any values.

    Attributes:
        positions: ``(m, lookback)`` row positions, oldest first; ``positions[:, -1] == rows``.
        rows: Positions of each window's last row (its decision row), in the order asked.
    """

    positions: np.ndarray
    rows: np.ndarray

    def gather(self, values: np.ndarray, batch: slice | np.ndarray | None = None) -> np.ndarray:
        """Return the ``(m, lookback, features)`` float32 windows (of ``batch`` only, if given).

        Gather a batch at a time to train on more windows than fit in memory.
        """
        positions = self.positions if batch is None else self.positions[batch]
        return np.asarray(values, dtype=np.float32)[positions]


@dataclass(frozen=True)
class Windows:
    """Sequence windows and the decision rows they end at.

    Attributes:
        x: ``(m, lookback, features)`` float32; ``x[i, -1]`` is row ``rows[i]``.
        rows: Positions (in the input rows) of each window's last row, in the order asked.
    """

    x: np.ndarray
    rows: np.ndarray


def window_index(
    symbols: Sequence[str] | np.ndarray | pd.Series,
    times: Any,
    *,
    lookback: int,
    step_ns: int,
    rows: np.ndarray | None = None,
) -> WindowIndex:
    """Return the windows of ``lookback`` consecutive bars ending at each of ``rows``.

    The rows may come in any order; a window holds one symbol's rows at decision times
    exactly ``step_ns`` apart, the last being the decision row. A row without ``lookback - 1``
    such predecessors (start of a symbol's data, after a missing bar) gets no window and is
    left out of :attr:`WindowIndex.rows`.

    Args:
        symbols: Each row's symbol.
        times: Each row's decision time (datetime-like).
        lookback: Bars per window (1: the row alone).
        step_ns: The timeframe in nanoseconds.
        rows: The decision rows wanted (e.g. ``fold.train``); every row when ``None``.

    Raises:
        ValueError: Lengths differ, a symbol has two rows at one time, or bad sizes.
    """
    if lookback < 1 or step_ns <= 0:
        raise ValueError(f"window_index: lookback {lookback} and step_ns {step_ns} must be > 0")
    codes = pd.factorize(np.asarray(symbols))[0]
    t = epoch_ns(times, "window_index: times")
    n = codes.shape[0]
    if t.shape[0] != n:
        raise ValueError(f"window_index: {n} symbols but {t.shape[0]} times")
    order = np.lexsort((t, codes))
    same = codes[order][1:] == codes[order][:-1]
    gap = np.diff(t[order])
    if np.any(same & (gap == 0)):
        k = int(order[1:][np.argmax(same & (gap == 0))])
        raise ValueError(f"window_index: row {k} repeats its symbol's decision time")
    starts = np.ones(n, dtype=bool)
    starts[1:] = ~(same & (gap == step_ns))
    position = np.arange(n)
    run = position - np.maximum.accumulate(np.where(starts, position, 0)) + 1
    where = np.empty(n, dtype=np.int64)
    where[order] = position
    wanted = position if rows is None else np.asarray(rows, dtype=np.int64)
    ends = where[wanted]
    ok = run[ends] >= lookback
    sorted_positions = ends[ok][:, None] - (lookback - 1) + np.arange(lookback)[None, :]
    return WindowIndex(order[sorted_positions].reshape(-1, lookback), wanted[ok])


def sequence_windows(
    values: np.ndarray,
    symbols: Sequence[str] | np.ndarray | pd.Series,
    times: Any,
    *,
    lookback: int,
    step_ns: int,
    rows: np.ndarray | None = None,
) -> Windows:
    """Return the float32 windows of :func:`window_index`, gathered from ``values``.

    ``values`` is ``(n, features)`` aligned with ``symbols`` and ``times`` (e.g.
    :meth:`Preprocessor.transform` of the rows). All windows are materialized at once: for
    more than fit in memory, use :func:`window_index` and gather batches.

    Raises:
        ValueError: ``values`` is not ``(n, features)`` for the ``n`` rows, or as
            :func:`window_index`.
    """
    x = np.asarray(values)
    index = window_index(symbols, times, lookback=lookback, step_ns=step_ns, rows=rows)
    if x.ndim != 2 or x.shape[0] != len(np.asarray(symbols)):
        raise ValueError(
            f"sequence_windows: values must be (rows, features) for the "
            f"{len(np.asarray(symbols))} rows, got {x.shape}"
        )
    return Windows(index.gather(x), index.rows)


@dataclass(frozen=True)
class Part:
    """One part of a fold (train, valid or test): windows, targets and weights.

    Attributes:
        values: The transformed rows of the whole training set (shared by the parts).
        windows: Which rows make each window; :attr:`x` gathers them.
        y: The target of each window's decision row.
        w: The sample weight of each row (1 when no weight column is given).
    """

    values: np.ndarray
    windows: WindowIndex
    y: np.ndarray
    w: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """Positions of the decision rows in the training set."""
        return self.windows.rows

    @property
    def x(self) -> np.ndarray:
        """All windows, ``(m, lookback, outputs)`` float32 (materialized on each access)."""
        return self.windows.gather(self.values)

    def batch(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return windows, targets and weights of windows ``start:stop``."""
        window = slice(start, stop)
        return self.windows.gather(self.values, window), self.y[window], self.w[window]


@dataclass(frozen=True)
class FoldData:
    """A fold's arrays and the preprocessor fitted on its training rows."""

    train: Part
    valid: Part
    test: Part
    preprocessor: Preprocessor


def fold_data(
    frame: pd.DataFrame,
    train: np.ndarray,
    valid: np.ndarray,
    test: np.ndarray,
    *,
    columns: Sequence[str],
    target: str,
    step_ns: int,
    config: DatasetConfig | None = None,
    weight: str | None = None,
) -> FoldData:
    """Return a fold's windows, targets and weights, scaled by a fit on ``train`` alone.

    Args:
        frame: The training set (``symbol``, ``event_timestamp``, inputs, target, weight).
        train: Training row positions (e.g. ``Fold.train``); the preprocessor sees only these.
        valid: Validation row positions (``Fold.valid``; may be empty).
        test: Test row positions (``Fold.test``).
        columns: The model inputs, in order.
        target: The target column (e.g. a label outcome).
        step_ns: The timeframe in nanoseconds (windows never cross a missing bar).
        config: Encoding, scaling and ``lookback``.
        weight: A sample-weight column (e.g. uniqueness), or ``None`` for 1.

    Raises:
        LeakageError: A validation or test row is not later than every training row.
        ValueError: Missing columns, or a target / weight that is not finite on a used row.
    """
    config = config or DatasetConfig()
    missing = [c for c in (ENTITY, EVENT_TIMESTAMP, target, weight) if c and c not in frame]
    if missing:
        raise ValueError(f"fold_data: the training set lacks column(s) {missing}")
    pre = Preprocessor(list(columns), config).fit(frame.iloc[np.asarray(train)])
    pre.check_unseen(frame.iloc[np.concatenate([np.asarray(valid), np.asarray(test)])])
    values = pre.transform(frame)
    y_all = frame[target].to_numpy(dtype=np.float64)
    w_all = np.ones(len(frame)) if weight is None else frame[weight].to_numpy(dtype=np.float64)
    symbols, times = frame[ENTITY].to_numpy(), frame[EVENT_TIMESTAMP]

    def part(rows: np.ndarray) -> Part:
        win = window_index(symbols, times, lookback=config.lookback, step_ns=step_ns, rows=rows)
        y, w = y_all[win.rows], w_all[win.rows]
        bad = ~(np.isfinite(y) & np.isfinite(w))
        if bad.any():
            k = int(win.rows[np.argmax(bad)])
            raise ValueError(f"fold_data: row {k} has a non-finite {target!r} or weight")
        return Part(values, win, y, w)

    return FoldData(part(train), part(valid), part(test), pre)
