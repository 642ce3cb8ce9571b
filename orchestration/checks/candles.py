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


Window = tuple[pd.Timestamp, pd.Timestamp]


def expects_candles(
    start: pd.Timestamp, end: pd.Timestamp, timeframe: Timeframe, now: pd.Timestamp
) -> bool:
    """Whether ``[start, end)`` should hold a candle by ``now``: one of its periods has closed."""
    return start + timeframe.delta <= min(end, now)


def _suite_result(
    name: str,
    key: dg.AssetKey,
    frames: Sequence[pd.DataFrame],
    timeframe: Timeframe,
    empty: Sequence[str],
    extra: dict[str, object],
) -> dg.AssetCheckResult:
    """Run the suite on each non-empty frame; fail if a window that expected candles has none."""
    metadata: dict[str, object] = dict(extra)
    passed = not empty
    metadata["empty_partitions"] = ", ".join(empty) if empty else "none"
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
        description=f"no candles in {len(empty)} partition(s) that expected them"
        if empty
        else None,
        metadata=metadata,  # type: ignore[arg-type]
    )


def raw_suite_result(
    key: dg.AssetKey, reports: Sequence[IngestReport], timeframe: Timeframe, *, now: pd.Timestamp
) -> dg.AssetCheckResult:
    """Run the suite on the rows as received, one frame per symbol.

    A window that should hold a closed candle by ``now`` but received none (an unknown
    symbol, a source that answers nothing) fails the check.
    """
    by_symbol: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for report in reports:
        if len(report.raw):
            by_symbol[report.symbol].append(parse_raw_candles(report.raw, source=report.source))
    frames = [pd.concat(parts).sort_index(kind="stable") for parts in by_symbol.values()]
    empty = [
        f"{r.symbol} {r.partition}"
        for r in reports
        if r.n_received == 0
        and r.start is not None
        and expects_candles(r.start, r.end if r.end is not None else now, timeframe, now)
    ]
    quarantined = sum(r.n_quarantined for r in reports)
    symbols = ", ".join(dict.fromkeys(r.symbol for r in reports))
    return _suite_result(
        SUITE_CHECK,
        key,
        frames,
        timeframe,
        empty,
        extra={"symbols": symbols, "quarantined_rows": quarantined},
    )


def stored_suite_result(
    key: dg.AssetKey,
    frames_by_symbol: dict[str, pd.DataFrame],
    windows: dict[str, list[Window]],
    timeframe: Timeframe,
    *,
    now: pd.Timestamp,
) -> dg.AssetCheckResult:
    """Run the suite on stored candles of one timeframe, one frame per symbol.

    Each ``(start, end)`` window of a symbol that should hold a closed ``timeframe`` candle by
    ``now`` but holds none fails the check.
    """
    empty = []
    for symbol, spans in windows.items():
        index = frames_by_symbol[symbol].index
        for start, end in spans:
            inside = bool(((index >= start) & (index < end)).any())
            if not inside and expects_candles(start, end, timeframe, now):
                empty.append(f"{symbol} {start:%Y-%m-%d}")
    frames = [frame for frame in frames_by_symbol.values() if len(frame)]
    return _suite_result(
        SUITE_CHECK,
        key,
        frames,
        timeframe,
        empty,
        extra={"symbols": ", ".join(frames_by_symbol)},
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
