from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from features.candles.schema import Timeframe, empty_candles
from orchestration.assets.candles import RAW_CANDLES, candles_key
from orchestration.assets.monitoring import DRIFT_SNAPSHOT
from orchestration.checks.candles import stored_suite_result
from orchestration.definitions import AUTOMATION_SENSOR, CANDLES_JOB, MAIN_JOB, build_definitions
from orchestration.partitions import candle_partitions, partition_range_tags
from orchestration.resources import build_resources
from orchestration.schedules import hourly_dates
from orchestration.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _key(date: str, symbol: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": date, "symbol": symbol})


def test_definitions_load(settings: Settings) -> None:
    defs = build_definitions(settings)

    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(CANDLES_JOB) is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    timeframes = ("5m", "15m", "1h", "4h", "1d")
    assert keys == {
        "raw_candles",
        *(f"candles_{tf}" for tf in timeframes),
        *(f"smc_features_{tf}" for tf in timeframes),
        "mtf_features",
        "feast_registry",
        "online_features",
        "training_dataset",
        "headline_backtest",
        "drift_snapshot",
        "trained_model",
    }


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "SMARTMARKET_HOME": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "HOME": str(tmp_path),
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert proc.returncode == 0, proc.stderr[-2000:]


def test_one_partition_materializes_every_timeframe_and_passes_checks(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions(settings)
    job = defs.resolve_job_def(CANDLES_JOB)

    result = job.execute_in_process(instance=instance, partition_key=_key("2024-03-01", "BTC/USDT"))

    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations
    assert all(e.passed for e in evaluations)
    store = build_resources(settings)["candle_store"].store()
    day = (pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-03-02", tz="UTC"))
    expected = {"5m": 288, "15m": 96, "1h": 24, "4h": 6, "1d": 1}
    for label, rows in expected.items():
        assert len(store.read("BTC/USDT", Timeframe.parse(label), *day)) == rows, label
    assert store.read("ETH/USDT", Timeframe.parse("5m")).empty


def test_a_range_of_partitions_runs_as_one_run(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    job = build_definitions(settings).resolve_job_def(CANDLES_JOB)

    result = job.execute_in_process(
        instance=instance,
        tags=partition_range_tags("2024-03-01", "2024-03-02", ["BTC/USDT", "ETH/USDT"]),
    )

    assert result.success
    materialized = instance.get_materialized_partitions(RAW_CANDLES)
    assert materialized == {
        _key(d, s) for d in ("2024-03-01", "2024-03-02") for s in ("BTC/USDT", "ETH/USDT")
    }
    store = build_resources(settings)["candle_store"].store()
    assert len(store.read("ETH/USDT", Timeframe.parse("1h"))) == 48


def test_raw_asset_runs_directly_with_a_partition_context(settings: Settings) -> None:
    defs = build_definitions(settings)
    raw = defs.resolve_assets_def(RAW_CANDLES)
    resources = build_resources(settings)
    context = dg.build_asset_context(partition_key=_key("2024-03-01", "ETH/USDT"))

    outputs = list(raw(context, **resources))  # type: ignore[operator]

    materialization = outputs[0]
    assert isinstance(materialization, dg.MaterializeResult)
    assert materialization.metadata is not None
    assert materialization.metadata["rows_stored"] == 288
    assert materialization.metadata["quarantined"] == 0


def test_bad_rows_are_quarantined_and_block_downstream(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "btc.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-03-01T00:00:00Z,100,101,99,100.5,10\n"
        "2024-03-01T00:05:00Z,100.5,99,101,100,10\n"  # high < low
        "2024-03-01T00:10:00Z,100,102,99,101,-3\n"  # negative volume
        "2024-03-01T00:15:00Z,101,103,100,102,12\n"
    )
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        source="file",
        file_path=path,
        symbols=["BTC/USDT"],
        start_date=dt.date(2024, 3, 1),
        history_days=1,
    )
    job = build_definitions(settings).resolve_job_def(CANDLES_JOB)

    result = job.execute_in_process(
        instance=instance, partition_key=_key("2024-03-01", "BTC/USDT"), raise_on_error=False
    )

    suite = [e for e in result.get_asset_check_evaluations() if e.check_name == "candle_suite"]
    assert [(e.asset_key, e.passed) for e in suite] == [(RAW_CANDLES, False)]
    assert not instance.get_materialized_partitions(candles_key(Timeframe.parse("1h")))
    resources = build_resources(settings)
    stored = resources["candle_store"].store().read("BTC/USDT", Timeframe.parse("5m"))
    assert list(stored.index.strftime("%H:%M")) == ["00:00", "00:15"]
    quarantined = resources["app_home"].quarantine().read()
    assert len(quarantined) == 2
    assert quarantined["reason"].str.contains("high < low").any()
    assert quarantined["reason"].str.contains("negative volume").any()


@pytest.mark.parametrize(
    ("scheduled", "dates"),
    [
        ("2024-05-02T10:05:00Z", ["2024-05-02"]),
        ("2024-05-02T00:05:00Z", ["2024-05-01", "2024-05-02"]),
    ],
)
def test_hourly_schedule_refreshes_today_and_the_just_closed_day(
    settings: Settings, scheduled: str, dates: list[str]
) -> None:
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("hourly_candles")
    context = dg.build_schedule_context(
        scheduled_execution_time=pd.Timestamp(scheduled).to_pydatetime()
    )

    requests = list(schedule(context))  # type: ignore[arg-type]

    assert hourly_dates(pd.Timestamp(scheduled)) == dates
    assert sorted(str(r.partition_key) for r in requests) == sorted(
        f"{d}|{s}" for d in dates for s in settings.symbols
    )


def test_a_partition_that_got_no_candles_fails_the_checks(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "btc.csv"  # candles of another day than the partition's
    path.write_text(
        "timestamp,open,high,low,close,volume\n2024-02-01T00:00:00Z,100,101,99,100.5,10\n"
    )
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        source="file",
        file_path=path,
        symbols=["BTC/USDT"],
        start_date=dt.date(2024, 3, 1),
        history_days=1,
    )
    job = build_definitions(settings).resolve_job_def(CANDLES_JOB)

    result = job.execute_in_process(
        instance=instance, partition_key=_key("2024-03-01", "BTC/USDT"), raise_on_error=False
    )

    suite = [e for e in result.get_asset_check_evaluations() if e.check_name == "candle_suite"]
    assert [(e.asset_key, e.passed) for e in suite] == [(RAW_CANDLES, False)]
    assert suite[0].metadata["empty_partitions"].value == "BTC/USDT 2024-03-01"


def test_stored_check_fails_a_window_that_should_hold_a_candle_but_holds_none() -> None:
    day = (pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-03-02", tz="UTC"))

    result = stored_suite_result(
        candles_key(Timeframe.parse("1d")),
        {"BTC/USDT": empty_candles()},
        {"BTC/USDT": [day]},
        Timeframe.parse("1d"),
        now=pd.Timestamp("2024-03-05", tz="UTC"),
    )
    not_yet = stored_suite_result(
        candles_key(Timeframe.parse("1d")),
        {"BTC/USDT": empty_candles()},
        {"BTC/USDT": [day]},
        Timeframe.parse("1d"),
        now=pd.Timestamp("2024-03-01T12:00", tz="UTC"),  # the day has not closed yet
    )

    assert not result.passed
    assert result.metadata["empty_partitions"].value == "BTC/USDT 2024-03-01"
    assert not_yet.passed


def test_candles_asset_repairs_higher_timeframes_an_earlier_run_left_behind(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    job = build_definitions(settings).resolve_job_def(CANDLES_JOB)
    store = build_resources(settings)["candle_store"].store()
    raw_only = job.execute_in_process(
        instance=instance,
        partition_key=_key("2024-03-01", "BTC/USDT"),
        asset_selection=[RAW_CANDLES],
    )
    assert raw_only.success  # killed before the candles asset: base stored, nothing above it
    assert store.read("BTC/USDT", Timeframe.parse("1h")).empty

    result = job.execute_in_process(instance=instance, partition_key=_key("2024-03-02", "BTC/USDT"))

    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert len(store.read("BTC/USDT", Timeframe.parse("1h"))) == 48  # both days
    assert len(store.read("BTC/USDT", Timeframe.parse("1d"))) == 2


def test_main_job_covers_every_asset_and_the_automation_sensor_runs(settings: Settings) -> None:
    defs = build_definitions(settings)

    job = defs.resolve_job_def(MAIN_JOB)
    sensor = defs.resolve_sensor_def(AUTOMATION_SENSOR)

    # every asset but the daily drift snapshot (its partitions are days) and the model (symbol
    # set x timeframe), which runs in retrain_job right after the main job
    assert job.asset_layer.executable_asset_keys == set(
        defs.resolve_asset_graph().get_all_asset_keys()
    ) - {DRIFT_SNAPSHOT, dg.AssetKey("trained_model")}
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_offline_partitions_end_with_the_configured_history(settings: Settings) -> None:
    offline = settings.model_copy(update={"history_days": 7})
    live = settings.model_copy(update={"source": "ccxt"})

    offline_days = candle_partitions(offline).get_partition_keys()
    live_days = candle_partitions(live).get_partition_keys()

    assert len(offline_days) == 7 * len(settings.symbols)  # all filled after `run --days 7`
    assert len(live_days) > len(offline_days)  # a live exchange's days run to today
