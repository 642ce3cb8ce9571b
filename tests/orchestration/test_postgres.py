"""Dagster on PostgreSQL storage and the pipeline on the PostgreSQL candle store (real server)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from features.candles.schema import Timeframe
from orchestration.definitions import CANDLES_JOB, build_definitions
from orchestration.resources import build_resources
from orchestration.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PARTITION = dg.MultiPartitionKey({"date": "2024-03-01", "symbol": "BTC/USDT"})


def _url(dsn: str) -> str:
    parts = dict(item.split("=", 1) for item in dsn.split())
    return (
        f"postgresql+psycopg2://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"
    )


@pytest.mark.services
def test_pipeline_runs_on_postgres_instance_and_postgres_store(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(
        REPO / "orchestration" / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml"
    )
    monkeypatch.setenv("DAGSTER_PG_URL", _url(pg_dsn))
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        store="postgres",
        pg_dsn=pg_dsn,
        start_date=dt.date(2024, 3, 1),
        history_days=1,
    )
    job = build_definitions(settings).resolve_job_def(CANDLES_JOB)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = job.execute_in_process(instance=instance, partition_key=PARTITION)
        stored_run = instance.get_run_by_id(result.run_id)

    assert result.success
    assert stored_run is not None
    assert stored_run.is_success
    with psycopg.connect(pg_dsn) as conn:
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()
        candles = conn.execute(
            "SELECT timeframe, count(*) FROM candles WHERE symbol = 'BTC/USDT' GROUP BY 1"
        ).fetchall()
    assert runs is not None
    assert runs[0] == 1
    assert dict(candles) == {"5m": 288, "15m": 96, "1h": 24, "4h": 6, "1d": 1}
    store = build_resources(settings)["candle_store"].store()
    assert len(store.read("BTC/USDT", Timeframe.parse("4h"))) == 6
