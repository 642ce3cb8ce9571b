"""Candle assets: raw ingestion (day x symbol) and one asset per timeframe.

Thin by design: each asset loads its resources, calls ``features.candles.ingest`` and attaches
metadata; the candle suite (Great Expectations) runs as blocking asset checks, so bad data
stops the downstream graph with a result a person can read in the UI.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from features.candles.ingest import IngestReport, ingest_window, sync_timeframes
from features.candles.schema import CandleDataError, Timeframe
from orchestration.checks.candles import (
    GAPS_CHECK,
    SUITE_CHECK,
    gaps_check_result,
    raw_suite_result,
    stored_suite_result,
)
from orchestration.partitions import DATE, SYMBOL
from orchestration.resources import AppHomeResource, CandleStoreResource, MarketDataResource

RAW_CANDLES = dg.AssetKey("raw_candles")
PREVIEW_ROWS = 8
DAY = pd.Timedelta(days=1)


def candles_key(timeframe: Timeframe) -> dg.AssetKey:
    """Asset key of the candles of one timeframe."""
    return dg.AssetKey(f"candles_{timeframe.label}")


def day_window(date: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC ``[start, end)`` of a day partition."""
    start = pd.Timestamp(date, tz="UTC")
    return start, start + DAY


def _partitions(context: AssetExecutionContext) -> list[tuple[str, str]]:
    """``(date, symbol)`` pairs of this run, sorted (one run may cover a range)."""
    partitions_def = context.assets_def.partitions_def
    assert isinstance(partitions_def, dg.MultiPartitionsDefinition)
    pairs = []
    for key in context.partition_keys:
        dims = partitions_def.get_partition_key_from_str(key).keys_by_dimension
        pairs.append((dims[DATE], dims[SYMBOL]))
    return sorted(pairs, key=lambda p: (p[1], p[0]))


def markdown_table(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """Render the last ``rows`` of a frame as a markdown table for the UI."""
    if frame.empty:
        return "_empty_"
    return str(frame.tail(rows).to_markdown())


def _span(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    return f"{first} .. {last}" if first is not None else "empty"


def build_raw_candles_asset(
    partitions: dg.MultiPartitionsDefinition, base: Timeframe
) -> dg.AssetsDefinition:
    """Build the raw-candle ingestion asset for the base timeframe."""

    @dg.asset(
        key=RAW_CANDLES,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="market_data",
        kinds={"pandas", "parquet"},
        check_specs=[
            dg.AssetCheckSpec(
                SUITE_CHECK,
                asset=RAW_CANDLES,
                blocking=True,
                description="GX candle suite on the rows as received",
            ),
            dg.AssetCheckSpec(GAPS_CHECK, asset=RAW_CANDLES, description="Missing bars (warning)"),
        ],
        description=f"{base.label} candles as received from the market-data source; valid rows "
        "stored, bad rows quarantined with the reason, raw input archived as received.",
    )
    def raw_candles(
        context: AssetExecutionContext,
        market_data: MarketDataResource,
        candle_store: CandleStoreResource,
        app_home: AppHomeResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        source, store = market_data.source(), candle_store.store()
        archive, quarantine = app_home.raw_archive(), app_home.quarantine()
        reports: list[IngestReport] = []
        now = pd.Timestamp.now(tz="UTC")
        for date, symbol in _partitions(context):
            start, end = day_window(date)
            try:
                report = ingest_window(
                    source,
                    store,
                    archive,
                    quarantine,
                    symbol=symbol,
                    timeframe=base,
                    start=start,
                    end=end,
                    partition=date,
                )
            except CandleDataError as exc:
                raise dg.Failure(description=f"{symbol} {date}: {exc}") from exc
            reports.append(report)
        yield _raw_result(reports)
        yield raw_suite_result(RAW_CANDLES, reports, base, now=now)
        yield gaps_check_result(RAW_CANDLES, reports)

    return raw_candles


def _raw_result(reports: list[IngestReport]) -> dg.MaterializeResult:
    quarantined = pd.concat([r.quarantine for r in reports]) if reports else pd.DataFrame()
    firsts = [r.first_ts for r in reports if r.first_ts is not None]
    lasts = [r.last_ts for r in reports if r.last_ts is not None]
    return dg.MaterializeResult(
        metadata={
            "partitions": len(reports),
            "rows_received": sum(r.n_received for r in reports),
            "rows_stored": sum(r.n_stored for r in reports),
            "quarantined": sum(r.n_quarantined for r in reports),
            "out_of_order": sum(r.n_out_of_order for r in reports),
            "missing_bars": sum(r.missing_bars for r in reports),
            "span": _span(min(firsts, default=None), max(lasts, default=None)),
            "quarantine_preview": dg.MetadataValue.md(markdown_table(quarantined)),
        }
    )


def build_timeframe_assets(
    partitions: dg.MultiPartitionsDefinition, base: Timeframe, targets: Sequence[Timeframe]
) -> dg.AssetsDefinition:
    """Build one multi-asset with a ``candles_<tf>`` output per timeframe."""
    for tf in targets:
        if DAY.value % tf.ns or tf.ns % base.ns:
            raise CandleDataError(
                f"timeframe {tf.label} must divide a day and be a multiple of the base "
                f"timeframe {base.label} (candles are partitioned by UTC day)"
            )
    specs = [
        dg.AssetSpec(
            candles_key(tf),
            deps=[RAW_CANDLES],
            partitions_def=partitions,
            group_name="market_data",
            kinds={"pandas", "parquet"},
            description=f"{tf.label} candles resampled from {base.label}: UTC boundaries, "
            "closed periods only.",
        )
        for tf in targets
    ]
    checks = [
        dg.AssetCheckSpec(
            SUITE_CHECK,
            asset=candles_key(tf),
            blocking=True,
            description="GX candle suite on the stored candles",
        )
        for tf in targets
    ]

    @dg.multi_asset(
        name="candles",
        specs=specs,
        check_specs=checks,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
    )
    def candles(
        context: AssetExecutionContext, candle_store: CandleStoreResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        store = candle_store.store()
        pairs = _partitions(context)
        now = pd.Timestamp.now(tz="UTC")
        windows: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
        for date, symbol in pairs:
            windows.setdefault(symbol, []).append(day_window(date))
        repaired: dict[str, int] = dict.fromkeys((tf.label for tf in targets), 0)
        for symbol in windows:
            # the whole series, not just this run's days: higher timeframes left behind by an
            # earlier run (killed after raw_candles, say) catch up here
            for label, rows in sync_timeframes(
                store, symbol=symbol, base=base, targets=targets
            ).items():
                repaired[label] += rows
        for tf in targets:
            frames = {
                symbol: store.read(symbol, tf, spans[0][0], spans[-1][1])
                for symbol, spans in windows.items()
            }
            parts = [f for f in frames.values() if len(f)]
            frame = pd.concat(parts) if parts else pd.DataFrame()
            key = candles_key(tf)
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "rows": len(frame),
                    "rows_repaired": repaired.get(tf.label, 0),
                    "span": _span(frame.index.min(), frame.index.max()) if len(frame) else "empty",
                    "preview": dg.MetadataValue.md(markdown_table(frame)),
                },
            )
            yield stored_suite_result(key, frames, windows, tf, now=now)

    return candles
