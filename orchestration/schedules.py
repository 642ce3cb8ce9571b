"""Schedules: hourly incremental ingestion of the current day; weekly retraining."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
from dagster import ScheduleEvaluationContext

from orchestration.partitions import DATE, SYMBOL


def hourly_dates(scheduled: pd.Timestamp) -> list[str]:
    """Days to refresh at ``scheduled``: today, plus yesterday during the first hour."""
    dates = {
        (scheduled - pd.Timedelta(hours=1)).strftime("%Y-%m-%d"),
        scheduled.strftime("%Y-%m-%d"),
    }
    return sorted(dates)


def build_hourly_schedule(job: dg.JobDefinition | Any, symbols: list[str]) -> dg.ScheduleDefinition:
    """Refresh today's partitions for every symbol, five minutes past each hour."""

    @dg.schedule(
        job=job,
        cron_schedule="5 * * * *",
        execution_timezone="UTC",
        name="hourly_candles",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def hourly_candles(context: ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        scheduled = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC")
        for date in hourly_dates(scheduled):
            for symbol in symbols:
                key = dg.MultiPartitionKey({DATE: date, SYMBOL: symbol})
                yield dg.RunRequest(
                    run_key=f"{date}|{symbol}|{scheduled:%Y%m%dT%H%M}", partition_key=key
                )

    return hourly_candles


def build_retrain_schedule(
    job: dg.JobDefinition | Any, partition_key: str
) -> dg.ScheduleDefinition:
    """Retrain the model of ``partition_key`` weekly (Sunday 02:00 UTC); off by default."""

    @dg.schedule(
        job=job,
        cron_schedule="0 2 * * 0",
        execution_timezone="UTC",
        name="retrain",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def retrain(context: ScheduleEvaluationContext) -> dg.RunRequest:
        scheduled = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC")
        return dg.RunRequest(
            run_key=f"retrain|{partition_key}|{scheduled:%Y%m%d}", partition_key=partition_key
        )

    return retrain
