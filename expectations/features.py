"""The feature-table expectation suite (Great Expectations 1.24), as code.

A feature table has ~200 float64 columns; one GX expectation per column and rule would cost
seconds per partition. So, as the candle suite does with its derived columns, numpy first
reduces each row to a few counts and GX checks those:

- ``n_infinite``: values that are +inf or -inf (expected 0 in every row);
- ``n_missing_required``: nulls among the *required* columns in a row after warm-up
  (:data:`REQUIRED`: flags, directions, counts and states, which always have a value once the
  engine is warm; distances, levels and ages of zones are NaN when there is no such zone);
- ``n_out_of_range``: values outside their column's range (:data:`RANGE_RULES`, first match
  by name, with a 1e-9 relative slack for float rounding; NaN is not out of range);
- the table's row count must equal the candle count (``$PARAMETER`` ``expected_rows``).

The report names the offending columns with their counts (computed by numpy) for the UI.
``great_expectations`` is imported inside the functions (it takes ~7 s).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

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


@dataclass(frozen=True)
class RangeRule:
    """Columns whose name matches ``pattern`` must lie in ``[low, high]`` (NaN allowed)."""

    pattern: re.Pattern[str]
    low: float
    high: float
    description: str


def _rule(pattern: str, low: float, high: float, description: str) -> RangeRule:
    return RangeRule(re.compile(pattern), low, high, description)


# First match wins; columns matching none are only checked for infinities.
RANGE_RULES: tuple[RangeRule, ...] = (
    _rule(r"^(ob_.*strength)$", 0.0, 100.0, "order-block strength score 0..100"),
    _rule(r"^(mtf_rsi|ctx_adx|ctx_plus_di|ctx_minus_di)$", 0.0, 100.0, "oscillator 0..100"),
    _rule(r"^pat_.*_kind$", 0.0, math.inf, "pattern kind code >= 0"),
    _rule(
        r"(_bos|_choch|_trend|_dir|_kind|_zone|_leg|_bias|_signal|_outcome|_engulfing"
        r"|_pin_bar|_star|_three|_vp_pos|_direction|_regime|_efficiency)$",
        -1.0,
        1.0,
        "direction / signed flag -1..1",
    ),
    _rule(
        r"(_new|_fvg|_sweep|_run|_swept|_in_ote|_last_choch|_str|_fill|_depth|_pos|_warm"
        r"|_vol_pct|_high_vol|_strength|_in_ob_bull|_in_ob_bear|_in_fvg_bull|_in_fvg_bear"
        r"|_in_htf_ob|_in_htf_fvg|_confluence)$"
        r"|^mtf_comp_|^sess_(asia|london|ny_am|ny_pm)$|^sess_kz_|^pat_[a-z_]+$",
        0.0,
        1.0,
        "flag / fraction 0..1",
    ),
    _rule(
        r"(_count|_n|_age|_bars_since|_touches|_touch|_bars|_filled|_inverted|_mitigated"
        r"|_invalidated|_state|_align_bull|_align_bear|_alignment|_relvol|_vol_ratio|_natr"
        r"|_range_atr|_top_dist|_bottom_dist|_bsl_dist|_ssl_dist|_eqh_dist|_eql_dist)$",
        0.0,
        math.inf,
        "count / age / size >= 0",
    ),
    _rule(
        r"_(high|low|level|eq|top|bottom|poc|vah|val|target|stop)$|^liq_p[dwm][hl]$"
        r"|^(smc|ctx)_atr$",
        1e-12,
        math.inf,
        "price level / ATR > 0",
    ),
)

# Columns that always have a value once the engine is warm.
REQUIRED = re.compile(
    r"^smc_warm$|(?<!_last)_choch$|_(new|bos|trend|fvg|sweep|run|swept_count|filled|inverted|mitigated"
    r"|invalidated|touch)$|_i?(bull|bear)_count$|^(liq_bsl_n|liq_ssl_n|disp_dir|disp_leg"
    r"|disp_leg_bars)$|^sess_(asia|london|ny_am|ny_pm)$|^sess_kz_|^pat_|^crt_(signal|dir)$"
    r"|^mtf_(direction|align_bull|align_bear|alignment|in_htf_ob|in_htf_fvg|rsi|trend_atr"
    r"|efficiency|regime|vol_ratio|high_vol|comp_[a-z_]+|confluence)$|^m\d+_bias(_strength)?$"
)


def range_of(column: str) -> RangeRule | None:
    """Return the first range rule matching ``column``, or ``None``."""
    for rule in RANGE_RULES:
        if rule.pattern.search(column):
            return rule
    return None


def required_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Return the columns that must not be null after warm-up."""
    return [c for c in columns if REQUIRED.search(c)]


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
        features: Numeric feature columns (offline-table keys are ignored if present).
        warm: Boolean per row, True once the engine is warm (required columns must then
            have a value); all True when ``None``.
    """
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    values = features[numeric].to_numpy(dtype=np.float64)
    warm_rows = np.ones(len(features), dtype=bool) if warm is None else np.asarray(warm, bool)
    infinite = np.isinf(values)
    required = np.isin(numeric, required_columns(numeric))
    missing = np.isnan(values) & required[None, :] & warm_rows[:, None]
    outside = np.zeros_like(infinite)
    for j, column in enumerate(numeric):
        rule = range_of(column)
        if rule is not None:
            col = values[:, j]
            low = rule.low - RANGE_TOLERANCE * max(1.0, abs(rule.low))
            high = rule.high + RANGE_TOLERANCE * max(1.0, abs(rule.high))
            with np.errstate(invalid="ignore"):
                outside[:, j] = (col < low) | (col > high)
    frame = pd.DataFrame(
        {
            N_INFINITE: infinite.sum(axis=1).astype(np.float64),
            N_MISSING: missing.sum(axis=1).astype(np.float64),
            N_OUT_OF_RANGE: outside.sum(axis=1).astype(np.float64),
        },
        index=pd.RangeIndex(len(features)),
    )

    def named(mask: np.ndarray) -> dict[str, int]:
        counts = mask.sum(axis=0)
        return {numeric[j]: int(counts[j]) for j in np.flatnonzero(counts)}

    return RowCounts(frame, named(infinite), named(missing), named(outside))


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
