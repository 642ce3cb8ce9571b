"""Partitions: candles are partitioned by UTC day and symbol."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import Settings

DATE = "date"
SYMBOL = "symbol"


def candle_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    """Day x symbol partitions; today's (still filling) day is included for hourly ingestion."""
    return dg.MultiPartitionsDefinition(
        {
            DATE: dg.DailyPartitionsDefinition(
                start_date=settings.start_date.isoformat(), end_offset=1, timezone="UTC"
            ),
            SYMBOL: dg.StaticPartitionsDefinition(list(settings.symbols)),
        }
    )


def partition_range_tags(start_date: str, end_date: str, symbols: list[str]) -> dict[str, str]:
    """Tags that make one run cover every (day, symbol) in a rectangle (single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": f"{start_date}|{symbols[0]}",
        "dagster/asset_partition_range_end": f"{end_date}|{symbols[-1]}",
    }
