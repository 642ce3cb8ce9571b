"""Gap report: which candle open times are missing between the first and the last candle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe

GAP_COLUMNS: tuple[str, ...] = ("start", "end", "missing_bars")


def empty_gaps() -> pd.DataFrame:
    """Return an empty gap report with the right columns and dtypes."""
    empty = pd.DatetimeIndex([], tz="UTC").as_unit("ns")
    return pd.DataFrame({"start": empty, "end": empty, "missing_bars": np.array([], dtype="int64")})


def utc_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Return times as int64 UTC nanoseconds (naive means UTC; NaT is the minimum int64)."""
    utc = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return utc.as_unit("ns").to_numpy(dtype="datetime64[ns]").view("int64")


def from_utc_ns(ns: np.ndarray, name: str | None = None) -> pd.DatetimeIndex:
    """Build a UTC DatetimeIndex from int64 nanoseconds (the minimum int64 is NaT)."""
    naive = pd.DatetimeIndex(np.asarray(ns, dtype="int64").view("datetime64[ns]"), name=name)
    return naive.tz_localize("UTC")


def _sorted_unique_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Return the sorted unique open times of ``index`` as UTC nanoseconds, NaT dropped."""
    if not isinstance(index, pd.DatetimeIndex):
        raise CandleDataError(
            f"find_gaps needs a DatetimeIndex of candle open times, got {type(index).__name__}"
        )
    ns = utc_ns(index)
    ns = ns[ns != np.iinfo(np.int64).min]
    if len(ns) > 1 and not bool(np.all(ns[1:] > ns[:-1])):
        ns = np.unique(ns)
    return ns


def find_gaps(index: pd.DatetimeIndex, timeframe: Timeframe | str) -> pd.DataFrame:
    """Find runs of missing candles between consecutive open times.

    Args:
        index: Candle open times (any order; duplicates and NaT are ignored; naive means UTC).
        timeframe: The candle timeframe.

    Returns:
        One row per gap: ``start`` (first missing open time), ``end`` (last missing open
        time), ``missing_bars``; sorted by ``start``. Missing times are counted on the grid
        of the candle before the gap.
    """
    tf = Timeframe.parse(timeframe)
    ns = _sorted_unique_ns(index)
    if len(ns) < 2:
        return empty_gaps()
    step = np.diff(ns)
    at = np.flatnonzero(step > tf.ns)
    if len(at) == 0:
        return empty_gaps()
    missing = (step[at] - 1) // tf.ns
    start = ns[at] + tf.ns
    end = ns[at] + missing * tf.ns
    return pd.DataFrame(
        {
            "start": from_utc_ns(start),
            "end": from_utc_ns(end),
            "missing_bars": missing.astype("int64"),
        }
    )


def summarize_gaps(gaps: pd.DataFrame, *, n_bars: int | None = None) -> dict[str, object]:
    """Summarize a gap report as JSON-friendly metadata.

    Args:
        gaps: A frame from ``find_gaps``.
        n_bars: Number of candles present; when given, ``completeness`` (present / expected
            over the covered span) is added.

    Returns:
        ``n_gaps``, ``missing_bars``, ``largest_gap_bars``, ``largest_gap_start`` and
        ``largest_gap_end`` (ISO 8601 or ``None``), plus ``completeness`` when asked.
    """
    missing = int(gaps["missing_bars"].sum()) if len(gaps) else 0
    summary: dict[str, object] = {"n_gaps": len(gaps), "missing_bars": missing}
    if len(gaps):
        at = int(np.argmax(gaps["missing_bars"].to_numpy()))
        summary["largest_gap_bars"] = int(gaps["missing_bars"].iloc[at])
        summary["largest_gap_start"] = _iso(gaps["start"].iloc[at])
        summary["largest_gap_end"] = _iso(gaps["end"].iloc[at])
    else:
        summary.update(largest_gap_bars=0, largest_gap_start=None, largest_gap_end=None)
    if n_bars is not None:
        expected = n_bars + missing
        summary["completeness"] = round(n_bars / expected, 6) if expected else 1.0
    return summary


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, pd.Timestamp) else str(value)


def gaps_to_markdown(gaps: pd.DataFrame, *, limit: int = 10) -> str:
    """Render the largest ``limit`` gaps as a markdown table (largest first)."""
    if not len(gaps):
        return "No gaps."
    top = gaps.sort_values(["missing_bars", "start"], ascending=[False, True]).head(limit)
    lines = ["| first missing | last missing | missing bars |", "|---|---|---:|"]
    lines += [
        f"| {_iso(start)} | {_iso(end)} | {int(missing)} |"
        for start, end, missing in zip(top["start"], top["end"], top["missing_bars"], strict=True)
    ]
    if len(gaps) > limit:
        lines.append(f"\n{len(gaps) - limit} smaller gaps not shown.")
    return "\n".join(lines)
