"""Data drift of the model's inputs: frames in, an Evidently snapshot and a summary out.

Pure: pandas and numpy, with Evidently imported inside :func:`drift_report` (it takes seconds
to import). The Dagster asset (``orchestration/assets/monitoring.py``), the drift sensor and
the Monitoring page all read the same :class:`DriftSummary`.

Each input column is compared with the normed Wasserstein distance (Evidently's
``wasserstein`` method: the distance divided by the reference's standard deviation); a column
drifts when that distance reaches ``DriftConfig.column_threshold``. The share of drifted
inputs is what the drift sensor compares with its threshold; :func:`model_health` turns it into
the model-health flag, whose type, reader and writer live in ``serving.health`` (the engine
reads the flag without importing the dashboards).

The default per-input threshold is 0.15, not Evidently's 0.1: a daily window holds a few hundred
bars, and between two samples of one normal distribution (288 rows against 17,000) the normed
distance exceeds 0.1 for 17% of the inputs but 0.15 for 1% (measured), so 0.1 would report
drift on noise.

Prediction drift: when a champion model exists, the drift snapshot also scores the reference and
current rows with it and compares the two distributions of its calibrated P(take) with the same
normed Wasserstein distance (:func:`prediction_drift`), with each window's mean P and share at or
above the model's threshold. :func:`model_quality` measures the champion on the labelled intents
of the current window (AUC, Brier, hit rate at its threshold) against its out-of-sample figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.health import HEALTH_FILE, ModelHealth, read_model_health, write_model_health

INPUT_SEPARATOR = "__"  # Feast's full feature names: ``<view>__<feature>``
KNOWN_AT_SUFFIX = "__known_at"
METHOD = "wasserstein"
SYMBOL = "symbol"
EVENT_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class DriftConfig:
    """How drift is measured.

    Attributes:
        column_threshold: Normed Wasserstein distance at which one input counts as drifted.
        drift_share: Share of drifted inputs at which the dataset counts as drifted.
        max_reference_rows: Reference rows kept (a seeded sample), bounding the report's time.
        max_current_rows: Current rows kept (a seeded sample).
        seed: Seed of the samples.
    """

    column_threshold: float = 0.15
    drift_share: float = 0.3
    max_reference_rows: int = 5000
    max_current_rows: int = 5000
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.column_threshold > 0.0:
            raise ValueError(f"column_threshold must be > 0, got {self.column_threshold}")
        if not 0.0 < self.drift_share <= 1.0:
            raise ValueError(f"drift_share must be in (0, 1], got {self.drift_share}")
        if min(self.max_reference_rows, self.max_current_rows) < 10:
            raise ValueError("max_reference_rows and max_current_rows must be >= 10")


PREDICTION_DRIFT = 0.3  # normed Wasserstein of P(take) at which the predictions drifted
HIST_BINS = 20  # bins over [0, 1] of the stored P histograms


@dataclass(frozen=True)
class PredictionDrift:
    """How the champion's predicted probabilities moved between the two windows.

    Attributes:
        version: The champion's registry version.
        distance: Normed Wasserstein distance of current P against reference P (NaN when the
            reference P is constant).
        threshold: Distance at which the predictions count as drifted.
        model_threshold: The model's decision threshold on P.
        reference_mean: Mean P over the reference rows.
        current_mean: Mean P over the current rows.
        reference_above: Share of reference rows with P at or above ``model_threshold``.
        current_above: Share of current rows with P at or above ``model_threshold``.
        reference_rows: Reference rows scored (rows without a full window are left out).
        current_rows: Current rows scored.
        edges: Histogram bin edges over [0, 1].
        reference_hist: Share of reference P per bin.
        current_hist: Share of current P per bin.
    """

    version: str
    distance: float
    threshold: float
    model_threshold: float
    reference_mean: float
    current_mean: float
    reference_above: float
    current_above: float
    reference_rows: int
    current_rows: int
    edges: tuple[float, ...] = ()
    reference_hist: tuple[float, ...] = ()
    current_hist: tuple[float, ...] = ()

    @property
    def drifted(self) -> bool:
        """Whether ``distance`` reached ``threshold``."""
        return bool(np.isfinite(self.distance) and self.distance >= self.threshold)


@dataclass(frozen=True)
class ModelQuality:
    """The champion on the current window's labelled intents against its out-of-sample figures.

    Attributes:
        labelled: Intents whose label is known (``label_time`` passed).
        positives: Labelled intents that were worth taking.
        auc: ROC AUC of P (NaN with one class only).
        brier: Brier score of P.
        hit_rate: Share of the intents taken (P at or above the threshold) that were worth it
            (NaN when none was taken).
        taken: Intents taken.
        reference: The same figures out of sample (registry or fold table), by name.
        note: Why a figure is missing ("no labels yet").
    """

    labelled: int
    positives: int = 0
    auc: float = float("nan")
    brier: float = float("nan")
    hit_rate: float = float("nan")
    taken: int = 0
    reference: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class DriftSummary:
    """What a drift report found.

    Attributes:
        share: Share of compared inputs that drifted (0..1).
        drifted: Inputs that drifted, largest distance first.
        compared: Inputs compared.
        scores: Normed Wasserstein distance per compared input.
        skipped: Inputs left out, with why (empty or constant in the data).
        reference_rows: Reference rows compared.
        current_rows: Current rows compared.
        column_threshold: The per-input threshold used.
        drift_share: The dataset threshold used.
        predictions: Prediction drift of the champion (``None`` without a champion).
        prediction_note: Why ``predictions`` is missing.
        quality: The champion on the labelled intents (``None`` when not measured).
    """

    share: float
    drifted: tuple[str, ...]
    compared: int
    scores: dict[str, float]
    skipped: dict[str, str] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0
    column_threshold: float = 0.15
    drift_share: float = 0.3
    predictions: PredictionDrift | None = None
    prediction_note: str = ""
    quality: ModelQuality | None = None

    @property
    def prediction_drift(self) -> bool:
        """Whether the champion's predictions drifted."""
        return self.predictions is not None and self.predictions.drifted

    @property
    def dataset_drift(self) -> bool:
        """Whether the share of drifted inputs reached ``drift_share``."""
        return self.compared > 0 and self.share >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready values."""
        out = asdict(self)
        out["drifted"] = list(self.drifted)
        out["dataset_drift"] = self.dataset_drift
        out["prediction_drift"] = self.prediction_drift
        return _finite(out)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Read a summary written by :meth:`to_dict`."""
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["drifted"] = tuple(kwargs.get("drifted", ()))
        predictions = kwargs.get("predictions")
        if isinstance(predictions, Mapping):
            values = {k: _number(v) for k, v in predictions.items()}
            for key in ("edges", "reference_hist", "current_hist"):
                values[key] = tuple(values.get(key, ()))
            kwargs["predictions"] = PredictionDrift(**values)
        quality = kwargs.get("quality")
        if isinstance(quality, Mapping):
            kwargs["quality"] = ModelQuality(**{k: _number(v) for k, v in quality.items()})
        return cls(**kwargs)


def _finite(value: Any) -> Any:
    """JSON-ready copy: NaN and infinities become ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _number(value: Any) -> Any:
    """Inverse of :func:`_finite` for one field: ``None`` back to NaN."""
    return float("nan") if value is None else value


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance divided by the reference's standard deviation (Evidently's method).

    NaN when the reference is constant (the distance has no scale).
    """
    from scipy.stats import wasserstein_distance

    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if not ref.size or np.ptp(ref) == 0.0:  # np.std of equal floats can be 1e-17, not 0
        return float("nan")
    return float(wasserstein_distance(ref, cur) / np.std(ref))


def prediction_drift(
    reference: np.ndarray,
    current: np.ndarray,
    model_threshold: float,
    threshold: float = PREDICTION_DRIFT,
    version: str = "",
) -> PredictionDrift:
    """Compare the champion's P(take) on the current rows with its P on the reference rows.

    NaN probabilities (rows without a full window) are left out.

    Raises:
        ValueError: A window has no probability left, or a P lies outside [0, 1].
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    for name, values in (("reference", ref), ("current", cur)):
        if not values.size:
            raise ValueError(f"prediction drift: no {name} probability (no full input window)")
        if values.min() < 0.0 or values.max() > 1.0:
            raise ValueError(f"prediction drift: {name} probabilities outside [0, 1]")
    if not threshold > 0.0:
        raise ValueError(f"prediction drift threshold must be > 0, got {threshold}")
    edges = np.linspace(0.0, 1.0, HIST_BINS + 1)

    def hist(values: np.ndarray) -> tuple[float, ...]:
        return tuple(float(v) for v in np.histogram(values, bins=edges)[0] / values.size)

    return PredictionDrift(
        version=str(version),
        distance=normed_wasserstein(ref, cur),
        threshold=float(threshold),
        model_threshold=float(model_threshold),
        reference_mean=float(ref.mean()),
        current_mean=float(cur.mean()),
        reference_above=float(np.mean(ref >= model_threshold)),
        current_above=float(np.mean(cur >= model_threshold)),
        reference_rows=int(ref.size),
        current_rows=int(cur.size),
        edges=tuple(float(e) for e in edges),
        reference_hist=hist(ref),
        current_hist=hist(cur),
    )


def model_quality(
    p: np.ndarray,
    labels: np.ndarray,
    model_threshold: float,
    reference: Mapping[str, float] | None = None,
) -> ModelQuality:
    """AUC, Brier and hit rate at ``model_threshold`` of P on labelled intents (1: worth taking).

    Rows with a NaN P are left out; no row left gives ``note="no labels yet"``.
    """
    from sklearn.metrics import roc_auc_score

    prob = np.asarray(p, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if prob.shape != y.shape:
        raise ValueError(f"model quality: {prob.shape[0]} probabilities for {y.shape[0]} labels")
    keep = np.isfinite(prob) & np.isfinite(y)
    prob, y = prob[keep], y[keep].astype(np.int64)
    ref = {k: float(v) for k, v in (reference or {}).items()}
    if not prob.size:
        return ModelQuality(labelled=0, reference=ref, note="no labels yet")
    taken = prob >= model_threshold
    both = 0 < int(y.sum()) < y.size
    return ModelQuality(
        labelled=int(y.size),
        positives=int(y.sum()),
        auc=float(roc_auc_score(y, prob)) if both else float("nan"),
        brier=float(np.mean((prob - y) ** 2)),
        hit_rate=float(y[taken].mean()) if taken.any() else float("nan"),
        taken=int(taken.sum()),
        reference=ref,
        note="" if both else "one class only among the labels: no AUC",
    )


def input_columns(frame: pd.DataFrame) -> list[str]:
    """Return the model-input columns of a training dataset (``<view>__<feature>``)."""
    return [
        c
        for c in frame.columns
        if INPUT_SEPARATOR in str(c) and not str(c).endswith(KNOWN_AT_SUFFIX)
    ]


def inputs_by_name(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a training dataset's inputs named by feature (the view prefix dropped).

    Raises:
        ValueError: Two views share a feature name (the names would collide).
    """
    columns = input_columns(frame)
    names = [c.split(INPUT_SEPARATOR, 1)[1] for c in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"model inputs appear in more than one view: {twice[:5]}")
    out = frame[columns].astype(np.float64)
    out.columns = pd.Index(names)
    return out


def unpack_vectors(vectors: Sequence[Any], names: Sequence[str]) -> pd.DataFrame:
    """Return packed model vectors (the model view's ``vector`` column) as named columns.

    Raises:
        ValueError: A vector's length differs from ``names``.
    """
    if not len(vectors):
        return pd.DataFrame(columns=list(names), dtype=np.float64)
    matrix = np.vstack([np.asarray(v, dtype=np.float64) for v in vectors])
    if matrix.shape[1] != len(names):
        raise ValueError(
            f"model vectors hold {matrix.shape[1]} values but {len(names)} input names are "
            "known: the feature tables and the feature set disagree (rematerialize the features)"
        )
    return pd.DataFrame(matrix, columns=list(names))


def model_inputs(
    tables: Any,
    view: str,
    names: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    keys: bool = False,
) -> pd.DataFrame:
    """Return the model inputs of every symbol's candles opened in ``[start, end)``.

    Args:
        tables: ``features.tables.FeatureTables`` of the offline store.
        view: The packed model view (``model_<trading timeframe>``).
        names: The input names in the packed vector's order (``FeatureSet.model_columns``).
        start: First open time (UTC).
        end: Open time bound (exclusive).
        keys: Keep each row's ``symbol`` and ``event_timestamp`` (its close) first.
    """
    parts = []
    for symbol in tables.symbols(view):
        rows = tables.read(view, symbol, start, end, columns=["vector"])
        if len(rows):
            part = unpack_vectors(list(rows["vector"]), names)
            if keys:
                part.insert(0, EVENT_TIMESTAMP, pd.DatetimeIndex(rows[EVENT_TIMESTAMP]))
                part.insert(0, SYMBOL, rows[SYMBOL].to_numpy())
            parts.append(part)
    if not parts:
        head = [SYMBOL, EVENT_TIMESTAMP] if keys else []
        return pd.DataFrame(columns=[*head, *names], dtype=np.float64)
    return pd.concat(parts, ignore_index=True)


def scoring_frame(inputs: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return keyed inputs as a model feature frame: symbol, event_timestamp, ``columns``.

    ``columns`` are the model's inputs (``<view>__<feature>``); ``inputs`` may name them so or
    by feature only (the packed model view's names).

    Raises:
        ValueError: A key or an input of the model is missing.
    """
    missing_keys = [k for k in (SYMBOL, EVENT_TIMESTAMP) if k not in inputs.columns]
    if missing_keys:
        raise ValueError(f"cannot score the inputs: no {missing_keys} column")
    source = {}
    missing = []
    for column in columns:
        short = column.split(INPUT_SEPARATOR, 1)[-1]
        name = column if column in inputs.columns else short
        if name not in inputs.columns:
            missing.append(column)
        source[column] = name
    if missing:
        raise ValueError(
            f"the model's inputs are not in the monitored data: {missing[:5]} "
            f"({len(missing)} missing; the feature set and the champion disagree)"
        )
    out = pd.DataFrame(
        {c: inputs[n].to_numpy(dtype=np.float64) for c, n in source.items()}, index=inputs.index
    )
    out.insert(0, EVENT_TIMESTAMP, pd.DatetimeIndex(inputs[EVENT_TIMESTAMP]))
    out.insert(0, SYMBOL, inputs[SYMBOL].to_numpy())
    return out.reset_index(drop=True)


def comparable(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Return the columns both frames can be compared on, and the others with why."""
    skipped: dict[str, str] = {}
    keep: list[str] = []
    for column in reference.columns:
        if column not in current.columns:
            skipped[str(column)] = "not in the current data"
            continue
        ref = reference[column].to_numpy(dtype=np.float64)
        cur = current[column].to_numpy(dtype=np.float64)
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        if not ref.size or not cur.size:
            skipped[str(column)] = "no values in the " + (
                "reference" if not ref.size else "current"
            )
        elif np.ptp(ref) == 0.0:
            skipped[str(column)] = "constant in the reference"
        else:
            keep.append(str(column))
    return keep, skipped


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed)


def drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, config: DriftConfig | None = None
) -> tuple[Any, DriftSummary]:
    """Compare ``current`` with ``reference`` column by column with Evidently.

    Args:
        reference: Inputs of the reference window (the training window), one column each.
        current: Inputs of the window being checked, same column names.
        config: Thresholds and sample sizes.

    Returns:
        The Evidently snapshot (``save_html``/``save_json``) and the summary.

    Raises:
        ValueError: No column can be compared (none shared, or all empty or constant).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    cfg = config or DriftConfig()
    columns, skipped = comparable(reference, current)
    if not columns:
        raise ValueError(
            f"no input can be compared: {len(reference.columns)} reference and "
            f"{len(current.columns)} current columns, {len(skipped)} empty or constant"
        )
    ref = _sample(reference[columns], cfg.max_reference_rows, cfg.seed)
    cur = _sample(current[columns], cfg.max_current_rows, cfg.seed)
    definition = DataDefinition(numerical_columns=columns)
    metrics: list[Any] = [
        DriftedColumnsCount(
            drift_share=cfg.drift_share, method=METHOD, threshold=cfg.column_threshold
        )
    ]
    metrics += [
        ValueDrift(column=c, method=METHOD, threshold=cfg.column_threshold) for c in columns
    ]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(cur.reset_index(drop=True), data_definition=definition),
        Dataset.from_pandas(ref.reset_index(drop=True), data_definition=definition),
    )
    return snapshot, summarize(snapshot.dict(), cfg, skipped, len(ref), len(cur))


def summarize(
    report: Mapping[str, Any],
    config: DriftConfig,
    skipped: Mapping[str, str] | None = None,
    reference_rows: int = 0,
    current_rows: int = 0,
) -> DriftSummary:
    """Read the per-input distances of an Evidently 0.7 report dict (``snapshot.dict()``)."""
    scores = {
        str(m["config"]["column"]): float(m["value"])
        for m in report["metrics"]
        if str(m["config"]["type"]).endswith("ValueDrift")
    }
    drifted = sorted(
        (c for c, s in scores.items() if s >= config.column_threshold),
        key=lambda c: -scores[c],
    )
    return DriftSummary(
        share=len(drifted) / len(scores) if scores else 0.0,
        drifted=tuple(drifted),
        compared=len(scores),
        scores=scores,
        skipped=dict(skipped or {}),
        reference_rows=reference_rows,
        current_rows=current_rows,
        column_threshold=config.column_threshold,
        drift_share=config.drift_share,
    )


def model_health(
    summary: DriftSummary,
    threshold: float,
    partition: str,
    as_of: pd.Timestamp,
    action: str = "derisk",
    prediction_threshold: float | None = None,
) -> ModelHealth:
    """Return the flag for one snapshot.

    ``degraded`` once ``summary.share >= threshold`` or, with ``prediction_threshold``, once
    the champion's prediction drift distance reaches it; the reason names both.
    """
    if action not in ("derisk", "pause"):
        raise ValueError(f"action must be 'derisk' or 'pause', got {action!r}")
    inputs_bad = summary.compared > 0 and summary.share >= threshold
    reason = (
        f"{summary.share:.0%} of {summary.compared} model inputs drifted on {partition} "
        f"(threshold {threshold:.0%})"
    )
    pred = summary.predictions
    preds_bad = False
    if pred is not None and prediction_threshold is not None:
        preds_bad = bool(np.isfinite(pred.distance) and pred.distance >= prediction_threshold)
        reason += (
            f"; predictions of model {pred.version or '?'} moved {pred.distance:.2f} "
            f"(threshold {prediction_threshold:.2f}, mean P {pred.reference_mean:.2f} -> "
            f"{pred.current_mean:.2f})"
        )
    bad = inputs_bad or preds_bad
    return ModelHealth(
        status="degraded" if bad else "ok",
        action=action if bad else "none",
        reason=reason,
        share=summary.share,
        threshold=threshold,
        partition=partition,
        as_of=pd.Timestamp(as_of).tz_convert("UTC").isoformat(),
        drifted=summary.drifted[:10],
    )


def write_snapshot(snapshot: Any, summary: DriftSummary, folder: Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.json`` and ``summary.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": folder / "report.html",
        "json": folder / "report.json",
        "summary": folder / "summary.json",
    }
    snapshot.save_html(str(paths["html"]))
    snapshot.save_json(str(paths["json"]))
    paths["summary"].write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return paths


__all__ = [
    "HEALTH_FILE",
    "PREDICTION_DRIFT",
    "DriftConfig",
    "DriftSummary",
    "ModelHealth",
    "ModelQuality",
    "PredictionDrift",
    "comparable",
    "drift_report",
    "input_columns",
    "inputs_by_name",
    "model_health",
    "model_inputs",
    "model_quality",
    "normed_wasserstein",
    "prediction_drift",
    "read_model_health",
    "scoring_frame",
    "summarize",
    "unpack_vectors",
    "write_model_health",
    "write_snapshot",
]
