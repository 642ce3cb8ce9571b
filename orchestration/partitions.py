"""Partitions: candles are partitioned by UTC day and symbol."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.settings import Settings

DATE = "date"
SYMBOL = "symbol"


def is_live(settings: Settings) -> bool:
    """Whether candles come from a live exchange (ccxt) and keep arriving every day."""
    return settings.env == "prod" or settings.source == "ccxt"


def candle_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    """Day x symbol partitions.

    A live exchange's days run to today (still filling) for hourly ingestion; the synthetic
    market and a file cover the configured history (``start_date`` + ``history_days``), so the
    UI shows what the main job materialized as complete rather than a sliver of the days since.
    """
    start = settings.start_date
    if is_live(settings):
        days = dg.DailyPartitionsDefinition(
            start_date=start.isoformat(), end_offset=1, timezone="UTC"
        )
    else:
        end = start + timedelta(days=settings.history_days)
        days = dg.DailyPartitionsDefinition(
            start_date=start.isoformat(), end_date=end.isoformat(), timezone="UTC"
        )
    return dg.MultiPartitionsDefinition(
        {DATE: days, SYMBOL: dg.StaticPartitionsDefinition(list(settings.symbols))}
    )


def partition_range_tags(start_date: str, end_date: str, symbols: list[str]) -> dict[str, str]:
    """Tags that make one run cover every (day, symbol) in a rectangle (single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": f"{start_date}|{symbols[0]}",
        "dagster/asset_partition_range_end": f"{end_date}|{symbols[-1]}",
    }
