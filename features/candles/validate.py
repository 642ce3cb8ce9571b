"""Validate raw candles: keep the good rows as a canonical frame, quarantine the rest.

Every received row ends up in exactly one place: ``valid`` (the canonical frame, sorted and
unique) or ``quarantine`` (with the values as received and the reasons), so
``len(valid) + len(quarantine) == n_received``. Rows out of order are valid; they are sorted
and counted. Checks are vectorized; only the rejected rows are touched one by one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.gaps import empty_gaps, find_gaps, from_utc_ns, summarize_gaps, utc_ns
from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError, Timeframe

PRICES: tuple[str, ...] = ("open", "high", "low", "close")
REQUIRED_COLUMNS: tuple[str, ...] = (INDEX_NAME, *OHLCV)
SOURCE_ROW = "source_row"
QUARANTINE_COLUMNS: tuple[str, ...] = (
    "source",
    "symbol",
    "timeframe",
    SOURCE_ROW,
    INDEX_NAME,
    *OHLCV,
    "reason",
)
REASON_SEPARATOR = "; "

# Spellings of "no value" in text input: counted as missing, not as non-numeric.
_NULL_TEXT = frozenset({"", "nan", "null", "none", "na", "n/a", "<na>", "nat"})
_QUOTED_DETAIL = re.compile(r" '.*'$")
_DUPLICATE = re.compile(r"^(duplicate timestamp, (?:identical copy|conflicting)).*$")
_MAX_LINES_LISTED = 5
_MAX_QUOTED = 40
# Object columns that hold only Python numbers convert directly (no text parsing).
_NUMBER_KINDS = frozenset({"floating", "integer", "mixed-integer-float"})

# A reason is one text for every flagged row, or built from the flagged row positions.
_Reason = str | Callable[[np.ndarray], np.ndarray]


def as_text(values: pd.Series) -> pd.Series:
    """Render values as strings as received; nulls (None, NaN, NaT) become ``None``."""
    text = values.astype("string")
    out = text.to_numpy(dtype=object)
    out[text.isna().to_numpy()] = None
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def reason_kind(reason: str) -> str:
    """Return a single reason without its row-specific detail (value, line numbers)."""
    duplicate = _DUPLICATE.match(reason)
    if duplicate:
        return duplicate.group(1)
    return _QUOTED_DETAIL.sub("", reason)


def count_reasons(reasons: pd.Series) -> pd.Series:
    """Count quarantine reasons by kind (a row with several reasons counts for each)."""
    kinds = reasons.astype(str).str.split(REASON_SEPARATOR).explode().map(reason_kind)
    counts = kinds.value_counts()
    counts.index.name = "reason"
    return counts.rename("rows")


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame with the right columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in QUARANTINE_COLUMNS})
    frame[SOURCE_ROW] = frame[SOURCE_ROW].astype("int64")
    frame[INDEX_NAME] = pd.Series(pd.DatetimeIndex([], tz="UTC").as_unit("ns"))
    return frame


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """What validation made of one raw frame.

    Attributes:
        source: Source name the rows came from.
        symbol: Market symbol.
        timeframe: Candle timeframe.
        valid: Canonical candle frame (float64, UTC ``ts`` index, sorted, unique).
        quarantine: One row per rejected input row: source, symbol, timeframe, source_row,
            ts (NaT when unparseable), the five fields as received (strings, ``None`` when
            null) and the reasons joined with ``"; "``; in received order.
        n_received: Rows received.
        n_out_of_order: Valid rows that arrived after a later candle (they were sorted).
        gaps: Missing candles inside the valid span (see ``find_gaps``).
    """

    source: str
    symbol: str
    timeframe: Timeframe
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    n_received: int
    n_out_of_order: int
    gaps: pd.DataFrame

    @property
    def n_valid(self) -> int:
        """Rows that passed validation."""
        return len(self.valid)

    @property
    def n_quarantined(self) -> int:
        """Rows that were quarantined."""
        return len(self.quarantine)

    def reason_counts(self) -> dict[str, int]:
        """Count quarantined rows by reason kind."""
        if not len(self.quarantine):
            return {}
        return {str(k): int(v) for k, v in count_reasons(self.quarantine["reason"]).items()}

    def messages(self, limit: int | None = 20) -> list[str]:
        """Describe quarantined rows for people: ``line N (ts): reasons``, first ``limit``."""
        rows = self.quarantine if limit is None else self.quarantine.head(limit)
        out = []
        for line, ts, reason in zip(
            rows[SOURCE_ROW], rows[INDEX_NAME], rows["reason"], strict=True
        ):
            when = "no timestamp" if pd.isna(ts) else pd.Timestamp(ts).isoformat()
            out.append(
                f"{self.source} {self.symbol} {self.timeframe} line {line} ({when}): {reason}"
            )
        return out

    def to_metadata(self) -> dict[str, object]:
        """Return JSON-friendly counts, span, reasons and gap summary."""
        first = self.valid.index[0].isoformat() if len(self.valid) else None
        last = self.valid.index[-1].isoformat() if len(self.valid) else None
        return {
            "source": self.source,
            "symbol": self.symbol,
            "timeframe": self.timeframe.label,
            "n_received": self.n_received,
            "n_valid": self.n_valid,
            "n_quarantined": self.n_quarantined,
            "n_out_of_order": self.n_out_of_order,
            "first_ts": first,
            "last_ts": last,
            "quarantine_reasons": self.reason_counts(),
            "gaps": summarize_gaps(self.gaps, n_bars=self.n_valid),
        }


@dataclass(frozen=True)
class _Field:
    """One OHLCV column parsed: float values and why a value is unusable."""

    values: np.ndarray
    missing: np.ndarray
    non_numeric: np.ndarray
    non_finite: np.ndarray


def _check_frame(raw: pd.DataFrame, tf: Timeframe, source: str, symbol: str) -> None:
    if not isinstance(raw, pd.DataFrame):
        raise CandleDataError(
            f"raw candles from source {source!r} must be a DataFrame, got {type(raw).__name__}"
        )
    if len(raw) == 0:
        raise CandleDataError(f"source {source!r} returned no rows for {symbol} {tf}")
    for column in REQUIRED_COLUMNS:
        if column not in raw.columns:
            raise CandleDataError(
                f"raw candles for {symbol} {tf} from source {source!r} lack required column "
                f"{column!r} (got {[str(c) for c in raw.columns]})"
            )
    if raw.columns.duplicated().any():
        dup = sorted({str(c) for c in raw.columns[raw.columns.duplicated()]})
        raise CandleDataError(
            f"raw candles for {symbol} {tf} from source {source!r} repeat column(s) {dup}"
        )


def _parse_ts(column: pd.Series, source: str) -> pd.DatetimeIndex:
    """Parse open times to a UTC nanosecond index; NaT where missing or unparseable."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = pd.DatetimeIndex(column).tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = pd.DatetimeIndex(column).tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(dtype):
        raise CandleDataError(
            f"column 'ts' from source {source!r} holds numbers ({dtype}); the source must "
            "convert epoch times to UTC datetimes"
        )
    else:
        parsed = pd.DatetimeIndex(
            pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")
        )
        retry = np.asarray(parsed.isna() & column.notna().to_numpy())
        if retry.any():
            again = pd.to_datetime(column[retry], utc=True, errors="coerce", format="mixed")
            values = utc_ns(parsed).copy()
            values[retry] = utc_ns(pd.DatetimeIndex(again))
            parsed = from_utc_ns(values)
    try:
        return parsed.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as err:
        raise CandleDataError(f"column 'ts' from source {source!r}: {err}") from err


def _parse_field(column: pd.Series) -> _Field:
    """Parse one OHLCV column to float64, telling missing from non-numeric values."""
    missing = column.isna().to_numpy()
    if pd.api.types.is_bool_dtype(column.dtype):
        values = np.full(len(column), np.nan)
        non_numeric = ~missing
    elif column.dtype == object and pd.api.types.infer_dtype(column) in _NUMBER_KINDS:
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        non_numeric = np.zeros(len(column), dtype=bool)
    else:
        numeric = pd.to_numeric(column, errors="coerce")
        values = numeric.to_numpy(dtype="float64", na_value=np.nan)
        unparsed = np.isnan(values) & ~missing
        non_numeric = unparsed.copy()
        if unparsed.any():
            text = column[unparsed].astype(str).str.strip().str.lower()
            null_like = text.isin(_NULL_TEXT).to_numpy()
            missing = missing.copy()
            missing[np.flatnonzero(unparsed)[null_like]] = True
            non_numeric[np.flatnonzero(unparsed)[null_like]] = False
    non_finite = np.isinf(values)
    return _Field(values=values, missing=missing, non_numeric=non_numeric, non_finite=non_finite)


def _quoted(prefix: str, raw: pd.Series) -> Callable[[np.ndarray], np.ndarray]:
    """Build reasons ``<prefix> '<value as received>'`` for the flagged positions."""

    def build(positions: np.ndarray) -> np.ndarray:
        text = raw.iloc[positions].astype(str)
        long = text.str.len() > _MAX_QUOTED
        text = text.where(~long, text.str.slice(0, _MAX_QUOTED) + "...")
        return prefix + " '" + text.to_numpy(dtype=object) + "'"

    return build


def _fixed_texts(texts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def build(positions: np.ndarray) -> np.ndarray:
        return texts[positions]

    return build


def _conflict_text(member_lines: list[int], k: int) -> str:
    """Name the lines that row ``k`` of a conflicting group clashes with."""
    others = [line for j, line in enumerate(member_lines[: _MAX_LINES_LISTED + 1]) if j != k]
    shown = others[:_MAX_LINES_LISTED]
    more = len(member_lines) - 1 - len(shown)
    word = "line" if len(member_lines) == 2 else "lines"
    text = f"duplicate timestamp, conflicting with {word} " + ", ".join(map(str, shown))
    return text + (f" and {more} more" if more > 0 else "")


def _duplicates(
    by_time: np.ndarray, ts_ns: np.ndarray, values: np.ndarray, lines: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Find duplicate timestamps among candidate rows.

    Identical copies: the first received is kept, later copies are flagged. Conflicting
    copies: all are flagged, since nothing says which one is right.

    Args:
        by_time: Candidate row positions sorted by time, received order within a time.
        ts_ns: Open times of all rows.
        values: OHLCV of all rows, one row per input row.
        lines: Source line of all rows.

    Returns:
        Flagged positions and their reasons.
    """
    pos = by_time
    sorted_ts = ts_ns[pos]
    same_as_prev = sorted_ts[1:] == sorted_ts[:-1]
    in_group = np.zeros(len(pos), dtype=bool)
    in_group[1:] |= same_as_prev
    in_group[:-1] |= same_as_prev
    pos, sorted_ts = pos[in_group], sorted_ts[in_group]
    if len(pos) == 0:
        return np.array([], dtype="int64"), np.array([], dtype=object)
    starts = np.flatnonzero(np.r_[True, sorted_ts[1:] != sorted_ts[:-1]])
    bounds = np.r_[starts, len(pos)]
    first = np.repeat(pos[starts], np.diff(bounds))
    identical = np.logical_and.reduceat(np.all(values[pos] == values[first], axis=1), starts)

    flagged: list[int] = []
    reasons: list[str] = []
    for g, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        members = pos[lo:hi]
        if identical[g]:
            copy_of = f"duplicate timestamp, identical copy of line {lines[members[0]]}"
            flagged.extend(int(m) for m in members[1:])
            reasons.extend([copy_of] * (len(members) - 1))
            continue
        member_lines = [int(lines[m]) for m in members]
        for k, m in enumerate(members):
            flagged.append(int(m))
            reasons.append(_conflict_text(member_lines, k))
    return np.asarray(flagged, dtype="int64"), np.asarray(reasons, dtype=object)


def _assemble_reasons(
    checks: list[tuple[np.ndarray, _Reason]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Join the reasons of every flagged row; return flagged positions and their reasons."""
    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    flagged = np.flatnonzero(bad)
    joined = np.full(len(flagged), "", dtype=object)
    for mask, reason in checks:
        hit = mask[flagged]
        if not hit.any():
            continue
        text = reason if isinstance(reason, str) else reason(flagged[hit])
        current = joined[hit]
        joined[hit] = np.where(current == "", text, current + REASON_SEPARATOR + text)
    return flagged, joined


def _source_rows(raw: pd.DataFrame) -> np.ndarray:
    position = np.arange(1, len(raw) + 1, dtype="int64")
    if SOURCE_ROW not in raw.columns:
        return position
    lines = pd.to_numeric(raw[SOURCE_ROW], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    return np.where(np.isnan(lines), position, lines).astype("int64")


def validate_candles(
    raw: pd.DataFrame, timeframe: Timeframe | str, *, source: str, symbol: str
) -> ValidationResult:
    """Split raw candle rows into a canonical frame and a quarantine with reasons.

    Args:
        raw: Rows as received (see ``features.candles.sources.base``): columns ``ts``,
            ``open, high, low, close, volume`` (any dtype, strings allowed) and optionally
            ``source_row`` (1-based line in the source; the position is used when absent).
        timeframe: The candle timeframe; open times must lie on its UTC grid.
        source: Source name, for messages and the quarantine.
        symbol: Market symbol, for messages and the quarantine.

    Returns:
        The valid canonical frame, the quarantine, counts and the gap report.

    Raises:
        CandleDataError: ``raw`` is empty, lacks a required column, or its ``ts`` column
            holds numbers instead of datetimes.
    """
    tf = Timeframe.parse(timeframe)
    _check_frame(raw, tf, source, symbol)
    n = len(raw)
    ts = _parse_ts(raw[INDEX_NAME], source)
    ts_ns = utc_ns(ts)
    no_ts = np.asarray(ts.isna())
    lines = _source_rows(raw)
    fields = {c: _parse_field(raw[c]) for c in OHLCV}

    checks: list[tuple[np.ndarray, _Reason]] = []
    ts_raw = raw[INDEX_NAME]
    if ts_raw.dtype == object or pd.api.types.is_string_dtype(ts_raw.dtype):
        ts_null = ts_raw.isna().to_numpy()
        unparsed = np.flatnonzero(no_ts & ~ts_null)
        text = ts_raw.iloc[unparsed].astype(str).str.strip().str.lower()
        ts_null[unparsed[text.isin(_NULL_TEXT).to_numpy()]] = True
        checks.append((no_ts & ts_null, f"missing/null value in {INDEX_NAME}"))
        checks.append((no_ts & ~ts_null, _quoted("unparseable timestamp", ts_raw)))
    else:
        checks.append((no_ts, "unparseable timestamp"))
    checks.append(
        (~no_ts & (ts_ns % tf.ns != 0), f"{INDEX_NAME} not aligned to the {tf.label} grid")
    )
    for name, field in fields.items():
        checks.append((field.missing, f"missing/null value in {name}"))
        checks.append((field.non_numeric, _quoted(f"non-numeric {name}", raw[name])))
        checks.append((field.non_finite, _quoted(f"non-finite value in {name}", raw[name])))

    finite = {c: np.isfinite(f.values) for c, f in fields.items()}
    value = {c: f.values for c, f in fields.items()}
    with np.errstate(invalid="ignore"):
        for name in PRICES:
            checks.append((finite[name] & (value[name] <= 0), f"price <= 0 in {name}"))
        checks.append((finite["volume"] & (value["volume"] < 0), "negative volume"))
        ohlc = finite["open"] & finite["high"] & finite["low"] & finite["close"]
        high, low = value["high"], value["low"]
        body_top = np.maximum(value["open"], value["close"])
        body_bottom = np.minimum(value["open"], value["close"])
        hl = finite["high"] & finite["low"]
        checks.append((hl & (high < low), "high < low"))
        checks.append((ohlc & (high < body_top), "high below max(open, close)"))
        checks.append((ohlc & (low > body_bottom), "low above min(open, close)"))

    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    candidates = np.flatnonzero(~bad)
    cand_ts = ts_ns[candidates]
    in_order = len(cand_ts) < 2 or bool(np.all(cand_ts[1:] > cand_ts[:-1]))
    by_time = candidates
    if not in_order:
        by_time = candidates[np.argsort(cand_ts, kind="stable")]
        matrix = np.column_stack([value[c] for c in OHLCV])
        dup_pos, dup_reasons = _duplicates(by_time, ts_ns, matrix, lines)
        if len(dup_pos):
            dup_mask = np.zeros(n, dtype=bool)
            dup_mask[dup_pos] = True
            texts = np.empty(n, dtype=object)
            texts[dup_pos] = dup_reasons
            checks.append((dup_mask, _fixed_texts(texts)))
            bad |= dup_mask
            by_time = by_time[~dup_mask[by_time]]

    flagged, reasons = _assemble_reasons(checks, n)
    n_out_of_order = 0
    if not in_order:
        received = ts_ns[np.flatnonzero(~bad)]
        running_max = np.maximum.accumulate(received)
        n_out_of_order = int(np.count_nonzero(received[1:] < running_max[:-1]))
    keep = by_time
    valid = _canonical(ts_ns[keep], {c: value[c][keep] for c in OHLCV})
    quarantine = _quarantine_frame(raw, flagged, reasons, ts[flagged], lines, tf, source, symbol)
    return ValidationResult(
        source=source,
        symbol=symbol,
        timeframe=tf,
        valid=valid,
        quarantine=quarantine,
        n_received=n,
        n_out_of_order=n_out_of_order,
        gaps=find_gaps(pd.DatetimeIndex(valid.index), tf) if len(valid) else empty_gaps(),
    )


def _canonical(ts_ns: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    index = from_utc_ns(ts_ns, name=INDEX_NAME)
    return pd.DataFrame(
        {c: np.ascontiguousarray(columns[c], dtype="float64") for c in OHLCV}, index=index
    )


def _quarantine_frame(
    raw: pd.DataFrame,
    flagged: np.ndarray,
    reasons: np.ndarray,
    ts: pd.DatetimeIndex,
    lines: np.ndarray,
    tf: Timeframe,
    source: str,
    symbol: str,
) -> pd.DataFrame:
    if len(flagged) == 0:
        return empty_quarantine()
    frame = pd.DataFrame(
        {
            "source": source,
            "symbol": symbol,
            "timeframe": tf.label,
            SOURCE_ROW: lines[flagged],
            INDEX_NAME: pd.DatetimeIndex(ts).as_unit("ns"),
        },
        index=pd.RangeIndex(len(flagged)),
    )
    for name in OHLCV:
        frame[name] = as_text(raw[name].iloc[flagged]).to_numpy(dtype=object)
    frame["reason"] = reasons
    return frame[list(QUARANTINE_COLUMNS)]


def parse_raw_candles(raw: pd.DataFrame, *, source: str = "raw") -> pd.DataFrame:
    """Parse raw rows into a candle-shaped frame *without* rejecting anything.

    The index is ``ts`` (NaT where unparseable) in received order, duplicates kept; OHLCV are
    float64 (NaN where missing or non-numeric); ``source_row`` is kept as a column. Use it to
    run the expectation suite on what was received and see everything that is wrong.
    """
    if not isinstance(raw, pd.DataFrame) or len(raw) == 0:
        raise CandleDataError(f"source {source!r} gave no rows to parse")
    for column in REQUIRED_COLUMNS:
        if column not in raw.columns:
            raise CandleDataError(f"raw candles from source {source!r} lack column {column!r}")
    ts = _parse_ts(raw[INDEX_NAME], source).rename(INDEX_NAME)
    frame = pd.DataFrame({c: _parse_field(raw[c]).values for c in OHLCV}, index=ts)
    frame[SOURCE_ROW] = _source_rows(raw)
    return frame
