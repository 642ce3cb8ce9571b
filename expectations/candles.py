"""The candle expectation suite (Great Expectations 1.24), as code.

The suite checks a canonical candle frame, or a raw-but-parsed one from
``features.candles.validate.parse_raw_candles``: nulls, positive prices, non-negative volume,
the OHLC relations, unique and increasing open times on the timeframe grid. Two checks need
columns GX cannot compare directly, so the frame handed to GX gains derived columns:
``body_top = max(open, close)``, ``body_bottom = min(open, close)`` and
``ts_offset_ns = ts % timeframe`` (expected 0).

``great_expectations`` takes ~7 s to import, so it is imported inside the functions and its
context, suites and validation definitions are built once per process.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.candles.gaps import find_gaps, gaps_to_markdown, summarize_gaps, utc_ns
from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError, Timeframe

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite, ValidationDefinition

BODY_TOP = "body_top"
BODY_BOTTOM = "body_bottom"
OFFSET_COLUMN = "ts_offset_ns"
ROW_COLUMN = "row"
SOURCE_ROW = "source_row"
PRICES: tuple[str, ...] = ("open", "high", "low", "close")
DEFAULT_EXAMPLES = 5
_HIGH_BODY: tuple[str, ...] = ("high", "open", "close")
_LOW_BODY: tuple[str, ...] = ("low", "open", "close")


@dataclass(frozen=True)
class CandleCheck:
    """One expectation of the suite: a stable key, a human description and its GX form."""

    key: str
    description: str
    columns: tuple[str, ...]
    expectation: str
    kwargs: tuple[tuple[str, object], ...]


def _pair(key: str, description: str, a: str, b: str, columns: tuple[str, ...]) -> CandleCheck:
    """``a >= b`` per row; rows where either is null are left to the null checks."""
    return CandleCheck(
        key,
        description,
        columns,
        "ExpectColumnPairValuesAToBeGreaterThanB",
        (
            ("column_A", a),
            ("column_B", b),
            ("or_equal", True),
            ("ignore_row_if", "either_value_is_missing"),
        ),
    )


def candle_checks(timeframe: Timeframe | str) -> tuple[CandleCheck, ...]:
    """Return the suite's checks, in report order."""
    tf = Timeframe.parse(timeframe)
    between = "ExpectColumnValuesToBeBetween"
    return (
        *(
            CandleCheck(
                f"{c}_not_null",
                f"{c} is not null",
                (c,),
                "ExpectColumnValuesToNotBeNull",
                (("column", c),),
            )
            for c in (INDEX_NAME, *OHLCV)
        ),
        *(
            CandleCheck(
                f"{c}_positive",
                f"{c} > 0",
                (c,),
                between,
                (("column", c), ("min_value", 0), ("strict_min", True)),
            )
            for c in PRICES
        ),
        CandleCheck(
            "volume_non_negative",
            "volume >= 0",
            ("volume",),
            between,
            (("column", "volume"), ("min_value", 0)),
        ),
        _pair("high_ge_body", "high >= max(open, close)", "high", BODY_TOP, _HIGH_BODY),
        _pair("low_le_body", "low <= min(open, close)", BODY_BOTTOM, "low", _LOW_BODY),
        _pair("high_ge_low", "high >= low", "high", "low", ("high", "low")),
        CandleCheck(
            "ts_unique",
            "ts is unique",
            (INDEX_NAME,),
            "ExpectColumnValuesToBeUnique",
            (("column", INDEX_NAME),),
        ),
        CandleCheck(
            "ts_increasing",
            "ts is increasing",
            (INDEX_NAME,),
            "ExpectColumnValuesToBeIncreasing",
            (("column", INDEX_NAME),),
        ),
        CandleCheck(
            "ts_aligned",
            f"ts is on the {tf.label} grid",
            (INDEX_NAME,),
            between,
            (("column", OFFSET_COLUMN), ("min_value", 0), ("max_value", 0)),
        ),
    )


def suite_name(timeframe: Timeframe | str) -> str:
    """Return the suite's name for a timeframe."""
    return f"candles_{Timeframe.parse(timeframe).label}"


def build_candle_suite(timeframe: Timeframe | str) -> ExpectationSuite:
    """Build the candle expectation suite for ``timeframe`` (not attached to a context).

    Each expectation carries ``meta={"key": ..., "description": ...}`` so that results,
    which GX does not return in suite order, can be matched to their check.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    tf = Timeframe.parse(timeframe)
    suite = gx.ExpectationSuite(
        name=suite_name(tf),
        meta={"timeframe": tf.label, "derived_columns": [BODY_TOP, BODY_BOTTOM, OFFSET_COLUMN]},
    )
    for check in candle_checks(tf):
        expectation_class = getattr(gxe, check.expectation)
        meta = {"key": check.key, "description": check.description}
        suite.add_expectation(expectation_class(**dict(check.kwargs), meta=meta))
    return suite


_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


def _validation_definition(tf: Timeframe) -> ValidationDefinition:
    """Return this process's validation definition for ``tf``, building it once."""
    with _LOCK:
        cached = _CACHE.get(tf.label)
        if cached is not None:
            return cached
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        if "batch" not in _CACHE:
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _CACHE["context"] = context
            _CACHE["batch"] = (
                context.data_sources.add_pandas("smartmarket")
                .add_dataframe_asset(name="candles")
                .add_batch_definition_whole_dataframe("whole_frame")
            )
        context = _CACHE["context"]
        suite = context.suites.add(build_candle_suite(tf))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=_CACHE["batch"], suite=suite)
        )
        _CACHE[tf.label] = definition
        return definition


def suite_frame(candles: pd.DataFrame, timeframe: Timeframe | str) -> pd.DataFrame:
    """Return the flat frame the suite checks: ts, OHLCV and the derived columns.

    The frame has a RangeIndex, so GX's unexpected index labels are row positions.

    Raises:
        CandleDataError: ``candles`` is not indexed by open times or lacks an OHLCV column.
    """
    tf = Timeframe.parse(timeframe)
    if not isinstance(candles, pd.DataFrame) or not isinstance(candles.index, pd.DatetimeIndex):
        raise CandleDataError("the candle suite needs a DataFrame indexed by open times (ts)")
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing:
        raise CandleDataError(f"the candle suite needs column(s) {missing}")
    index = pd.DatetimeIndex(candles.index)
    ns = utc_ns(index)
    no_ts = np.asarray(index.isna())
    values = {c: pd.to_numeric(candles[c], errors="coerce").to_numpy("float64") for c in OHLCV}
    frame = pd.DataFrame(
        {
            INDEX_NAME: index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC"),
            **values,
            BODY_TOP: np.fmax(values["open"], values["close"]),
            BODY_BOTTOM: np.fmin(values["open"], values["close"]),
            OFFSET_COLUMN: np.where(no_ts, np.nan, (ns % tf.ns).astype("float64")),
        },
        index=pd.RangeIndex(len(candles)),
    )
    if SOURCE_ROW in candles.columns:
        frame[SOURCE_ROW] = candles[SOURCE_ROW].to_numpy()
    return frame


@dataclass(frozen=True)
class ExpectationOutcome:
    """How one expectation fared.

    Attributes:
        key: Stable check key (``high_ge_low``).
        expectation: GX expectation type.
        description: What it expects, for people.
        columns: The candle columns it looks at.
        success: Whether it held.
        unexpected_count: Rows that broke it.
        examples: A few breaking rows: row position, ts (ISO), source_row when known, OHLCV.
        error: The exception message when GX could not evaluate it.
    """

    key: str
    expectation: str
    description: str
    columns: tuple[str, ...]
    success: bool
    unexpected_count: int
    examples: tuple[dict[str, object], ...]
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return JSON-friendly values."""
        return {
            "key": self.key,
            "expectation": self.expectation,
            "description": self.description,
            "columns": list(self.columns),
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "examples": [dict(e) for e in self.examples],
            "error": self.error,
        }


@dataclass(frozen=True, eq=False)
class CandleSuiteReport:
    """The suite's verdict on one candle frame, with the gap report."""

    suite: str
    timeframe: str
    n_rows: int
    success: bool
    statistics: dict[str, object]
    expectations: tuple[ExpectationOutcome, ...]
    gaps: pd.DataFrame

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        """The expectations that did not hold."""
        return tuple(e for e in self.expectations if not e.success)

    def outcome(self, key: str) -> ExpectationOutcome:
        """Return one expectation's outcome by check key."""
        for e in self.expectations:
            if e.key == key:
                return e
        raise KeyError(f"no expectation {key!r}; keys: {[e.key for e in self.expectations]}")

    def to_markdown(self) -> str:
        """Render the verdict, one table row per expectation, and the largest gaps."""
        stats = self.statistics
        verdict = "PASSED" if self.success else "FAILED"
        lines = [
            f"**Candle suite {self.suite}: {verdict}**: "
            f"{stats.get('successful_expectations')} of {stats.get('evaluated_expectations')} "
            f"expectations held on {self.n_rows:,} rows.",
            "",
            "| expectation | columns | result | unexpected rows | examples (ts) |",
            "|---|---|---|---:|---|",
        ]
        for e in self.expectations:
            shown = ", ".join(str(x.get("ts") or "no ts") for x in e.examples) or "-"
            result = "pass" if e.success else ("ERROR" if e.error else "FAIL")
            lines.append(
                f"| {e.description} | {', '.join(e.columns)} | {result} "
                f"| {e.unexpected_count:,} | {shown} |"
            )
        summary = summarize_gaps(self.gaps)
        lines += [
            "",
            f"**Gaps:** {summary['n_gaps']} gaps, {summary['missing_bars']} missing bars.",
            "",
            gaps_to_markdown(self.gaps),
        ]
        return "\n".join(lines)

    def to_metadata(self) -> dict[str, object]:
        """Return JSON-friendly values for the Dagster UI, including a markdown report."""
        n_bars = int(self.n_rows - self.outcome(f"{INDEX_NAME}_not_null").unexpected_count)
        return {
            "suite": self.suite,
            "timeframe": self.timeframe,
            "rows": self.n_rows,
            "success": self.success,
            **self.statistics,
            "failed_expectations": [e.key for e in self.failed],
            "unexpected_counts": {e.key: e.unexpected_count for e in self.expectations},
            "expectations": [e.to_dict() for e in self.expectations],
            "gaps": summarize_gaps(self.gaps, n_bars=n_bars),
            "report_markdown": self.to_markdown(),
        }


def run_candle_suite(
    candles: pd.DataFrame, timeframe: Timeframe | str, *, max_examples: int = DEFAULT_EXAMPLES
) -> CandleSuiteReport:
    """Run the candle suite on a canonical (or raw-but-parsed) candle frame.

    Args:
        candles: Frame indexed by open times with OHLCV columns; may hold bad rows, NaT,
            duplicates and rows out of order (that is what the suite reports). A
            ``source_row`` column, when present, is carried into the examples.
        timeframe: The candle timeframe (for the grid check and the gap report).
        max_examples: Breaking rows kept per expectation.

    Returns:
        The report: verdict, statistics, per-expectation outcomes in suite order and gaps.
    """
    tf = Timeframe.parse(timeframe)
    frame = suite_frame(candles, tf)
    definition = _validation_definition(tf)
    # Without unexpected_index_column_names GX returns index labels, here row positions;
    # naming index columns makes GX build full per-row lists (6x slower on 1M bad rows).
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": max_examples}
    with _RUN_LOCK:  # one GX run at a time per process: its context is shared state
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    by_key = {
        r.expectation_config.meta["key"]: r
        for r in result.results
        if r.expectation_config is not None and r.expectation_config.meta
    }
    outcomes = tuple(
        _outcome(check, by_key[check.key], frame, max_examples) for check in candle_checks(tf)
    )
    statistics = {k: _plain(v) for k, v in dict(result.statistics).items()}
    return CandleSuiteReport(
        suite=suite_name(tf),
        timeframe=tf.label,
        n_rows=len(frame),
        success=bool(result.success),
        statistics=statistics,
        expectations=outcomes,
        gaps=find_gaps(pd.DatetimeIndex(candles.index), tf),
    )


def _outcome(
    check: CandleCheck, result: Any, frame: pd.DataFrame, limit: int
) -> ExpectationOutcome:
    details = result.result or {}
    rows = [int(r) for r in details.get("partial_unexpected_index_list") or []]
    error = _error_message(result.exception_info)
    return ExpectationOutcome(
        key=check.key,
        expectation=str(result.expectation_config.type),
        description=check.description,
        columns=check.columns,
        success=bool(result.success),
        unexpected_count=int(details.get("unexpected_count") or 0),
        examples=tuple(_example(frame, row) for row in rows[:limit]),
        error=error,
    )


def _example(frame: pd.DataFrame, row: int) -> dict[str, object]:
    """Describe one breaking row with JSON-friendly values."""
    ts = frame[INDEX_NAME].iloc[row]
    example: dict[str, object] = {
        ROW_COLUMN: row,
        INDEX_NAME: None if pd.isna(ts) else pd.Timestamp(ts).isoformat(),
    }
    if SOURCE_ROW in frame.columns:
        example[SOURCE_ROW] = _plain(frame[SOURCE_ROW].iloc[row])
    for column in OHLCV:
        example[column] = _plain(frame[column].iloc[row])
    return example


def _plain(value: object) -> object:
    """Return ``value`` as a JSON-friendly scalar (NaN as None, inf as text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _error_message(info: object) -> str | None:
    """Pull an exception message out of GX's ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for nested in info.values():
        message = _error_message(nested)
        if message:
            return message
    return None
