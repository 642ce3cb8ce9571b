"""Candles from a CSV or Parquet file, whatever its column naming.

The file is read once (lazily, then cached) with pyarrow. Columns are matched case-insensitively
against common names (``timestamp``/``time``/``date``/``open_time``/``ts``..., ``open``/``o``,
``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``vol``/``v``, then ``tickvol`` and
the like as a fallback); ``columns=`` overrides the matching. Extra columns are ignored and
listed in ``extra_columns``.

Values are kept as received: a numeric column that parses cleanly becomes float64, a column with
any non-numeric cell stays strings so the validator can quarantine that exact cell. Timestamps
may be ISO strings (naive ones are read in ``tz``, aware ones converted), epoch seconds,
milliseconds, microseconds or nanoseconds (told apart by magnitude) or ``yyyymmdd`` integers;
an unparseable, nonexistent (DST gap) or ambiguous (DST fold that cannot be inferred from the
order of rows) time becomes ``NaT`` and is quarantined downstream. ``source_row`` is the line
number in a CSV file (header = line 1) and the 1-based row number in a Parquet file.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.candles.sources._raw import (
    RAW_COLUMNS,
    empty_raw,
    raw_frame,
    utc_bound,
    utc_required,
)

logger = logging.getLogger(__name__)

TS_NAMES: tuple[str, ...] = (
    "timestamp", "ts", "datetime", "date_time", "open_time", "opentime", "time_open",
    "timestamp_ms", "unix", "unix_time", "time", "date",
)  # fmt: skip
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "open_price", "openprice", "price_open", "first"),
    "high": ("high", "h", "high_price", "highprice", "price_high", "max"),
    "low": ("low", "l", "low_price", "lowprice", "price_low", "min"),
    "close": ("close", "c", "close_price", "closeprice", "price_close", "last"),
    "volume": ("volume", "vol", "v", "base_volume", "volume_base", "volumefrom"),
}
VOLUME_FALLBACKS: tuple[str, ...] = (
    "tickvol", "tick_volume", "tickvolume", "real_volume", "volume_ticks",
)  # fmt: skip

_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_COMPRESSIONS = ("", ".gz", ".bz2", ".zst", ".lz4")
_PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    tuple(s + c for s in _CSV_SUFFIXES for c in _COMPRESSIONS) + _PARQUET_SUFFIXES
)

# epoch unit by magnitude: seconds reach 1e11 only in year 5138
_EPOCH_UNITS: tuple[tuple[Literal["s", "ms", "us", "ns"], float], ...] = (
    ("s", 1e11),
    ("ms", 1e14),
    ("us", 1e17),
    ("ns", float("inf")),
)
_AWARE_RE = r"(?:[Zz]|UTC|[+-]\d{2}:?\d{2})\s*$"


def normalize_name(name: str) -> str:
    """Return a column name lower-cased, BOM/brackets stripped, separators as ``_``."""
    text = str(name).strip().lstrip("\ufeff").strip("<>").lower()
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise CandleDataError(
        f"{path}: unreadable format (unknown extension); supported: {', '.join(SUPPORTED_SUFFIXES)}"
    )


class FileSource:
    """A ``MarketDataSource`` over one CSV or Parquet file holding one symbol.

    Args:
        path: The file (``.csv``, ``.tsv`` or ``.txt``, optionally ``.gz``/``.bz2``/``.zst``/
            ``.lz4``; or ``.parquet``/``.pq``).
        symbol: The symbol the file holds; ``fetch`` with another symbol is an error. ``None``
            serves any requested symbol.
        tz: IANA zone of naive timestamps (aware ones keep their offset).
        timeframe: The file's timeframe, if known; ``fetch`` with another one is an error.
        columns: Explicit mapping from canonical names (``ts``, ``open``, ...) to file columns.
        name: Source name used in quarantine and lineage (default ``file``).
        now: Clock; when given, candles not closed by ``now()`` are left out (for files that a
            live recorder may still be writing). By default every row is returned.

    Example:
        >>> src = FileSource("binance_BTCUSDT_5m.csv.gz", symbol="BTC/USDT")
        >>> raw = src.fetch("BTC/USDT", Timeframe.parse("5m"))
    """

    def __init__(
        self,
        path: str | Path,
        symbol: str | None = None,
        tz: str = "UTC",
        *,
        timeframe: Timeframe | str | None = None,
        columns: Mapping[str, str] | None = None,
        name: str = "file",
        now: Callable[[], pd.Timestamp] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CandleDataError(f"candle file not found: {self.path}")
        self._suffix = _suffix(self.path)
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise CandleDataError(
                f"{self.path}: unknown time zone {tz!r} (use an IANA name)"
            ) from exc
        unknown = set(columns or {}) - set(RAW_COLUMNS[:-1])
        if unknown:
            raise CandleDataError(
                f"{self.path}: columns= has unknown keys {sorted(unknown)}; "
                f"use {list(RAW_COLUMNS[:-1])}"
            )
        self.symbol = symbol
        self.tz = tz
        self.timeframe = Timeframe.parse(timeframe) if timeframe is not None else None
        self.name = name
        self._columns = dict(columns or {})
        self._now = now
        self._raw: pd.DataFrame | None = None
        self._order_ns: np.ndarray | None = None
        self.column_map: dict[str, str] = {}
        self.extra_columns: tuple[str, ...] = ()

    def symbols(self) -> list[str]:
        """Return the file's symbol, or nothing when it was not given."""
        return [self.symbol] if self.symbol is not None else []

    def load(self) -> pd.DataFrame:
        """Return every row of the file as a raw frame (read once, then cached)."""
        return self._loaded()[0]

    def _loaded(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Return the raw frame and each row's position in time (NaT rows take a neighbour's)."""
        if self._raw is None or self._order_ns is None:
            raw = self._read()
            ts = raw["ts"]
            filled = ts.ffill().bfill() if ts.hasnans else ts
            self._order_ns = filled.to_numpy(dtype="datetime64[ns]").view("int64")
            self._raw = raw
        return self._raw, self._order_ns

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Return the file's rows with open time in ``[start, end)``, as received.

        A row whose timestamp is unparseable is returned with ``ts = NaT`` in the window of the
        nearest parseable row above it (below it at the top of the file), so each bad row shows
        up in exactly one window and is never silently dropped.
        """
        if self.symbol is not None and symbol != self.symbol:
            raise CandleDataError(f"{self.path} holds {self.symbol!r}, not {symbol!r}")
        tf = Timeframe.parse(timeframe)
        if self.timeframe is not None and tf != self.timeframe:
            raise CandleDataError(
                f"{self.path} holds {self.timeframe.label} candles, not {tf.label}"
            )
        lo, hi = utc_bound(start, "start"), utc_bound(end, "end")
        raw, order = self._loaded()
        keep = np.ones(len(raw), dtype=bool)
        if lo is not None:
            keep &= order >= lo.value
        if hi is not None:
            keep &= order < hi.value
        if self._now is not None:
            now = utc_required(self._now(), "now()")
            ts_ns = raw["ts"].to_numpy(dtype="datetime64[ns]").view("int64")
            keep &= raw["ts"].isna().to_numpy() | (ts_ns + tf.ns <= now.value)
        if keep.all():
            return raw.copy()
        out = raw.loc[keep].reset_index(drop=True)
        return out if len(out) else empty_raw()

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> pd.DataFrame:
        if self._suffix in _PARQUET_SUFFIXES:
            names = self._parquet_names()
            mapping = self._map_columns(names)
            table, rows = self._read_parquet(mapping), None
        else:
            data = self._read_bytes()
            delimiter = _sniff_delimiter(data)
            names = next(csv.reader([_first_line(data)], delimiter=delimiter))
            mapping = self._map_columns(names)
            table, rows = self._read_csv(data, delimiter, mapping)
        if table.num_rows == 0:
            raise CandleDataError(f"{self.path}: empty file (no rows)")
        frame = self._to_raw(table, mapping, rows)
        logger.info("%s: read %d rows, columns %s", self.path, len(frame), self.column_map)
        return frame

    def _read_bytes(self) -> bytes:
        try:
            with pa.input_stream(str(self.path), compression="detect") as stream:
                data = stream.read()
        except (OSError, pa.ArrowException) as exc:
            raise CandleDataError(f"{self.path}: cannot read file: {exc}") from exc
        if re.search(rb"\S", data) is None:
            raise CandleDataError(f"{self.path}: empty file (no header, no rows)")
        return bytes(data)

    def _parquet_names(self) -> list[str]:
        try:
            return list(pq.read_schema(self.path).names)
        except (OSError, pa.ArrowException) as exc:
            raise CandleDataError(f"{self.path}: unreadable Parquet file: {exc}") from exc

    def _read_parquet(self, mapping: dict[str, list[str]]) -> pa.Table:
        wanted = sorted({c for cols in mapping.values() for c in cols})
        try:
            return pq.read_table(self.path, columns=wanted)
        except (OSError, pa.ArrowException) as exc:
            raise CandleDataError(f"{self.path}: unreadable Parquet file: {exc}") from exc

    def _read_csv(
        self, data: bytes, delimiter: str, mapping: dict[str, list[str]]
    ) -> tuple[pa.Table, np.ndarray]:
        """Read with pyarrow when line numbers stay exact; else with ``csv`` tracking lines."""
        wanted = sorted({c for cols in mapping.values() for c in cols})
        as_text = {c: pa.string() for c in mapping["ts"]} if len(mapping["ts"]) > 1 else {}
        end = len(data)
        while end and data[end - 1] in b"\r\n":
            end -= 1
        lines = data.count(b"\n", 0, end) + 1

        def read(types: Mapping[str, pa.DataType]) -> pa.Table:
            return pacsv.read_csv(
                pa.BufferReader(data),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted, column_types=types, strings_can_be_null=True
                ),
            )

        # A bad cell after pyarrow's first block defeats its type inference: read the fields,
        # then everything, as text and parse each column that is numeric throughout.
        fields_as_text = {c: pa.string() for c in wanted if c not in mapping["ts"]}
        attempts = [as_text, {**as_text, **fields_as_text}, {c: pa.string() for c in wanted}]
        for types in attempts:
            try:
                table = read(types)
                break
            except pa.ArrowInvalid as exc:
                if "columns, got" in str(exc):  # a ragged row: no typing helps
                    return _read_csv_slow(data, delimiter, wanted)
        else:
            return _read_csv_slow(data, delimiter, wanted)
        if types is not as_text:
            table = pa.table({c: _clean_numeric(table.column(c)) for c in wanted})
        if table.num_rows != lines - 1:  # blank lines or multi-line cells shift line numbers
            return _read_csv_slow(data, delimiter, wanted)
        return table, np.arange(2, table.num_rows + 2, dtype="int64")

    def _map_columns(self, names: list[str]) -> dict[str, list[str]]:
        """Map canonical fields to file columns (``ts`` may take a date and a time column)."""
        by_norm: dict[str, str] = {}
        for raw_name in names:
            by_norm.setdefault(normalize_name(raw_name), raw_name)
        mapping: dict[str, list[str]] = {}
        for field, explicit in self._columns.items():
            found = explicit if explicit in names else by_norm.get(normalize_name(explicit))
            if found is None:
                raise CandleDataError(
                    f"{self.path}: column {explicit!r} given for {field!r} not found; "
                    f"found columns: {names}"
                )
            mapping[field] = [found]
        if "ts" not in mapping:
            ts = _first_match(by_norm, TS_NAMES)
            if ts is not None and normalize_name(ts) in ("time", "date") and "date" in by_norm:
                mapping["ts"] = [by_norm["date"], by_norm["time"]] if "time" in by_norm else [ts]
            elif ts is not None:
                mapping["ts"] = [ts]
        for field, aliases in FIELD_NAMES.items():
            if field in mapping:
                continue
            candidates = aliases
            if field == "volume":
                candidates = aliases + self._base_volume_names() + VOLUME_FALLBACKS
            found_name = _first_match(by_norm, candidates)
            if found_name is not None:
                mapping[field] = [found_name]
        for field in RAW_COLUMNS[:-1]:
            if field not in mapping:
                accepted = TS_NAMES if field == "ts" else FIELD_NAMES[field]
                raise CandleDataError(
                    f"{self.path}: missing required column {field!r} (accepted names: "
                    f"{', '.join(accepted)}; or pass columns={{{field!r}: ...}}); "
                    f"found columns: {names}"
                )
        used = {c for cols in mapping.values() for c in cols}
        self.column_map = {field: "+".join(cols) for field, cols in mapping.items()}
        self.extra_columns = tuple(n for n in names if n not in used)
        if self.extra_columns:
            logger.info("%s: ignoring extra columns %s", self.path, list(self.extra_columns))
        return mapping

    def _base_volume_names(self) -> tuple[str, ...]:
        if not self.symbol:
            return ()
        base = normalize_name(re.split(r"[/:\-_]", self.symbol)[0])
        return (f"volume_{base}", f"{base}_volume")

    def _to_raw(
        self, table: pa.Table, mapping: dict[str, list[str]], rows: np.ndarray | None
    ) -> pd.DataFrame:
        ts_values = _ts_values([table.column(c) for c in mapping["ts"]])
        ts = _parse_timestamps(ts_values, self.tz, self.path)
        values = [_field_values(table.column(mapping[f][0])) for f in OHLCV]
        if rows is None:
            rows = np.arange(1, table.num_rows + 1, dtype="int64")
        return raw_frame(ts, values, rows)


def _first_match(by_norm: Mapping[str, str], candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if candidate in by_norm:
            return by_norm[candidate]
    return None


def _first_line(data: bytes) -> str:
    newline = data.find(b"\n")
    line = data if newline < 0 else data[:newline]
    return line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")


def _sniff_delimiter(data: bytes) -> str:
    header = _first_line(data)
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv_slow(data: bytes, delimiter: str, wanted: list[str]) -> tuple[pa.Table, np.ndarray]:
    """Read a CSV with the stdlib, keeping each record's physical line number."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    positions = [header.index(name) for name in wanted]
    width = len(header)
    rows: list[int] = []
    cells: list[list[str | None]] = [[] for _ in wanted]
    line_after_previous = reader.line_num
    for record in reader:
        first_line = line_after_previous + 1
        line_after_previous = reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        record = (record + [""] * width)[:width]
        rows.append(first_line)
        for out, pos in zip(cells, positions, strict=True):
            value = record[pos]
            out.append(value if value.strip() else None)
    columns = {name: _clean_numeric(column) for name, column in zip(wanted, cells, strict=True)}
    return pa.table(columns), np.asarray(rows, dtype="int64")


def _clean_numeric(
    column: list[str | None] | pa.ChunkedArray,
) -> pa.Array | pa.ChunkedArray:
    """Return float64 when every non-empty cell is a number, else the strings as received."""
    strings = column if isinstance(column, pa.ChunkedArray) else pa.array(column, pa.string())
    if not pa.types.is_string(strings.type):
        return strings
    try:
        return strings.cast(pa.float64())
    except pa.ArrowInvalid:
        return strings


def _ts_values(columns: list[pa.ChunkedArray]) -> pd.Series:
    """Return the time column(s) as pandas values: datetimes, numbers or strings."""
    if len(columns) > 1:  # a date and a time column
        parts = [c.cast(pa.string()).to_pandas() for c in columns]
        return parts[0].str.cat(parts[1:], sep=" ")
    column = columns[0]
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("s"))
    elif not (
        pa.types.is_timestamp(column.type)
        or pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_null(column.type)
    ):
        column = column.cast(pa.string())
    return column.to_pandas()


def _field_values(column: pa.ChunkedArray) -> np.ndarray:
    """Return a numeric column as float64 and anything else as received (object)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return np.asarray(column.cast(pa.float64()).to_numpy(), dtype="float64")
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan)
    return np.asarray(column.to_pandas(), dtype=object)


def _parse_timestamps(values: pd.Series, tz: str, path: Path) -> pd.DatetimeIndex:
    """Parse a timestamp column to UTC (``NaT`` where unparseable)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = pd.DatetimeIndex(values).tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = _localize(pd.DatetimeIndex(values), tz)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        parsed = _from_epoch(values)
    else:
        parsed = _parse_strings(values.astype("string").str.strip(), tz)
    if len(parsed) and bool(np.asarray(parsed.isna()).all()):
        present = values.dropna()
        example = repr(present.iloc[0]) if len(present) else "all empty"
        raise CandleDataError(
            f"{path}: no parseable timestamp in the time column (first value {example})"
        )
    return parsed


def _parse_strings(text: pd.Series, tz: str) -> pd.DatetimeIndex:
    aware = text.str.contains(_AWARE_RE, regex=True, na=False).to_numpy()
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        result[aware] = _parse_subset(text[aware], utc=True)
    if (~aware).any():
        naive = _parse_subset(text[~aware], utc=False)
        result[~aware] = _localize(pd.DatetimeIndex(naive), tz)
    missing = result.isna().to_numpy() & text.notna().to_numpy()
    if missing.any():
        numbers = pd.to_numeric(text[missing], errors="coerce")
        if numbers.notna().any():
            result[missing] = _from_epoch(numbers)
    return pd.DatetimeIndex(result)


def _parse_subset(text: pd.Series, *, utc: bool) -> pd.Series:
    """Parse ISO 8601 first, then an inferred format, then anything dateutil reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = pd.to_datetime(text, errors="coerce", utc=utc, format="ISO8601")
        for fmt in (None, "mixed"):
            left = out.isna() & text.notna()
            if not left.any():
                break
            out[left] = pd.to_datetime(text[left], errors="coerce", utc=utc, format=fmt)
    return out


def _localize(index: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Read naive times in ``tz``; DST gaps become NaT, folds are inferred from row order."""
    if index.tz is not None:
        return index.tz_convert("UTC")
    if tz == "UTC":
        return index.tz_localize("UTC")
    try:
        local = index.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except ValueError:
        local = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return local.tz_convert("UTC")


def _from_epoch(numbers: pd.Series) -> pd.DatetimeIndex:
    """Convert epoch numbers, choosing s/ms/us/ns by magnitude (or ``yyyymmdd`` dates)."""
    finite = numbers[np.isfinite(numbers.astype("float64"))]
    if finite.empty:
        return pd.DatetimeIndex(np.full(len(numbers), np.datetime64("NaT", "ns")), tz="UTC")
    if ((finite >= 19000101) & (finite <= 21001231) & (finite % 1 == 0)).all():
        text = numbers.map(lambda v: f"{int(v):08d}" if pd.notna(v) else None)
        return pd.DatetimeIndex(pd.to_datetime(text, format="%Y%m%d", errors="coerce", utc=True))
    magnitude = float(np.median(np.abs(finite)))
    unit = next(u for u, limit in _EPOCH_UNITS if magnitude < limit)
    return pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, errors="coerce", utc=True))
