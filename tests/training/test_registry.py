"""The MLflow registry edge: a run registers a challenger; the gate moves champion; rollback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.test_pipeline import result  # noqa: F401  (the trained fixture)
from training.bundle import load_bundle
from training.promotion import Decision, Evidence
from training.registry import (
    CHALLENGER,
    CHAMPION,
    RegistryConfig,
    RegistryError,
    bundle_path,
    evidence_of,
    list_versions,
    log_training,
    record_decision,
    rollback,
    version_by_alias,
)

EVIDENCE = Evidence(sharpe=1.2, total_return=0.05, calmar=2.0, n_trades=40, deflated_sharpe=0.7)


def _log(config: RegistryConfig, result, tmp_path: Path) -> str:  # noqa: F811
    artifacts = tmp_path / "evaluation"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "folds.csv").write_text("fold,auc\n0,0.5\n")
    bundle = load_bundle(result.bundle)
    example = np.zeros((2, bundle.meta.lookback, len(bundle.preprocessor.output_names)), "f4")
    logged = log_training(
        config,
        experiment="smc-meta test 5m",
        params={"kind": "gbm"},
        metrics={"auc": 0.51, "nan_is_skipped": float("nan")},
        fold_metrics=[{"auc": 0.5}, {"auc": 0.52}],
        tags={"fingerprint": bundle.meta.fingerprint},
        evidence=EVIDENCE,
        artifacts=artifacts,
        bundle=result.bundle,
        example=example,
    )
    return logged.version


def test_a_run_registers_a_challenger_that_the_gate_promotes_and_rollback_undoes(
    tmp_path: Path,
    result,  # noqa: F811
) -> None:
    config = RegistryConfig.local(tmp_path / "home")

    first = _log(config, result, tmp_path)
    assert str(version_by_alias(config, CHALLENGER).version) == first
    assert version_by_alias(config, CHAMPION) is None
    record_decision(config, first, Decision(True, "beats rule-only"))
    second = _log(config, result, tmp_path)
    record_decision(config, second, Decision(True, "beats the champion"))

    assert str(version_by_alias(config, CHAMPION).version) == second
    assert evidence_of(version_by_alias(config, CHAMPION)) == EVIDENCE
    assert rollback(config) == first
    assert str(version_by_alias(config, CHAMPION).version) == first
    rows = list_versions(config)
    assert [r["version"] for r in rows] == [second, first]
    assert [r["aliases"] for r in rows] == [[CHALLENGER], [CHAMPION]]
    assert "beats the champion" in rows[0]["promotion"]


def test_the_champion_bundle_loads_back_from_the_registry(
    tmp_path: Path,
    result,  # noqa: F811
) -> None:
    config = RegistryConfig.local(tmp_path / "home")
    version = _log(config, result, tmp_path)
    record_decision(config, version, Decision(True, "first"))

    folder = bundle_path(config, CHAMPION)

    assert load_bundle(folder).meta.fingerprint == load_bundle(result.bundle).meta.fingerprint


def test_a_refused_challenger_leaves_the_champion_and_says_why(
    tmp_path: Path,
    result,  # noqa: F811
) -> None:
    config = RegistryConfig.local(tmp_path / "home")
    first = _log(config, result, tmp_path)
    record_decision(config, first, Decision(True, "first"))
    second = _log(config, result, tmp_path)

    record_decision(config, second, Decision(False, "does not beat the champion"))

    assert str(version_by_alias(config, CHAMPION).version) == first
    assert "does not beat" in list_versions(config)[0]["promotion"]


def test_rollback_without_a_previous_champion_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no champion"):
        rollback(RegistryConfig.local(tmp_path / "home"))
