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

    @property
    def dataset_drift(self) -> bool:
        """Whether the share of drifted inputs reached ``drift_share``."""
        return self.compared > 0 and self.share >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready values."""
        out = asdict(self)
        out["drifted"] = list(self.drifted)
        out["dataset_drift"] = self.dataset_drift
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Read a summary written by :meth:`to_dict`."""
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["drifted"] = tuple(kwargs.get("drifted", ()))
        return cls(**kwargs)


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
) -> pd.DataFrame:
    """Return the model inputs of every symbol's candles opened in ``[start, end)``.

    Args:
        tables: ``features.tables.FeatureTables`` of the offline store.
        view: The packed model view (``model_<trading timeframe>``).
        names: The input names in the packed vector's order (``FeatureSet.model_columns``).
        start: First open time (UTC).
        end: Open time bound (exclusive).
    """
    parts = []
    for symbol in tables.symbols(view):
        rows = tables.read(view, symbol, start, end, columns=["vector"])
        if len(rows):
            parts.append(unpack_vectors(list(rows["vector"]), names))
    if not parts:
        return pd.DataFrame(columns=list(names), dtype=np.float64)
    return pd.concat(parts, ignore_index=True)


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
) -> ModelHealth:
    """Return the flag for one snapshot: ``degraded`` once ``summary.share >= threshold``."""
    if action not in ("derisk", "pause"):
        raise ValueError(f"action must be 'derisk' or 'pause', got {action!r}")
    bad = summary.compared > 0 and summary.share >= threshold
    reason = (
        f"{summary.share:.0%} of {summary.compared} model inputs drifted on {partition} "
        f"(threshold {threshold:.0%})"
    )
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
    "DriftConfig",
    "DriftSummary",
    "ModelHealth",
    "comparable",
    "drift_report",
    "input_columns",
    "inputs_by_name",
    "model_health",
    "model_inputs",
    "read_model_health",
    "summarize",
    "unpack_vectors",
    "write_model_health",
    "write_snapshot",
]
