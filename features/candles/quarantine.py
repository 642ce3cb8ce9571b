"""Parquet stores for rejected rows (quarantine) and for raw input as received (archive).

Both lay files out as
``root/source=<s>/symbol=<s>/timeframe=<tf>/partition=<p>/ingest=<id>.parquet``, with each name
percent-encoded so that any symbol (``BTC/USDT:USDT``) or partition key (``2024-01-01-00:00``)
maps to one safe folder or file and back.

An *ingest* is one batch of raw input; its id is a digest of the raw rows as archived
(``ingest_id``). Evidence is keyed by partition *and* ingest, so no ingest can overwrite
another's: two different files ingested for one symbol and window (``open-open``) keep both
raw archives and both quarantines, while ingesting the same content again maps to the same
files (atomic rename) and duplicates nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.candles.schema import INDEX_NAME, OHLCV, CandleDataError, Timeframe
from features.candles.validate import (
    QUARANTINE_COLUMNS,
    REASON_SEPARATOR,
    SOURCE_ROW,
    ValidationResult,
    as_text,
    empty_quarantine,
    reason_kind,
)
from features.files import replacing

PARTITION = "partition"
INGEST = "ingest"
_SUFFIX = ".parquet"
_DIGEST_CHARS = 16
_KEYS: tuple[str, ...] = ("source", "symbol", "timeframe")
_TEXT = pa.string()
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", _TEXT),
        ("symbol", _TEXT),
        ("timeframe", _TEXT),
        (SOURCE_ROW, pa.int64()),
        (INDEX_NAME, pa.timestamp("ns", tz="UTC")),
        *[(c, _TEXT) for c in OHLCV],
        ("reason", _TEXT),
    ]
)


def _encode(kind: str, value: str) -> str:
    """Percent-encode ``value`` as one path segment; refuse names that cannot be one."""
    if not isinstance(value, str) or not value.strip() or set(value) == {"."}:
        raise CandleDataError(f"{kind} {value!r} cannot name a folder or file")
    return quote(value, safe="")


def _label(timeframe: Timeframe | str) -> str:
    return Timeframe.parse(timeframe).label


def ingest_id(stored: pa.Table) -> str:
    """Return the id of one ingest: a digest of its archived rows (columns, types, values)."""
    table = stored.replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:_DIGEST_CHARS]


class _PartitionedParquet:
    """Parquet files per source / symbol / timeframe / partition / ingest under one root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, source: str, symbol: str, timeframe: Timeframe | str, partition: str) -> Path:
        """Return the folder that holds the ingests of one partition."""
        return (
            self.root
            / f"source={_encode('source', source)}"
            / f"symbol={_encode('symbol', symbol)}"
            / f"timeframe={_encode('timeframe', _label(timeframe))}"
            / f"{PARTITION}={_encode('partition', partition)}"
        )

    def path(
        self, source: str, symbol: str, timeframe: Timeframe | str, partition: str, ingest: str
    ) -> Path:
        """Return the file that holds one ingest of one partition."""
        name = f"{INGEST}={_encode('ingest', ingest)}{_SUFFIX}"
        return self.folder(source, symbol, timeframe, partition) / name

    def _files(
        self,
        source: str | None,
        symbol: str | None,
        timeframe: Timeframe | str | None,
        partition: str | None,
        ingest: str | None = None,
    ) -> Iterator[tuple[dict[str, str], Path]]:
        """Yield ``(keys, path)`` of the stored files matching the filters, sorted."""
        pattern = "/".join(
            [
                f"source={'*' if source is None else _encode('source', source)}",
                f"symbol={'*' if symbol is None else _encode('symbol', symbol)}",
                f"timeframe={'*' if timeframe is None else _encode('tf', _label(timeframe))}",
                f"{PARTITION}={'*' if partition is None else _encode('partition', partition)}",
                f"{INGEST}={'*' if ingest is None else _encode('ingest', ingest)}{_SUFFIX}",
            ]
        )
        if not self.root.is_dir():
            return
        names = (*_KEYS, PARTITION)
        for path in sorted(self.root.glob(pattern)):
            parts = path.relative_to(self.root).parts
            keys = {k: unquote(p.split("=", 1)[1]) for k, p in zip(names, parts, strict=False)}
            keys[INGEST] = unquote(path.name.removesuffix(_SUFFIX).split("=", 1)[1])
            yield keys, path

    @staticmethod
    def _write_atomic(table: pa.Table, path: Path) -> None:
        """Write ``table`` to ``path`` so that readers see the old or the new file, whole."""
        with replacing(path) as tmp:
            pq.write_table(table, tmp)

    def partitions(self, source: str, symbol: str, timeframe: Timeframe | str) -> list[str]:
        """List the stored partition keys of one source, symbol and timeframe."""
        keys = {keys[PARTITION] for keys, _ in self._files(source, symbol, timeframe, None)}
        return sorted(keys)

    def ingests(
        self, source: str, symbol: str, timeframe: Timeframe | str, partition: str
    ) -> list[str]:
        """List the ingest ids stored for one partition."""
        return [keys[INGEST] for keys, _ in self._files(source, symbol, timeframe, partition)]


class QuarantineStore(_PartitionedParquet):
    """Rejected rows with their reasons, one Parquet file per partition and ingest."""

    def write(
        self,
        source: str,
        symbol: str,
        timeframe: Timeframe | str,
        partition: str,
        rows: pd.DataFrame,
        *,
        ingest: str,
    ) -> int:
        """Replace one ingest's quarantine with ``rows``; return the rows written.

        Writing no rows removes that ingest's file (its input has nothing quarantined);
        other ingests of the partition are left alone.

        Raises:
            CandleDataError: ``rows`` lack a quarantine column or belong to another
                source, symbol or timeframe.
        """
        label = _label(timeframe)
        path = self.path(source, symbol, label, partition, ingest)
        missing = [c for c in QUARANTINE_COLUMNS if c not in rows.columns]
        if missing:
            raise CandleDataError(f"quarantine rows for {path} lack column(s) {missing}")
        for key, expected in zip(_KEYS, (source, symbol, label), strict=True):
            other = sorted(set(rows[key].astype(str)) - {expected})
            if other:
                raise CandleDataError(
                    f"quarantine rows for {key} {expected!r} hold other {key} values {other}"
                )
        if not len(rows):
            path.unlink(missing_ok=True)
            return 0
        frame = rows[list(QUARANTINE_COLUMNS)].reset_index(drop=True)
        table = pa.Table.from_pandas(frame, schema=QUARANTINE_SCHEMA, preserve_index=False)
        self._write_atomic(table, path)
        return len(frame)

    def write_result(self, result: ValidationResult, partition: str, *, ingest: str) -> int:
        """Replace one ingest's quarantine with a validation result's rejected rows."""
        return self.write(
            result.source,
            result.symbol,
            result.timeframe,
            partition,
            result.quarantine,
            ingest=ingest,
        )

    def read(
        self,
        source: str | None = None,
        symbol: str | None = None,
        timeframe: Timeframe | str | None = None,
        partition: str | None = None,
        ingest: str | None = None,
    ) -> pd.DataFrame:
        """Read quarantined rows, optionally filtered; adds ``partition`` and ``ingest`` columns.

        A row received again, unchanged, by a later ingest of the same partition (a window
        fetched again as it grows) is listed once, under the first ingest id in sort order.

        Returns:
            The quarantine columns plus ``partition`` and ``ingest``, sorted by source, symbol,
            timeframe, partition and source row; empty (same columns) when nothing matches.
        """
        frames = [
            pq.read_table(path, schema=QUARANTINE_SCHEMA)
            .to_pandas()
            .assign(**{PARTITION: keys[PARTITION], INGEST: keys[INGEST]})
            for keys, path in self._files(source, symbol, timeframe, partition, ingest)
        ]
        if not frames:
            return empty_quarantine().assign(
                **{PARTITION: pd.Series([], dtype=object), INGEST: pd.Series([], dtype=object)}
            )
        out = pd.concat(frames, ignore_index=True)
        out = out.drop_duplicates([*QUARANTINE_COLUMNS, PARTITION])
        order = [*_KEYS, PARTITION, SOURCE_ROW, INGEST]
        return out.sort_values(order, kind="stable").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Count quarantined rows by source, symbol and reason (details such as values dropped).

        A row with several reasons counts once for each. Columns: source, symbol, reason, rows;
        most frequent first.
        """
        rows = self.read()
        columns = ["source", "symbol", "reason", "rows"]
        if not len(rows):
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}).astype(
                {"rows": "int64"}
            )
        reasons = rows["reason"].astype(str).str.split(REASON_SEPARATOR)
        each = rows[["source", "symbol"]].assign(reason=reasons).explode("reason")
        each["reason"] = each["reason"].map(reason_kind)
        out = each.groupby(["source", "symbol", "reason"]).size().rename("rows").reset_index()
        out["rows"] = out["rows"].astype("int64")
        return out.sort_values(
            ["rows", "source", "symbol", "reason"], ascending=[False, True, True, True]
        ).reset_index(drop=True)


class RawArchive(_PartitionedParquet):
    """Raw input as received, one Parquet file per source/symbol/timeframe/partition/ingest.

    Datetime columns and an integer ``source_row`` are kept as they are (lossless); every other
    column is stored as text (nulls as nulls), so mixed or malformed values survive unchanged
    and ``validate_candles`` can be re-run on what was read back.
    """

    def write(
        self,
        source: str,
        symbol: str,
        timeframe: Timeframe | str,
        partition: str,
        raw: pd.DataFrame,
    ) -> str:
        """Archive ``raw`` as one ingest of ``partition``; return its ingest id.

        The id is a digest of the archived rows, so the same input archived again lands on
        the same file (idempotent) and different input never replaces it. An empty ``raw`` is
        stored too: it records that the window was fetched and empty.
        """
        where = self.folder(source, symbol, timeframe, partition)
        if not isinstance(raw, pd.DataFrame):
            raise CandleDataError(f"raw input for {where} must be a DataFrame")
        if raw.columns.duplicated().any() or not all(isinstance(c, str) for c in raw.columns):
            raise CandleDataError(
                f"raw input for {where} needs unique string column names, got {list(raw.columns)}"
            )
        stored = pd.DataFrame(
            {name: _archived(name, raw[name]) for name in raw.columns},
            index=pd.RangeIndex(len(raw)),
        )
        table = pa.Table.from_pandas(stored, preserve_index=False)
        ingest = ingest_id(table)
        path = self.path(source, symbol, timeframe, partition, ingest)
        if not path.is_file():
            self._write_atomic(table, path)
        return ingest

    def read(
        self,
        source: str,
        symbol: str,
        timeframe: Timeframe | str,
        partition: str | None = None,
        ingest: str | None = None,
    ) -> pd.DataFrame:
        """Read archived raw rows.

        Args:
            source: Source name.
            symbol: Market symbol.
            timeframe: Candle timeframe.
            partition: Only this partition; ``None`` reads all.
            ingest: With ``partition``, one ingest, returned exactly as stored.

        Returns:
            One ingest exactly as stored when both ``partition`` and ``ingest`` are given;
            otherwise every matching ingest in key order with ``partition`` and ``ingest``
            columns added.

        Raises:
            CandleDataError: The named partition (or ingest) was never archived.
        """
        if partition is not None and ingest is not None:
            path = self.path(source, symbol, timeframe, partition, ingest)
            if not path.is_file():
                raise CandleDataError(
                    f"no raw archive for partition {partition!r}, ingest {ingest!r} at {path}"
                )
            return pq.read_table(path).to_pandas()
        frames = [
            pq.read_table(path)
            .to_pandas()
            .assign(**{PARTITION: keys[PARTITION], INGEST: keys[INGEST]})
            for keys, path in self._files(source, symbol, timeframe, partition, ingest)
        ]
        if partition is not None and not frames:
            where = self.folder(source, symbol, timeframe, partition)
            raise CandleDataError(f"no raw archive for partition {partition!r} at {where}")
        if not frames:
            return pd.DataFrame(
                {PARTITION: pd.Series([], dtype=object), INGEST: pd.Series([], dtype=object)}
            )
        return pd.concat(frames, ignore_index=True)


def _archived(name: str, column: pd.Series) -> pd.Series:
    """Return how a raw column is stored: datetimes and ``source_row`` as is, else text."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return column.reset_index(drop=True)
    if name == SOURCE_ROW and pd.api.types.is_integer_dtype(dtype):
        return column.reset_index(drop=True)
    return as_text(column).reset_index(drop=True)
