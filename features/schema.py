"""The column schema: what every SMC and MTF feature column is, declared once.

Each feature module declares its columns as a tuple of :class:`ColumnSpec` next to the code that
computes them (``SPECS`` in every ``features/smc`` concept, ``ENGINE_SPECS`` in the engine,
``HTF_SPECS``/``GLOBAL_SPECS`` in ``features/mtf/compute.py``); ``COLUMNS`` is derived from it.
Everything that needs to know what a column is reads it from here: the compact storage dtypes of
``compute_smc``, the feature-table expectations (:mod:`expectations.features`), the model-input
selection (:func:`is_model_input`) and the column table of ``docs/smc.md`` (:func:`markdown_table`).

**Compact storage and "not yet known".** A spec's ``dtype`` is how the column is stored. Float
columns hold NaN where the value is not known yet (no such zone, not warm). Integer columns
cannot hold NaN: there the minimum of the dtype (``-128`` for int8, ``-32768`` for int16,
``-2**31`` for int32) means "not yet known" (:func:`missing_value`); no real value of any
integer column is that minimum. :func:`to_float64` is the one conversion back to float64 that
every consumer uses: it maps the sentinel to NaN, so it returns exactly the values the float64
engine produced, except for float32 columns (their float32 value, widened).

Pure: numpy and pandas only. Module declarations import :class:`ColumnSpec` and the small
constructors below; the registry behind :func:`spec_of` imports the feature modules lazily.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd


class Kind(StrEnum):
    """What a column is."""

    FLAG = "flag"  # 0 / 1
    DIRECTION = "direction"  # -1 / 0 / +1 (bearish / none / bullish, lower / equal / higher)
    COUNT = "count"  # a whole number >= 0 (live zones, events at this bar, touches)
    STATE = "state"  # an ordered code with named values (``categories``)
    CATEGORICAL = "categorical"  # an unordered code with named values (``categories``)
    RATIO = "ratio"  # a scale-free real number: ATRs, fractions, scores, oscillators
    PRICE = "price"  # in price units: a level, or the ATR itself
    AGE = "age"  # bars since an event
    TIME = "time"  # a time / key column (epoch seconds), not a feature of the market


INT8 = np.dtype(np.int8)
INT16 = np.dtype(np.int16)
INT32 = np.dtype(np.int32)
FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class ColumnSpec:
    """One feature column.

    Attributes:
        name: The column name (for MTF per-timeframe columns, the name after the ``{p}`` prefix
            is the template; :func:`spec_of` returns the spec with the full name).
        kind: What the column is.
        unit: Its unit, for people (``"ATR"``, ``"bars"``, ``"price"``, ``"0/1"``...).
        lo: Smallest valid value (inclusive), ``None`` for unbounded.
        hi: Largest valid value (inclusive), ``None`` for unbounded.
        required: Known (not NaN / not the integer sentinel) on every row once the producer is
            warm (``smc_warm`` for SMC columns).
        dtype: The compact storage dtype.
        doc: One line: what the value means.
        categories: For STATE / CATEGORICAL: the names of the codes ``lo, lo + 1, ...``.
    """

    name: str
    kind: Kind
    unit: str
    lo: float | None
    hi: float | None
    required: bool
    dtype: np.dtype
    doc: str
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        coded = self.kind in (Kind.STATE, Kind.CATEGORICAL)
        if coded != bool(self.categories):
            raise ValueError(f"{self.name}: categories are for state/categorical columns only")
        if coded and (self.lo is None or self.hi != self.lo + len(self.categories) - 1):
            raise ValueError(f"{self.name}: codes lo..hi must number the categories")
        if self.dtype.kind == "i" and self.lo is not None and self.lo <= missing_value(self.dtype):
            raise ValueError(f"{self.name}: lo collides with the integer 'unknown' sentinel")

    @property
    def codes(self) -> tuple[int, ...]:
        """The integer codes of a STATE / CATEGORICAL column (``lo`` upward), else ``()``."""
        if not self.categories or self.lo is None:
            return ()
        return tuple(int(self.lo) + k for k in range(len(self.categories)))

    def renamed(self, name: str) -> ColumnSpec:
        """Return this spec under another name (a timeframe-prefixed MTF column)."""
        return ColumnSpec(
            name,
            self.kind,
            self.unit,
            self.lo,
            self.hi,
            self.required,
            self.dtype,
            self.doc,
            self.categories,
        )


def missing_value(dtype: np.dtype) -> float:
    """Return how ``dtype`` stores "not yet known": NaN for floats, the minimum for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind == "i":
        return float(np.iinfo(dtype).min)
    if dtype.kind == "f":
        return float("nan")
    raise ValueError(f"dtype {dtype} has no 'not yet known' value")


# ---- constructors used by the module declarations -------------------------------------------


def flag(name: str, doc: str, *, required: bool = False) -> ColumnSpec:
    """A 0/1 column (int8)."""
    return ColumnSpec(name, Kind.FLAG, "0/1", 0.0, 1.0, required, INT8, doc)


def direction(name: str, doc: str, *, required: bool = False, lo: float = -1.0) -> ColumnSpec:
    """A -1/0/+1 column (int8)."""
    return ColumnSpec(name, Kind.DIRECTION, "-1/0/+1", lo, 1.0, required, INT8, doc)


def count(
    name: str, doc: str, *, required: bool = False, lo: float = 0.0, dtype: np.dtype = INT16
) -> ColumnSpec:
    """A whole number >= ``lo`` (int16 unless told)."""
    return ColumnSpec(name, Kind.COUNT, "count", lo, None, required, dtype, doc)


def age(name: str, doc: str, *, required: bool = False, lo: float = 0.0) -> ColumnSpec:
    """Bars since an event (int32)."""
    return ColumnSpec(name, Kind.AGE, "bars", lo, None, required, INT32, doc)


def ratio(
    name: str,
    unit: str,
    lo: float | None,
    hi: float | None,
    doc: str,
    *,
    required: bool = False,
    dtype: np.dtype = FLOAT32,
) -> ColumnSpec:
    """A scale-free real number (float32 unless told: float64 where a consumer compares it)."""
    return ColumnSpec(name, Kind.RATIO, unit, lo, hi, required, np.dtype(dtype), doc)


def price(name: str, doc: str, *, required: bool = False) -> ColumnSpec:
    """A price level (float64, > 0)."""
    return ColumnSpec(name, Kind.PRICE, "price", 0.0, None, required, FLOAT64, doc)


def state(
    name: str,
    categories: Sequence[str],
    doc: str,
    *,
    lo: float = 0.0,
    required: bool = False,
    kind: Kind = Kind.STATE,
) -> ColumnSpec:
    """A code ``lo, lo + 1, ...`` naming ``categories`` (int8)."""
    hi = lo + len(categories) - 1
    return ColumnSpec(name, kind, "code", lo, hi, required, INT8, doc, tuple(categories))


def names(specs: Iterable[ColumnSpec]) -> tuple[str, ...]:
    """Return the names of ``specs``, in order."""
    return tuple(s.name for s in specs)


# ---- the registry -----------------------------------------------------------------------------

KNOWN_AT = ColumnSpec(
    "known_at",
    Kind.TIME,
    "epoch s",
    0.0,
    None,
    True,
    FLOAT64,
    "when the row's values became known (the candle's close), in epoch seconds",
)
# MTF per-timeframe columns: ``{unit}{n}_`` then the template (``m5_bias``, ``h4_pd_pos``).
_TF_PREFIX = re.compile(r"^([mhdw]\d+)_(.+)$")


@functools.cache
def _smc_specs() -> dict[str, ColumnSpec]:
    from features.smc import engine

    found: dict[str, ColumnSpec] = {}
    for spec in (*engine.ENGINE_SPECS, *(s for _, m in engine.CONCEPTS for s in m.SPECS)):
        if spec.name in found:
            raise RuntimeError(f"column {spec.name!r} is declared twice")
        found[spec.name] = spec
    return found


@functools.cache
def _mtf_specs() -> tuple[dict[str, ColumnSpec], dict[str, ColumnSpec]]:
    from features.mtf import compute

    return (
        {s.name: s for s in compute.HTF_SPECS},
        {s.name: s for s in compute.GLOBAL_SPECS},
    )


def smc_specs() -> tuple[ColumnSpec, ...]:
    """Return the spec of every ``compute_smc`` column, in the engine's column order."""
    return tuple(_smc_specs().values())


@functools.cache
def spec_of(name: str) -> ColumnSpec:
    """Return the spec of any SMC or MTF column (timeframe-prefixed names too), or ``known_at``.

    Raises:
        KeyError: No module declares ``name``.
    """
    if not isinstance(name, str):
        raise KeyError(f"column names are strings, got {name!r}")
    smc = _smc_specs()
    if name in smc:
        return smc[name]
    per_tf, global_ = _mtf_specs()
    if name in global_:
        return global_[name]
    if name == KNOWN_AT.name:
        return KNOWN_AT
    match = _TF_PREFIX.match(name)
    if match and match.group(2) in per_tf:
        return per_tf[match.group(2)].renamed(name)
    raise KeyError(f"column {name!r} has no spec: declare it in its feature module's SPECS")


def specs(names: Sequence[str]) -> tuple[ColumnSpec, ...]:
    """Return the specs of ``names``, in order (raises ``KeyError`` naming an unknown one)."""
    return tuple(spec_of(n) for n in names)


def has_spec(name: str) -> bool:
    """Return whether ``name`` is a declared column."""
    try:
        spec_of(name)
    except KeyError:
        return False
    return True


def is_model_input(spec: ColumnSpec) -> bool:
    """Return whether a model may read the column: not a price level, not a time/key column.

    A model fed raw price levels learns the price regime of its training period; everything
    kept is in ATRs, ratios, counts, ages, codes or flags, i.e. invariant under a price scale.
    """
    return spec.kind not in (Kind.PRICE, Kind.TIME)


# ---- conversions ------------------------------------------------------------------------------


def _as_float64(values: np.ndarray, into: np.ndarray) -> None:
    """Write ``values`` (any numeric dtype, compact) into the float64 ``into``, sentinel -> NaN."""
    kind = values.dtype.kind
    if kind == "i":
        into[:] = values
        into[values == np.iinfo(values.dtype).min] = np.nan
    elif kind in "fub":
        into[:] = values
    else:
        raise TypeError(f"cannot read a {values.dtype} column as float64")


def column_float64(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Return one column of a compact (or float64) frame as float64, "not yet known" -> NaN."""
    series = frame[name]
    if series.dtype == FLOAT64:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.empty(len(series))
    _as_float64(series.to_numpy(), out)
    return out


def to_float64(
    frame: pd.DataFrame, columns: Sequence[str] | None = None, *, order: str = "C"
) -> np.ndarray:
    """Return ``frame[columns]`` (all columns when ``None``) as a float64 matrix.

    The one conversion from compact storage back to float64: the integer "not yet known"
    sentinel (the dtype's minimum) becomes NaN, every other value is exact (float32 columns:
    their float32 value, widened). Works on float64 frames too (then it is a plain copy).
    ``order`` is the matrix's memory order (``"F"``: each column contiguous).
    """
    cols = list(frame.columns) if columns is None else list(columns)
    out = np.empty((len(frame), len(cols)), order=order)  # type: ignore[call-overload]
    for j, name in enumerate(cols):
        series = frame[name]
        if pd.api.types.is_extension_array_dtype(series.dtype):
            out[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            _as_float64(series.to_numpy(), out[:, j])
    return out


def exact_float(dtype: np.dtype) -> np.dtype:
    """Return the narrowest float dtype holding every value of ``dtype`` exactly, and NaN.

    What a compact column is read as where "not yet known" is NaN (a Feast retrieval):
    int8, int16 and float32 -> float32; int32 and float64 -> float64.
    """
    dtype = np.dtype(dtype)
    if dtype == FLOAT32 or (dtype.kind in "iub" and dtype.itemsize <= 2):
        return FLOAT32
    if dtype == FLOAT64 or (dtype.kind in "iu" and dtype.itemsize <= 4):
        return FLOAT64
    raise ValueError(f"no float dtype holds every value of {dtype} exactly")


def compact_frame(values: np.ndarray, columns: Sequence[str], index: pd.Index) -> pd.DataFrame:
    """Return the float64 matrix ``values`` (rows, columns) stored as the columns' spec dtypes.

    NaN in an integer column becomes its sentinel; the inverse of :func:`to_float64` (exact
    for every column but the float32 ones).
    """
    data: dict[str, np.ndarray] = {}
    for j, spec in enumerate(specs(columns)):
        data[spec.name] = cast_column(values[:, j], spec.dtype)
    return pd.DataFrame(data, index=index, copy=False)


def cast_column(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Return the float64 ``values`` as ``dtype``, NaN -> the integer sentinel."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    nan = np.isnan(values)
    if nan.any():
        return np.where(nan, missing_value(dtype), values).astype(dtype)
    return values.astype(dtype)


# ---- documentation ----------------------------------------------------------------------------


def _range_text(spec: ColumnSpec) -> str:
    if spec.categories:
        return ", ".join(f"{c} {n}" for c, n in zip(spec.codes, spec.categories, strict=True))
    if spec.kind is Kind.PRICE:
        return "> 0"
    lo = "" if spec.lo is None else f"{spec.lo:g}"
    hi = "" if spec.hi is None else f"{spec.hi:g}"
    if spec.lo is not None and spec.hi is not None:
        return f"{lo}..{hi}"
    if spec.lo is not None:
        return f">= {lo}"
    if spec.hi is not None:
        return f"<= {hi}"
    return "any"


def markdown_table(
    column_specs: Sequence[ColumnSpec], name: Callable[[str], str] = lambda n: n
) -> str:
    """Return the Markdown table of ``column_specs`` (one row per column), for the docs."""
    lines = [
        "| column | kind | dtype | unit | values | required | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in column_specs:
        doc = s.doc.replace("|", r"\|")
        lines.append(
            f"| `{name(s.name)}` | {s.kind.value} | {s.dtype.name} | {s.unit} | "
            f"{_range_text(s)} | {'yes' if s.required else ''} | {doc} |"
        )
    return "\n".join(lines)


def doc_tables() -> dict[str, str]:
    """Return the generated column tables of the docs, by marker name.

    ``smc``: every ``compute_smc`` column; ``mtf``: the per-timeframe columns of ``compute_mtf``
    (``{p}`` is a timeframe prefix such as ``m5_`` or ``h4_``) then its global columns.
    """
    from features.mtf import compute

    per_tf = markdown_table(compute.HTF_SPECS, lambda n: "{p}" + n)
    global_ = markdown_table(compute.GLOBAL_SPECS).split("\n", 2)[2]
    return {"smc": markdown_table(smc_specs()), "mtf": f"{per_tf}\n{global_}"}


def _marked(name: str) -> tuple[str, str]:
    return (
        f"<!-- columns:{name} (generated by python -m features.schema) -->",
        f"<!-- /columns:{name} -->",
    )


def render_doc(text: str, name: str, table: str) -> str:
    """Return ``text`` with the block between ``name``'s markers replaced by ``table``.

    Raises:
        ValueError: The markers are missing.
    """
    begin, end = _marked(name)
    if begin not in text or end not in text:
        raise ValueError(f"the document has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


DOC_FILES: dict[str, str] = {"smc": "docs/smc.md", "mtf": "docs/mtf.md"}


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the column tables of ``docs/smc.md`` and ``docs/mtf.md`` from the schema."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name, table in doc_tables().items():
        path = root / DOC_FILES[name]
        text = path.read_text()
        new = render_doc(text, name, table)
        if new != text:
            path.write_text(new)
            print(f"updated {path.relative_to(root)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Through the imported module: the declarations use its Kind, not this __main__ copy's.
    from features.schema import main as _main

    raise SystemExit(_main())
