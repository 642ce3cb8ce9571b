"""A seeded app home shared by the dashboard tests, and an empty one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ("BTC/USDT", "ETH/USDT")
DAYS = 10


def drift_frames(
    shift: float, rows: int = 2000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames of six inputs; ``shift`` moves the first three."""
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c", "d", "e", "f"]
    reference = pd.DataFrame(rng.normal(size=(rows, 6)), columns=names)
    current = pd.DataFrame(rng.normal(size=(rows // 2, 6)), columns=names)
    current[["a", "b", "c"]] += shift
    return reference, current


def write_drift_snapshot(home: Path, day: str, shift: float, champion: bool = False) -> None:
    """Write a real Evidently drift snapshot of ``drift_frames(shift)`` for ``day``.

    With ``champion``, add the prediction drift of two beta samples of P (moved) and the model
    quality on 200 labels; without, the note of a registry with no champion.
    """
    from dataclasses import replace

    from dashboards.drift import drift_report, model_quality, prediction_drift, write_snapshot

    reference, current = drift_frames(shift)
    snapshot, summary = drift_report(reference, current)
    if champion:
        rng = np.random.default_rng(3)
        labels = rng.integers(0, 2, 200)
        p = np.clip(0.35 + 0.3 * labels + rng.normal(0, 0.2, 200), 0, 1)
        summary = replace(
            summary,
            predictions=prediction_drift(rng.beta(2, 5, 2000), rng.beta(5, 2, 300), 0.5,
                                         version="1"),
            quality=model_quality(p, labels, 0.5, {"auc": 0.61, "brier": 0.24, "hit_rate": 0.55}),
        )  # fmt: skip
    else:
        summary = replace(summary, prediction_note="no champion model in the registry")
    write_snapshot(snapshot, summary, home / "monitoring" / "drift" / day)


def write_dagster_events(home: Path) -> None:
    """An instance under ``<home>/dagster`` with two materializations and two checks."""
    import dagster as dg

    folder = home / "dagster"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", folder / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(folder)) as instance:
        for key in ("candles_5m", "headline_backtest"):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("candles_5m"), check_name="candle_suite", passed=True
            )
        )
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("smc_features_5m"), check_name="feature_suite", passed=False
            )
        )


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten days of two synthetic symbols (5m..4h), their backtests, a paper-trading ledger,
    drift and Dagster events."""
    from dashboards.seed import seed_home, seed_ledger

    home = tmp_path_factory.mktemp("seeded") / "home"
    seed_home(home, SYMBOLS, days=DAYS)
    seed_ledger(home, SYMBOLS[0], trades=3)
    write_drift_snapshot(home, "2024-01-09", shift=0.0)
    write_drift_snapshot(home, "2024-01-10", shift=2.0, champion=True)
    write_dagster_events(home)
    return home


@pytest.fixture
def home(seeded_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the settings at the seeded app home."""
    monkeypatch.setenv("SMARTMARKET_HOME", str(seeded_home))
    monkeypatch.setenv("SMARTMARKET_DASHBOARD_SERVICE_URL", "http://127.0.0.1:9")
    return seeded_home


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app home with nothing in it (a first run)."""
    home = tmp_path / "empty"
    monkeypatch.setenv("SMARTMARKET_HOME", str(home))
    monkeypatch.setenv("SMARTMARKET_DASHBOARD_SERVICE_URL", "http://127.0.0.1:9")
    return home
