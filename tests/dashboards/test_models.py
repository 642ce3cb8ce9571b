"""The Models page on an MLflow store seeded by the training pipeline itself (a tiny model)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import models

PAGE = str(Path(__file__).resolve().parents[2] / "dashboards" / "pages" / "5_Models.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app home whose registry holds v1 (champion, by hand) and v2 (refused challenger),
    registered by ``train_register`` (``dashboards.seed.seed_registry``: a tiny gbm)."""
    from dashboards.seed import seed_registry

    home = tmp_path_factory.mktemp("models") / "home"
    seed_registry(home)
    return home


@pytest.fixture
def home(store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMARTMARKET_HOME", str(store))
    return store


def test_versions_carry_aliases_evidence_and_the_gates_decisions(store: Path) -> None:
    from training.registry import RegistryConfig

    table = models.versions(RegistryConfig.local(store))

    assert isinstance(table, pd.DataFrame)
    assert table["version"].tolist() == ["2", "1"]
    assert table["aliases"].tolist() == ["challenger", "champion"]
    v2 = table.iloc[0]
    assert (v2["promoted"], v2["reason"], v2["n_trades"]) == (
        False,
        "does not beat the champion",
        12,
    )
    history = models.promotion_history(table)
    assert history["version"].tolist() == ["1", "2"]
    assert history["decision"].iloc[1] == "refused"


def test_a_run_gives_back_every_table_the_pipeline_logged(store: Path) -> None:
    from training.registry import RegistryConfig

    config = RegistryConfig.local(store)
    table = models.versions(config)
    assert isinstance(table, pd.DataFrame)

    run = models.run_detail(config, str(table.iloc[1]["run_id"]))

    assert isinstance(run, models.RunDetail)
    assert run.missing == ()
    assert {"fold", "auc", "model_filtered_return"} <= set(run.tables["folds"].columns)
    assert run.tables["calibration"]["count"].sum() > 0
    assert run.tables["importance"]["auc_drop"].is_monotonic_decreasing
    assert "model_filtered" in run.tables["equity"].columns
    assert str(pd.DatetimeIndex(run.tables["equity"].index).tz) == "UTC"
    assert run.tags["timeframe"] == "5m"


def test_the_page_shows_champion_challenger_folds_calibration_importance_history(
    home: Path,
) -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()

    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric} == {"Champion": "v1", "Challenger": "v2"}
    assert at.selectbox(key="version").value == "2"
    keys = {c.key for c in at.get("plotly_chart")}
    assert keys == {"oos_equity", "folds_chart", "calibration", "importance"}
    firsts = {d.value.columns[0] if len(d.value.columns) else "" for d in at.dataframe}
    assert {"fold", "created", "version"} <= firsts  # folds, history, versions

    at.selectbox(key="version").select("1").run()
    assert not at.exception


def test_no_store_and_an_unreadable_run_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.registry import RegistryConfig

    monkeypatch.setenv("SMARTMARKET_HOME", str(tmp_path / "empty"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    missing = models.run_detail(RegistryConfig.local(tmp_path / "other"), "0" * 32)

    assert not at.exception
    assert "no MLflow store" in at.info[0].value
    assert isinstance(missing, models.Missing)
    assert "cannot read run" in missing.message


def test_the_page_charts_the_champions_prediction_drift_of_the_latest_snapshot(
    home: Path,
) -> None:
    import shutil

    from tests.dashboards.conftest import write_drift_snapshot

    before = AppTest.from_file(PAGE, default_timeout=180).run()
    write_drift_snapshot(home, "2024-01-10", shift=0.0, champion=True)
    try:
        after = AppTest.from_file(PAGE, default_timeout=180).run()
    finally:
        shutil.rmtree(home / "monitoring")

    assert not after.exception
    assert "prediction_drift" not in {c.key for c in before.get("plotly_chart")}
    assert "No prediction drift measured yet" in " ".join(c.value for c in before.caption)
    assert "prediction_drift" in {c.key for c in after.get("plotly_chart")}
