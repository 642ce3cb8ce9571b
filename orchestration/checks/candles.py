"""Asset-check results built from the candle suite (GX) and the gap report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from expectations.candles import run_candle_suite
from features.candles.ingest import IngestReport
from features.candles.schema import Timeframe
from features.candles.validate import parse_raw_candles

SUITE_CHECK = "candle_suite"
GAPS_CHECK = "gaps"


def _suite_result(
    name: str,
    key: dg.AssetKey,
    frames: Sequence[pd.DataFrame],
    timeframe: Timeframe,
    extra: dict[str, object] | None = None,
) -> dg.AssetCheckResult:
    metadata: dict[str, object] = dict(extra or {})
    passed = True
    for i, frame in enumerate(frames):
        if frame.empty:
            continue
        report = run_candle_suite(frame, timeframe)
        passed = passed and report.success
        for field, value in report.to_metadata().items():
            metadata[field if len(frames) == 1 else f"{i}:{field}"] = value
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=key,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,  # type: ignore[arg-type]
    )


def raw_suite_result(
    key: dg.AssetKey, reports: Sequence[IngestReport], timeframe: Timeframe
) -> dg.AssetCheckResult:
    """Run the suite on the rows as received, one frame per symbol."""
    by_symbol: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for report in reports:
        if len(report.raw):
            by_symbol[report.symbol].append(parse_raw_candles(report.raw, source=report.source))
    frames = [pd.concat(parts).sort_index(kind="stable") for parts in by_symbol.values()]
    quarantined = sum(r.n_quarantined for r in reports)
    return _suite_result(
        SUITE_CHECK,
        key,
        frames,
        timeframe,
        extra={"symbols": ", ".join(by_symbol), "quarantined_rows": quarantined},
    )


def stored_suite_result(
    key: dg.AssetKey, frames_by_symbol: dict[str, list[pd.DataFrame]], timeframe: Timeframe
) -> dg.AssetCheckResult:
    """Run the suite on stored candles of one timeframe, one frame per symbol."""
    frames = [pd.concat(parts) for parts in frames_by_symbol.values() if parts]
    return _suite_result(
        SUITE_CHECK, key, frames, timeframe, extra={"symbols": ", ".join(frames_by_symbol)}
    )


def gaps_check_result(key: dg.AssetKey, reports: Sequence[IngestReport]) -> dg.AssetCheckResult:
    """Warn about missing bars, listing their spans."""
    gaps = [r.gaps.assign(symbol=r.symbol) for r in reports if len(r.gaps)]
    table = pd.concat(gaps) if gaps else pd.DataFrame()
    missing = int(table["missing_bars"].sum()) if len(table) else 0
    return dg.AssetCheckResult(
        check_name=GAPS_CHECK,
        asset_key=key,
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "missing_bars": missing,
            "gap_count": len(table),
            "gaps": dg.MetadataValue.md(
                table.head(50).to_markdown(index=False) if len(table) else "none"
            ),
        },
    )
