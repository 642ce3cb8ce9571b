"""The feature-table expectation suite (Great Expectations 1.24), generated from the schema.

What each column must satisfy comes from its spec in :mod:`features.schema` (declared once, next
to the code that computes it), never from its name. A feature table has ~200 columns; one GX
expectation per column and rule would cost seconds per partition. So, as the candle suite does
with its derived columns, numpy first reduces each row to a few counts and GX checks those:

- ``n_infinite``: values that are +inf or -inf (expected 0 in every row);
- ``n_missing_required``: unknown values (NaN, or a compact integer column's sentinel) among
  the columns whose spec is ``required`` in a row after warm-up;
- ``n_out_of_range``: values their spec forbids (:func:`column_rule`): outside ``[lo, hi]``
  (with a 1e-9 relative slack for float rounding), not a whole number in an integer kind
  (flag, direction, count, age, state and categorical codes: so a flag is in {0, 1} and a code
  in its set), not > 0 for a price; an unknown value is never out of range;
- the table's row count must equal the candle count (``$PARAMETER`` ``expected_rows``).

A column without a spec is refused (``ValueError`` naming it): it would otherwise go unchecked.
The report names the offending columns with their counts (computed by numpy) for the UI.
``great_expectations`` is imported inside the functions (it takes ~7 s).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.schema import ColumnSpec, Kind, column_float64, has_spec, spec_of

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite, ValidationDefinition

N_INFINITE = "n_infinite"
N_MISSING = "n_missing_required"
N_OUT_OF_RANGE = "n_out_of_range"
SUITE_NAME = "feature_table"
# Relative slack on range bounds: float rounding may land a bounded value (a smoothed oscillator)
# one ulp outside; anything beyond this is a real violation.
RANGE_TOLERANCE = 1e-9
EXPECTED_ROWS = "expected_rows"
# Kinds whose values are whole numbers (codes, counts, ages, flags, directions).
WHOLE_KINDS = frozenset(
    {Kind.FLAG, Kind.DIRECTION, Kind.COUNT, Kind.STATE, Kind.CATEGORICAL, Kind.AGE}
)


@dataclass(frozen=True)
class ColumnRule:
    """What one column's known values must satisfy, derived from its spec.

    Attributes:
        column: The column.
        low: Smallest valid value (slack included), ``-inf`` when unbounded.
        high: Largest valid value (slack included), ``inf`` when unbounded.
        positive: Values must be > 0 (prices).
        whole: Values must be whole numbers.
        required: Must be known after warm-up.
    """

    column: str
    low: float
    high: float
    positive: bool
    whole: bool
    required: bool

    def violations(self, values: np.ndarray) -> np.ndarray:
        """Return the mask of known ``values`` this rule forbids (NaN is never a violation)."""
        with np.errstate(invalid="ignore"):
            bad = (values < self.low) | (values > self.high)
            if self.positive:
                bad |= values <= 0.0
            if self.whole:
                bad |= np.isfinite(values) & (values != np.round(values))
        return bad


def _slack(bound: float) -> float:
    return RANGE_TOLERANCE * max(1.0, abs(bound))


def rule_of(spec: ColumnSpec) -> ColumnRule:
    """Return the rule a spec implies."""
    return ColumnRule(
        column=spec.name,
        low=-np.inf if spec.lo is None else spec.lo - _slack(spec.lo),
        high=np.inf if spec.hi is None else spec.hi + _slack(spec.hi),
        positive=spec.kind is Kind.PRICE,
        whole=spec.kind in WHOLE_KINDS,
        required=spec.required,
    )


def column_rule(column: str) -> ColumnRule:
    """Return the rule of ``column`` (``KeyError`` when it has no spec)."""
    return rule_of(spec_of(column))


def required_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Return the columns that must not be unknown after warm-up."""
    return [c for c in columns if spec_of(c).required]


@dataclass(frozen=True)
class RowCounts:
    """Per-row counts the suite checks, and the offending columns (name -> rows)."""

    frame: pd.DataFrame
    infinite: dict[str, int]
    missing: dict[str, int]
    out_of_range: dict[str, int]


def row_counts(features: pd.DataFrame, warm: np.ndarray | None = None) -> RowCounts:
    """Reduce a feature frame to the suite's per-row counts (RangeIndex, row positions).

    Args:
        features: Numeric feature columns, compact or float64 (offline-table keys, which are
            not numeric, are ignored if present).
        warm: Boolean per row, True once the engine is warm (required columns must then
            have a value); all True when ``None``.

    Raises:
        ValueError: A numeric column has no spec in ``features.schema``.
    """
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    unknown = [c for c in numeric if not has_spec(c)]
    if unknown:
        raise ValueError(
            f"feature columns without a spec (declare them in their module's SPECS): {unknown}"
        )
    n = len(features)
    warm_rows = np.ones(n, dtype=bool) if warm is None else np.asarray(warm, bool)
    n_inf = np.zeros(n, dtype=np.int64)
    n_missing = np.zeros(n, dtype=np.int64)
    n_out = np.zeros(n, dtype=np.int64)
    infinite: dict[str, int] = {}
    missing: dict[str, int] = {}
    outside: dict[str, int] = {}
    for column in numeric:
        rule = column_rule(column)
        values = column_float64(features, column)
        for mask, per_row, named in (
            (np.isinf(values), n_inf, infinite),
            (np.isnan(values) & warm_rows if rule.required else None, n_missing, missing),
            (rule.violations(values), n_out, outside),
        ):
            if mask is None:
                continue
            hits = int(mask.sum())
            if hits:
                per_row += mask
                named[column] = hits
    frame = pd.DataFrame(
        {
            N_INFINITE: n_inf.astype(np.float64),
            N_MISSING: n_missing.astype(np.float64),
            N_OUT_OF_RANGE: n_out.astype(np.float64),
        },
        index=pd.RangeIndex(n),
    )
    return RowCounts(frame, infinite, missing, outside)


def build_feature_suite() -> ExpectationSuite:
    """Build the feature-table suite (row count as the ``expected_rows`` parameter)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for column, key, text in (
        (N_INFINITE, "no_infinities", "no value is infinite"),
        (N_MISSING, "no_nulls_after_warmup", "required columns have values after warm-up"),
        (N_OUT_OF_RANGE, "in_range", "every value lies in its column's range"),
    ):
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=0,
                meta={"key": key, "description": text},
            )
        )
    suite.add_expectation(
        gxe.ExpectTableRowCountToEqual(
            value={"$PARAMETER": EXPECTED_ROWS},
            meta={"key": "rows_equal_candles", "description": "one row per candle"},
        )
    )
    return suite


_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


def _definition() -> ValidationDefinition:
    with _LOCK:
        if "definition" in _CACHE:
            return _CACHE["definition"]
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch = (
            context.data_sources.add_pandas("smartmarket_features")
            .add_dataframe_asset(name="feature_rows")
            .add_batch_definition_whole_dataframe("whole_frame")
        )
        suite = context.suites.add(build_feature_suite())
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=SUITE_NAME, data=batch, suite=suite)
        )
        _CACHE["definition"] = definition
        return definition


@dataclass(frozen=True)
class FeatureSuiteReport:
    """The suite's verdict on one feature table.

    Attributes:
        table: What was checked (view and symbols), for people.
        rows: Rows checked.
        expected_rows: Candle count the rows must equal.
        success: Whether every expectation held.
        outcomes: Expectation key -> held.
        infinite: Column -> infinite values.
        missing: Column -> nulls after warm-up (required columns only).
        out_of_range: Column -> values outside the column's range.
    """

    table: str
    rows: int
    expected_rows: int
    success: bool
    outcomes: dict[str, bool]
    infinite: dict[str, int]
    missing: dict[str, int]
    out_of_range: dict[str, int]

    def to_markdown(self) -> str:
        """Render the verdict and the offending columns."""
        verdict = "PASSED" if self.success else "FAILED"
        lines = [
            f"**Feature suite on {self.table}: {verdict}** ({self.rows:,} rows, "
            f"{self.expected_rows:,} candles)",
            "",
            "| expectation | result |",
            "|---|---|",
            *(f"| {k} | {'pass' if ok else 'FAIL'} |" for k, ok in self.outcomes.items()),
        ]
        for title, found in (
            ("infinite", self.infinite),
            ("missing after warm-up", self.missing),
            ("out of range", self.out_of_range),
        ):
            if found:
                shown = ", ".join(f"{c} ({n})" for c, n in list(found.items())[:20])
                lines += ["", f"**{title}:** {shown}"]
        return "\n".join(lines)

    def to_metadata(self) -> dict[str, object]:
        """Return JSON-friendly values for the Dagster UI."""
        return {
            "table": self.table,
            "rows": self.rows,
            "expected_rows": self.expected_rows,
            "success": self.success,
            "outcomes": dict(self.outcomes),
            "infinite": dict(self.infinite),
            "missing_after_warmup": dict(self.missing),
            "out_of_range": dict(self.out_of_range),
            "report_markdown": self.to_markdown(),
        }


def combine_reports(reports: list[FeatureSuiteReport], table: str) -> FeatureSuiteReport:
    """Merge the reports of consecutive chunks of one table into one."""
    outcomes: dict[str, bool] = {}
    found: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    for report in reports:
        for key, ok in report.outcomes.items():
            outcomes[key] = outcomes.get(key, True) and ok
        parts = (report.infinite, report.missing, report.out_of_range)
        for into, part in zip(found, parts, strict=True):
            for column, n in part.items():
                into[column] = into.get(column, 0) + n
    return FeatureSuiteReport(
        table=table,
        rows=sum(r.rows for r in reports),
        expected_rows=sum(r.expected_rows for r in reports),
        success=all(r.success for r in reports),
        outcomes=outcomes,
        infinite=found[0],
        missing=found[1],
        out_of_range=found[2],
    )


def run_feature_suite(
    features: pd.DataFrame,
    *,
    expected_rows: int,
    warm: np.ndarray | None = None,
    table: str = "features",
) -> FeatureSuiteReport:
    """Run the feature suite on a feature frame (see the module docstring)."""
    counts = row_counts(features, warm)
    definition = _definition()
    with _LOCK:
        result = definition.run(
            batch_parameters={"dataframe": counts.frame},
            expectation_parameters={EXPECTED_ROWS: int(expected_rows)},
            result_format={"result_format": "BOOLEAN_ONLY"},
        )
    outcomes = {
        str(r.expectation_config.meta["key"]): bool(r.success)
        for r in result.results
        if r.expectation_config is not None and r.expectation_config.meta
    }
    order = ["no_infinities", "no_nulls_after_warmup", "in_range", "rows_equal_candles"]
    return FeatureSuiteReport(
        table=table,
        rows=len(features),
        expected_rows=int(expected_rows),
        success=bool(result.success),
        outcomes={k: outcomes[k] for k in order if k in outcomes},
        infinite=counts.infinite,
        missing=counts.missing,
        out_of_range=counts.out_of_range,
    )
