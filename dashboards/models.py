"""The Models page's sources: the MLflow registry and what each registered run logged.

Read through the same registry configuration as training (``training.registry``): the
versions with their aliases, out-of-sample evidence and the promotion gate's decisions
(version tags written by ``record_decision`` / ``set_champion`` / ``rollback``), and per run
the evaluation tables ``train_register`` logs under ``evaluation/``: ``folds.csv``,
``summary.csv``, ``equity.csv``, ``calibration.csv``, ``importance.csv``. No Streamlit here;
every function returns data or a ``Missing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboards.loaders import Missing, _first_line, mlflow_db

if TYPE_CHECKING:
    from orchestration.settings import Settings
    from training.registry import RegistryConfig

TABLES = ("folds", "summary", "equity", "calibration", "importance")
TRAIN_FIRST = "train a model with `smartmarket train`"


def registry_of(settings: Settings) -> RegistryConfig | Missing:
    """The registry training writes: ``SMARTMARKET_MLFLOW_URI``, else ``<home>/mlflow``."""
    from training.registry import RegistryConfig

    home = settings.home_dir
    if settings.mlflow_uri is not None:
        folder = home / "mlflow"
        return RegistryConfig(
            settings.mlflow_uri.get_secret_value(), (folder / "artifacts").as_uri()
        )
    db = mlflow_db(home)
    if not db.is_file():
        return Missing(f"nothing yet: no MLflow store at {db}; {TRAIN_FIRST}")
    return RegistryConfig.local(home)


def _promotion(text: str) -> tuple[bool | None, str]:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None, text
    return data.get("promote"), str(data.get("reason", ""))


def versions(config: RegistryConfig) -> pd.DataFrame | Missing:
    """Every version, newest first: aliases, evidence, the gate's decision and the tags.

    Columns: ``version``, ``aliases``, ``created``, ``run_id``, the evidence (``sharpe``,
    ``total_return``, ``calmar``, ``n_trades``, ``deflated_sharpe``), ``promoted``,
    ``reason``, ``previous_champion``, ``champion_reason``, ``rolled_back``.
    """
    from mlflow import MlflowClient

    from training.registry import list_versions

    try:
        rows = list_versions(config)
        client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
        tags = {
            str(v.version): dict(v.tags or {})
            for v in client.search_model_versions(f"name='{config.model_name}'")
        }
    except Exception as exc:  # a store of another MLflow version, a locked file, no server
        return Missing(f"cannot read the MLflow registry: {_first_line(exc)}")
    if not rows:
        return Missing(f"no registered model {config.model_name!r} yet; {TRAIN_FIRST}")
    out = []
    for row in rows:
        t = tags.get(row["version"], {})
        promoted, reason = _promotion(row["promotion"])
        out.append(
            {
                "version": row["version"],
                "aliases": ", ".join(row["aliases"]),
                "created": pd.Timestamp(row["created"], unit="ms", tz="UTC"),
                "run_id": row["run_id"],
                **{k: getattr(row["evidence"], k) for k in ("sharpe", "total_return", "calmar",
                                                           "n_trades", "deflated_sharpe")},
                "promoted": promoted,
                "reason": reason,
                "previous_champion": t.get("previous_champion", ""),
                "champion_reason": t.get("champion_reason", ""),
                "rolled_back": t.get("rolled_back", ""),
            }
        )  # fmt: skip
    return pd.DataFrame(out)


def with_alias(table: pd.DataFrame, alias: str) -> pd.Series | None:
    """The row of the version ``alias`` points at (None: no such alias)."""
    hits = table[table["aliases"].str.split(", ").apply(lambda a: alias in a)]
    return hits.iloc[0] if len(hits) else None


def promotion_history(table: pd.DataFrame) -> pd.DataFrame:
    """The gate's decisions, oldest first: what was decided on each version, and why."""
    history = table.sort_values("created")[
        ["created", "version", "promoted", "reason", "previous_champion", "rolled_back",
         "aliases"]
    ]  # fmt: skip
    decision = history["promoted"].map({True: "promoted", False: "refused"}).fillna("no decision")
    return history.assign(decision=decision).drop(columns="promoted").reset_index(drop=True)


@dataclass(frozen=True)
class RunDetail:
    """What one registered run logged."""

    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


def run_detail(config: RegistryConfig, run_id: str) -> RunDetail | Missing:
    """The run's parameters, metrics, tags and evaluation tables (those it logged)."""
    import mlflow
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
        run = client.get_run(run_id)
        folder = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="evaluation", tracking_uri=config.tracking_uri
            )
        )
    except Exception as exc:
        return Missing(f"cannot read run {run_id}: {_first_line(exc)}")
    tables, missing = {}, []
    for name in TABLES:
        path = folder / f"{name}.csv"
        try:
            tables[name] = pd.read_csv(path, index_col=0 if name in ("summary", "equity") else None)
        except (OSError, ValueError):
            missing.append(name)
    if "equity" in tables:
        tables["equity"].index = pd.to_datetime(tables["equity"].index, utc=True)
    data = run.data
    return RunDetail(run_id, dict(data.params), dict(data.metrics),
                     {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")},
                     tables, tuple(missing))  # fmt: skip


def comparison(champion: RunDetail | None, challenger: RunDetail | None) -> pd.DataFrame:
    """Champion and challenger side by side: the out-of-sample metrics and the data span (text)."""
    keys = ["oos_auc", "model_filtered_sharpe", "model_filtered_total_return",
            "model_filtered_max_drawdown", "model_filtered_n_trades", "rules_sharpe",
            "rules_total_return", "buy_and_hold_total_return"]  # fmt: skip
    tags = ["kind", "timeframe", "symbols", "train_start", "train_end", "fingerprint"]
    columns = {}
    for name, run in (("champion", champion), ("challenger", challenger)):
        if run is None:
            continue
        values: dict[str, Any] = {k: _text(run.metrics.get(k)) for k in keys}
        values.update({t: _text(run.tags.get(t, run.params.get(t))) for t in tags})
        columns[name] = values
    return pd.DataFrame(columns, index=[*keys, *tags])


def _text(value: Any) -> str:
    """One cell of a mixed table (numbers to 4 significant digits, absent: empty)."""
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
