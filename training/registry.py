"""The model registry at the edge: MLflow runs, one registered model, ``challenger``/``champion``.

Everything MLflow-specific lives here (imported only by the commands and assets that train,
promote or load a model). A training run logs its parameters, per-fold metrics, tags (data
span, feature fingerprint, label config, git revision) and artifacts, then the model bundle as
an MLflow pyfunc with its signature (never ``input_example``: STACK.md, mlflow#16183), registers
it as a new version of one named model and points the ``challenger`` alias at it. The promotion
gate's decision (``training.promotion``) moves ``champion``; the previous champion is recorded
on the new one, so a rollback is one call.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from training.promotion import Decision, Evidence

CHAMPION = "champion"
CHALLENGER = "challenger"
EVIDENCE_TAGS = ("sharpe", "total_return", "calmar", "n_trades", "deflated_sharpe")
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RegistryConfig:
    """Where runs and models live.

    Attributes:
        tracking_uri: MLflow tracking URI (``sqlite:///<home>/mlflow/mlflow.db`` by default; a
            tracking server or ``postgresql://`` backend by configuration).
        artifact_root: Where new experiments keep their artifacts (a local folder by default).
        model_name: The one registered model.
    """

    tracking_uri: str
    artifact_root: str
    model_name: str = "smc-meta"

    @classmethod
    def local(cls, home: Path, model_name: str = "smc-meta") -> RegistryConfig:
        """Return the embedded default under the app home."""
        folder = home / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri(), model_name)


class RegistryError(ValueError):
    """The registry cannot do what was asked (unreachable, no such version or alias)."""


def _client(config: RegistryConfig) -> MlflowClient:
    mlflow.set_tracking_uri(config.tracking_uri)
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def git_revision() -> str:
    """Return the repository's revision (``unknown`` outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def experiment_name(symbols: Sequence[str], timeframe: str) -> str:
    """One experiment per symbol set and timeframe, e.g. ``smc-meta BTC/USDT+ETH/USDT 5m``."""
    return f"smc-meta {'+'.join(sorted(symbols))} {timeframe}"


def _experiment_id(config: RegistryConfig, name: str) -> str:
    client = _client(config)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = f"{config.artifact_root.rstrip('/')}/{len(client.search_experiments()) + 1}"
    return str(client.create_experiment(name, artifact_location=location))


class _BundleModel(PythonModel):
    """pyfunc wrapper: preprocessed windows in, calibrated probabilities out."""

    def load_context(self, context: Any) -> None:
        from training.bundle import load_bundle

        self.bundle = load_bundle(Path(context.artifacts["bundle"]))

    # No type hints on the inputs: MLflow would validate them as its own list[...] types.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        del context, params
        return np.asarray(self.bundle.predict_windows(np.asarray(model_input, dtype=np.float32)))


@dataclass(frozen=True)
class LoggedModel:
    """What a training run left in the registry."""

    run_id: str
    version: str
    experiment: str


def log_training(
    config: RegistryConfig,
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    fold_metrics: Sequence[Mapping[str, float]],
    tags: Mapping[str, str],
    evidence: Evidence,
    artifacts: Path,
    bundle: Path,
    example: np.ndarray,
) -> LoggedModel:
    """Log one training run and register its bundle as the new ``challenger``.

    ``example`` is a small batch of model inputs (for the signature only); ``artifacts`` a
    folder of tables and plots; ``fold_metrics`` one mapping per fold (logged with the fold as
    the step).
    """
    from mlflow.models import infer_signature

    from training.bundle import load_bundle

    client = _client(config)
    exp_id = _experiment_id(config, experiment)
    predictions = load_bundle(bundle).predict_windows(example)
    signature = infer_signature(example, predictions)
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        for step, fold in enumerate(fold_metrics):
            finite = {f"fold_{k}": float(v) for k, v in fold.items() if np.isfinite(v)}
            mlflow.log_metrics(finite, step=step)
        mlflow.set_tags({**tags, "git_revision": git_revision()})
        mlflow.log_artifacts(str(artifacts), artifact_path="evaluation")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_BundleModel(),
            artifacts={"bundle": str(bundle)},
            signature=signature,
            pip_requirements=_requirements(),
        )
        version = mlflow.register_model(info.model_uri, config.model_name)
    for key in EVIDENCE_TAGS:
        client.set_model_version_tag(
            config.model_name, version.version, f"oos_{key}", str(getattr(evidence, key))
        )
    client.set_model_version_tag(config.model_name, version.version, "run_id", run.info.run_id)
    client.set_registered_model_alias(config.model_name, CHALLENGER, version.version)
    return LoggedModel(run.info.run_id, str(version.version), experiment)


def _requirements() -> list[str]:
    from importlib.metadata import version

    names = ("numpy", "pandas", "scikit-learn", "keras", "tensorflow", "mlflow")
    return [f"{n}=={version(n)}" for n in names]


def version_by_alias(config: RegistryConfig, alias: str) -> ModelVersion | None:
    """Return the version an alias points at, or ``None``."""
    client = _client(config)
    try:
        return client.get_model_version_by_alias(config.model_name, alias)
    except MlflowException:
        return None


def evidence_of(version: ModelVersion) -> Evidence:
    """Return the out-of-sample evidence recorded on a model version."""
    tags = version.tags or {}

    def number(key: str) -> float:
        try:
            return float(tags.get(f"oos_{key}", "nan"))
        except ValueError:
            return float("nan")

    return Evidence(
        sharpe=number("sharpe"),
        total_return=number("total_return"),
        calmar=number("calmar"),
        n_trades=int(number("n_trades")) if np.isfinite(number("n_trades")) else 0,
        deflated_sharpe=number("deflated_sharpe"),
    )


def record_decision(config: RegistryConfig, version: str, decision: Decision) -> None:
    """Record the gate's decision on ``version``; move ``champion`` to it when promoted."""
    client = _client(config)
    client.set_model_version_tag(
        config.model_name,
        version,
        "promotion",
        json.dumps({"promote": decision.promote, "reason": decision.reason}),
    )
    if decision.promote:
        set_champion(config, version, reason=decision.reason)


def set_champion(config: RegistryConfig, version: str, reason: str) -> None:
    """Point ``champion`` at ``version``, recording the previous champion on it."""
    client = _client(config)
    try:
        client.get_model_version(config.model_name, version)
    except MlflowException as exc:
        raise RegistryError(f"model {config.model_name!r} has no version {version}") from exc
    previous = version_by_alias(config, CHAMPION)
    if previous is not None and str(previous.version) == str(version):
        return
    if previous is not None:
        client.set_model_version_tag(
            config.model_name, version, "previous_champion", str(previous.version)
        )
    client.set_model_version_tag(config.model_name, version, "champion_reason", reason)
    client.set_registered_model_alias(config.model_name, CHAMPION, version)


def rollback(config: RegistryConfig) -> str:
    """Move ``champion`` back to the version it replaced; return that version."""
    current = version_by_alias(config, CHAMPION)
    if current is None:
        raise RegistryError(f"model {config.model_name!r} has no champion to roll back")
    previous = (current.tags or {}).get("previous_champion")
    if not previous:
        raise RegistryError(
            f"champion version {current.version} replaced no earlier champion: nothing to roll "
            "back to"
        )
    client = _client(config)
    client.set_model_version_tag(
        config.model_name, str(current.version), "rolled_back", f"champion returned to {previous}"
    )
    client.set_registered_model_alias(config.model_name, CHAMPION, previous)
    return previous


def list_versions(config: RegistryConfig) -> list[dict[str, Any]]:
    """Every version of the model, newest first, with its aliases and evidence."""
    client = _client(config)
    try:
        versions = client.search_model_versions(f"name='{config.model_name}'")
    except MlflowException as exc:
        raise RegistryError(f"cannot read the registry at {config.tracking_uri}: {exc}") from exc
    # search_model_versions leaves the versions' aliases empty: read them from the model
    aliases: dict[str, list[str]] = {}
    if versions:
        for alias, number in client.get_registered_model(config.model_name).aliases.items():
            aliases.setdefault(str(number), []).append(alias)
    rows = []
    for v in sorted(versions, key=lambda v: int(v.version), reverse=True):
        rows.append(
            {
                "version": str(v.version),
                "aliases": sorted(aliases.get(str(v.version), [])),
                "run_id": v.run_id,
                "created": v.creation_timestamp,
                "evidence": evidence_of(v),
                "promotion": (v.tags or {}).get("promotion", ""),
            }
        )
    return rows


def bundle_path(config: RegistryConfig, ref: str) -> Path:
    """Download (or locate) the bundle of ``ref``: an alias, a version number or a model URI."""
    if ref.startswith(("models:/", "runs:/", "file:", "/")):
        uri = ref
    elif ref.isdigit():
        uri = f"models:/{config.model_name}/{ref}"
    else:
        uri = f"models:/{config.model_name}@{ref}"
    _client(config)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"{uri.rstrip('/')}")
    except MlflowException as exc:
        raise RegistryError(f"no model at {uri} in {config.tracking_uri}: {exc}") from exc
    folder = Path(local) / "artifacts" / "bundle"
    if not folder.exists():
        raise RegistryError(f"{uri} holds no model bundle (looked in {folder})")
    return folder
