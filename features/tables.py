"""Offline feature tables: SMC and MTF frames as Feast offline tables, kept as Parquet files.

The row layout is :mod:`features.layout`'s. ``FeatureTables`` stores the rows under
``<root>/<view>/<encoded symbol>/<period>.parquet`` (period: the month of the open time below
one hour, the year otherwise; no ``key=value`` folders, so that readers do not add a second
``symbol`` column). A write replaces every row whose candle opened in ``[start, end)``
(re-running a partition is idempotent), merges with the rest of the period file and swaps the
file atomically under a per-series ``flock``. Domain code only: numpy, pandas, pyarrow.

Each feature column is stored in its spec's dtype (:mod:`features.schema`: int8/int16/int32,
float32, float64; float64 for a column without a spec), the Feast views' field types follow
the same specs. An integer column's "not yet known" is a Parquet null (never its sentinel), a
float column's is NaN: read back through pyarrow/pandas or Feast, both are NaN / missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.candles.schema import CandleDataError, Timeframe
from features.files import exclusive, replacing
from features.layout import (
    CREATED,
    ENTITY,
    EVENT_TIMESTAMP,
    KEY_COLUMNS,
    KNOWN_AT,
    OPEN_TIME,
    VECTOR,
    encode_symbol,
    utc,
    utc_ns,
)
from features.schema import has_spec, missing_value, spec_of, to_float64

_HOUR = 3600
_TS = pa.timestamp("ns", tz="UTC")


def to_offline_table(
    features: pd.DataFrame,
    *,
    symbol: str,
    timeframe: str | Timeframe,
    created: pd.Timestamp,
) -> pd.DataFrame:
    """Return ``features`` (indexed by candle open time) as offline-table rows.

    Raises:
        CandleDataError: The index is not a tz-aware DatetimeIndex or a column is not numeric.
    """
    tf = Timeframe.parse(timeframe)
    index = features.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleDataError(
            f"{symbol} {tf.label} features need a tz-aware DatetimeIndex of open times, "
            f"got {type(index).__name__}"
        )
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad and list(features.columns) != [VECTOR]:
        raise CandleDataError(f"{symbol} {tf.label} feature columns must be numeric: {bad}")
    opened = index.tz_convert("UTC").as_unit("ns")
    closed = opened + tf.delta
    head = pd.DataFrame(
        {
            ENTITY: np.full(len(features), symbol, dtype=object),
            EVENT_TIMESTAMP: closed,
            CREATED: pd.DatetimeIndex([utc(created, "created")] * len(features)).as_unit("ns"),
            OPEN_TIME: opened,
            KNOWN_AT: utc_ns(closed) / 1e9,
        },
        index=pd.RangeIndex(len(features)),
    )
    # compact columns stay compact: the writer stores each in its spec's dtype
    body = features.reset_index(drop=True)
    return pd.concat([head, body], axis=1)


def features_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Invert :func:`to_offline_table`: the feature columns indexed by open time ``ts``."""
    index = pd.DatetimeIndex(table[OPEN_TIME], name=OPEN_TIME)
    columns = [c for c in table.columns if c not in (*KEY_COLUMNS, KNOWN_AT)]
    frame = table[columns].copy()
    frame.index = index
    return frame


def _period_unit(timeframe: Timeframe) -> str:
    return "M" if timeframe.seconds < _HOUR else "Y"


def _period_bounds(key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = np.datetime64(key)
    return (
        pd.Timestamp(start.astype("datetime64[ns]"), tz="UTC"),
        pd.Timestamp((start + 1).astype("datetime64[ns]"), tz="UTC"),
    )


def _column_type(column: str) -> pa.DataType:
    """Return a column's stored type: the key types, the spec's dtype for a feature."""
    if column == ENTITY:
        return pa.string()
    if column in (EVENT_TIMESTAMP, CREATED, OPEN_TIME):
        return _TS
    if column == VECTOR:
        return pa.list_(pa.float64())
    return pa.from_numpy_dtype(spec_of(column).dtype) if has_spec(column) else pa.float64()


def _feature_array(frame: pd.DataFrame, column: str, kind: pa.DataType) -> pa.Array:
    """Return a feature column as ``kind``; an integer's "not yet known" becomes null.

    The values may be compact (sentinel), a float copy (NaN or the widened sentinel) or
    another version's dtype read back: all are mapped by the column's spec.
    """
    dtype = np.dtype(kind.to_pandas_dtype())
    raw = frame[column].to_numpy()
    if dtype.kind == "f":
        values = raw if raw.dtype == dtype else to_float64(frame, [column])[:, 0].astype(dtype)
        return pa.array(values, type=kind)
    if raw.dtype == dtype:
        missing = raw == missing_value(dtype)
    else:
        floats = to_float64(frame, [column])[:, 0]
        missing = np.isnan(floats) | (floats == missing_value(dtype))
        raw = np.where(missing, 0.0, floats).astype(dtype)
    return pa.array(raw, type=kind, mask=missing if missing.any() else None)


def _to_arrow(table: pd.DataFrame) -> pa.Table:
    arrays: dict[str, pa.Array] = {
        ENTITY: pa.array(table[ENTITY].astype(str).to_numpy(), type=pa.string()),
        EVENT_TIMESTAMP: pa.array(table[EVENT_TIMESTAMP], type=_TS),
        CREATED: pa.array(table[CREATED], type=_TS),
        OPEN_TIME: pa.array(table[OPEN_TIME], type=_TS),
    }
    for column in table.columns:
        if column in arrays:
            continue
        if column == VECTOR:
            width = len(table[VECTOR].iloc[0]) if len(table) else 0
            flat = np.concatenate(list(table[VECTOR].to_numpy())) if len(table) else np.empty(0)
            fixed = pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float64()), width)
            arrays[VECTOR] = fixed.cast(pa.list_(pa.float64()))
        else:
            arrays[column] = _feature_array(table, column, _column_type(column))
    return pa.table(arrays)


def _write_atomic(path: Path, table: pa.Table) -> None:
    with replacing(path) as tmp:
        pq.write_table(table, tmp, compression="snappy")


class FeatureTables:
    """Offline feature tables (Parquet) per view, symbol and period; see the module docstring.

    Args:
        root: Folder holding one sub-folder per view (Feast ``FileSource`` paths point there).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FeatureTables(root={str(self.root)!r})"

    def view_dir(self, view: str) -> Path:
        """Return the folder of one view (all symbols)."""
        return self.root / view

    def _series(self, view: str, symbol: str) -> Path:
        return self.view_dir(view) / encode_symbol(symbol)

    def _periods(self, series: Path) -> list[tuple[str, Path]]:
        if not series.is_dir():
            return []
        return sorted((p.stem, p) for p in series.glob("*.parquet") if not p.name.startswith("."))

    def symbols(self, view: str) -> list[str]:
        """Return the symbols stored for a view."""
        folder = self.view_dir(view)
        if not folder.is_dir():
            return []
        return sorted(unquote(p.name) for p in folder.iterdir() if p.is_dir())

    def write(
        self,
        view: str,
        timeframe: str | Timeframe,
        symbol: str,
        table: pd.DataFrame,
        start: pd.Timestamp,
        end: pd.Timestamp,
    ) -> int:
        """Replace the rows of candles that opened in ``[start, end)`` by ``table``.

        ``table`` holds offline-table rows (:func:`to_offline_table`) of ``symbol``, all with
        open times in ``[start, end)``; it may be empty (the span is then cleared).

        Raises:
            CandleDataError: A row lies outside ``[start, end)``, belongs to another symbol,
                or the stored file has other feature columns (written by another version:
                delete the view's folder and rematerialize).
        """
        tf = Timeframe.parse(timeframe)
        lo, hi = utc(start, "start"), utc(end, "end")
        if lo is None or hi is None:
            raise CandleDataError(f"{view} {symbol}: a write needs both start and end")
        opened = pd.DatetimeIndex(table[OPEN_TIME]) if len(table) else pd.DatetimeIndex([])
        if len(table) and (opened.min() < lo or opened.max() >= hi):
            raise CandleDataError(
                f"{view} {symbol}: rows open {opened.min()} .. {opened.max()}, outside the "
                f"span [{lo}, {hi}) being written"
            )
        if len(table) and (table[ENTITY] != symbol).any():
            raise CandleDataError(f"{view}: rows of another symbol in a write for {symbol}")
        unit = _period_unit(tf)
        first = lo.tz_convert(None).to_datetime64().astype(f"datetime64[{unit}]")
        last = (hi - pd.Timedelta(1, "ns")).tz_convert(None).to_datetime64()
        last = last.astype(f"datetime64[{unit}]")
        keys = [str(k) for k in np.arange(first, last + 1)]
        series = self._series(view, symbol)
        written = 0
        with exclusive(series):
            for key in keys:
                p_lo, p_hi = _period_bounds(key)
                part = table[(opened >= p_lo) & (opened < p_hi)] if len(table) else table
                path = series / f"{key}.parquet"
                if path.is_file():
                    stored = pq.read_table(path)
                    if len(table.columns):
                        self._check_layout(view, path, stored.schema, list(table.columns))
                    old = stored.to_pandas()
                    old_open = pd.DatetimeIndex(old[OPEN_TIME])
                    keep = old[(old_open < max(lo, p_lo)) | (old_open >= min(hi, p_hi))]
                    part = pd.concat([keep, part], ignore_index=True) if len(keep) else part
                if not len(part):
                    path.unlink(missing_ok=True)
                    continue
                part = part.sort_values(OPEN_TIME, kind="stable").reset_index(drop=True)
                _write_atomic(path, _to_arrow(part))
                written += int(((part[OPEN_TIME] >= lo) & (part[OPEN_TIME] < hi)).sum())
        return written

    def _check_layout(self, view: str, path: Path, stored: pa.Schema, columns: list[str]) -> None:
        """Raise unless ``path`` stores ``columns`` (another feature version's columns).

        A file of the same columns in other types (the float64 layout before the compact
        one) is taken up: its rows are rewritten in the specs' types with the new ones.
        """
        if stored.names != columns:
            raise CandleDataError(
                f"{path} has columns {len(stored.names)} ({', '.join(stored.names[:3])}, ...) "
                f"unlike the rows being written ({len(columns)}): it was written by another "
                f"feature version; delete {self.view_dir(view)} and rematerialize"
            )

    def read(
        self,
        view: str,
        symbol: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Read the rows of candles that opened in ``[start, end)``, sorted by open time."""
        lo, hi = utc(start, "start"), utc(end, "end")
        parts = []
        for key, path in self._periods(self._series(view, symbol)):
            p_lo, p_hi = _period_bounds(key)
            if (lo is not None and p_hi <= lo) or (hi is not None and p_lo >= hi):
                continue
            filters: list[tuple[str, str, Any]] = []
            if lo is not None:
                filters.append((OPEN_TIME, ">=", lo))
            if hi is not None:
                filters.append((OPEN_TIME, "<", hi))
            wanted = None if columns is None else list(dict.fromkeys([*KEY_COLUMNS, *columns]))
            parts.append(pq.read_table(path, columns=wanted, filters=filters or None).to_pandas())
        if not parts:
            return pd.DataFrame(columns=list(KEY_COLUMNS))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.sort_values(OPEN_TIME, kind="stable").reset_index(drop=True)

    def latest_event_times(self, view: str) -> dict[str, pd.Timestamp]:
        """Return each symbol's newest ``event_timestamp`` in a view (symbols with rows)."""
        latest: dict[str, pd.Timestamp] = {}
        for symbol in self.symbols(view):
            periods = self._periods(self._series(view, symbol))
            if not periods:
                continue
            column = pq.read_table(periods[-1][1], columns=[EVENT_TIMESTAMP]).column(0)
            if len(column):
                latest[symbol] = pd.Timestamp(column.to_pandas().max())
        return latest
