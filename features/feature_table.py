"""Feature tables: SMC and MTF frames as Feast offline tables, kept as Parquet files.

One row per candle and symbol, in the layout the Feast feature views read:

- ``symbol`` (string): the entity key;
- ``event_timestamp`` (UTC): the candle's CLOSE time, when its values became known;
- ``created`` (UTC): when the row was computed (Feast breaks ties on it);
- ``ts`` (UTC): the candle's open time (for partitioning and reading back; not a feature);
- ``known_at`` (float64): ``event_timestamp`` in epoch seconds, also served as a feature so that
  every retrieved vector carries its availability time (point-in-time audits, staleness);
- the feature columns, float64. The packed model view has one ``vector`` column instead: the
  model's inputs (:func:`model_input_columns`) as a list of float64, in a fixed order.

``FeatureTables`` stores the rows under ``<root>/<view>/<encoded symbol>/<period>.parquet``
(period: the month of the open time below one hour, the year otherwise; no ``key=value``
folders, so that readers do not add a second ``symbol`` column). A write replaces every row
whose candle opened in ``[start, end)`` (re-running a partition is idempotent), merges with the
rest of the period file and swaps the file atomically under a per-series ``flock``.

``smc_by_day`` computes SMC features one UTC day at a time from ``SMCStream`` snapshots taken
at each day's end, so that a new day continues from the previous one and equals a full
``compute_smc`` recomputation; ``mtf_range`` computes MTF features of a span with exactly the
warm-up they need. Domain code only: numpy, pandas, pyarrow.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.files import exclusive, replacing
from features.mtf import MTFConfig, compute_mtf, input_window
from features.schema import to_float64
from features.smc import SMCConfig, SMCStream

ENTITY = "symbol"
EVENT_TIMESTAMP = "event_timestamp"
CREATED = "created"
OPEN_TIME = "ts"
KNOWN_AT = "known_at"
VECTOR = "vector"
KEY_COLUMNS: tuple[str, ...] = (ENTITY, EVENT_TIMESTAMP, CREATED, OPEN_TIME)
DAY = pd.Timedelta(days=1)
_HOUR = 3600
_TS = pa.timestamp("ns", tz="UTC")

# Columns in price units (levels), left out of the model's inputs: a model fed raw price levels
# learns the price regime of its training period. Everything kept is in ATRs, ratios, counts,
# ages or flags, i.e. invariant when every price is scaled (tested).
PRICE_LEVEL = re.compile(
    r"^(smc|ctx)_atr$|_(high|low|level|eq|top|bottom|poc|vah|val|target|stop)$"
    r"|^liq_p[dwm][hl]$"
)


def view_name(kind: str, timeframe: str | Timeframe) -> str:
    """Return a feature view's name: ``smc_5m``, ``mtf_5m``, ``model_5m``."""
    if kind not in ("smc", "mtf", "model"):
        raise ValueError(f"unknown feature kind {kind!r}: expected smc, mtf or model")
    return f"{kind}_{Timeframe.parse(timeframe).label}"


def encode_symbol(symbol: str) -> str:
    """Return the path-safe, reversible form of ``symbol`` (percent-encoding)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise CandleDataError(f"symbol must be a non-empty string, got {symbol!r}")
    return quote(symbol, safe="")


def model_input_columns(smc_columns: Sequence[str], mtf_columns: Sequence[str]) -> tuple[str, ...]:
    """Return the model's inputs, in order: scale-free SMC columns, then every MTF column.

    Raises:
        ValueError: A name appears twice (the packed vector needs unique names).
    """
    names = [c for c in smc_columns if not PRICE_LEVEL.search(c) and c != KNOWN_AT]
    names += [c for c in mtf_columns if c != KNOWN_AT]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise ValueError(f"model input columns appear twice: {duplicated}")
    return tuple(names)


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
            CREATED: pd.DatetimeIndex([_utc(created, "created")] * len(features)).as_unit("ns"),
            OPEN_TIME: opened,
            KNOWN_AT: utc_ns(closed) / 1e9,
        },
        index=pd.RangeIndex(len(features)),
    )
    body = features.reset_index(drop=True)
    if VECTOR not in body.columns:
        body = pd.DataFrame(to_float64(body, order="F"), columns=body.columns, copy=False)
    return pd.concat([head, body], axis=1)


def features_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Invert :func:`to_offline_table`: the feature columns indexed by open time ``ts``."""
    index = pd.DatetimeIndex(table[OPEN_TIME], name=OPEN_TIME)
    columns = [c for c in table.columns if c not in (*KEY_COLUMNS, KNOWN_AT)]
    frame = table[columns].copy()
    frame.index = index
    return frame


def pack_vector(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return a one-column frame (``vector``): each row's ``columns`` as a float64 array."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot pack the model vector: missing column(s) {missing}")
    values = to_float64(frame, list(columns))
    packed = pd.Series(list(values), index=frame.index, dtype=object)
    return pd.DataFrame({VECTOR: packed}, index=frame.index)


def utc_ns(index: pd.Index) -> np.ndarray:
    """Return a DatetimeIndex's instants as int64 nanoseconds since the epoch (UTC)."""
    stamps = pd.DatetimeIndex(index).as_unit("ns")
    return np.asarray(stamps.asi8, dtype=np.int64)  # type: ignore[attr-defined]


def _period_unit(timeframe: Timeframe) -> str:
    return "M" if timeframe.seconds < _HOUR else "Y"


def _period_bounds(key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = np.datetime64(key)
    return (
        pd.Timestamp(start.astype("datetime64[ns]"), tz="UTC"),
        pd.Timestamp((start + 1).astype("datetime64[ns]"), tz="UTC"),
    )


def _utc(value: pd.Timestamp | str | None, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tz is None:
        raise CandleDataError(f"{what} must be a tz-aware timestamp, got {value!r}")
    return stamp.tz_convert("UTC")


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
            arrays[column] = pa.array(table[column].to_numpy(dtype=np.float64), type=pa.float64())
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
        lo, hi = _utc(start, "start"), _utc(end, "end")
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
                    old = pq.read_table(path).to_pandas()
                    if list(old.columns) != list(table.columns) and len(table.columns):
                        raise CandleDataError(
                            f"{path} has columns {len(old.columns)} "
                            f"({', '.join(old.columns[:3])}, ...) unlike the rows being written "
                            f"({len(table.columns)}): it was written by another feature "
                            f"version; delete {self.view_dir(view)} and rematerialize"
                        )
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

    def read(
        self,
        view: str,
        symbol: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Read the rows of candles that opened in ``[start, end)``, sorted by open time."""
        lo, hi = _utc(start, "start"), _utc(end, "end")
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


@dataclass(frozen=True)
class SnapshotMeta:
    """What a stream snapshot at a day's end has consumed (to detect stale snapshots)."""

    bars_seen: int
    day_digest: str
    config: SMCConfig


def candles_digest(candles: pd.DataFrame) -> str:
    """Return a digest of candles' open times and OHLCV values (exact, order-sensitive)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(utc_ns(candles.index)).tobytes())
    digest.update(np.ascontiguousarray(candles[list(OHLCV)].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


class StreamSnapshots:
    """``SMCStream`` snapshots at each UTC day's end, per timeframe and symbol (pickle files).

    The files are written and read by this pipeline only (pickle runs code on load: never
    point it at files from elsewhere).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, timeframe: Timeframe, symbol: str, day: pd.Timestamp) -> Path:
        return self.root / timeframe.label / encode_symbol(symbol) / f"{day:%Y-%m-%d}.pkl"

    def save(
        self,
        timeframe: Timeframe,
        symbol: str,
        day: pd.Timestamp,
        snapshot: Mapping[str, Any],
        meta: SnapshotMeta,
    ) -> None:
        """Store the snapshot taken at the end of ``day`` (atomically)."""
        with replacing(self._path(timeframe, symbol, day)) as tmp, open(tmp, "wb") as handle:
            pickle.dump({"snapshot": dict(snapshot), "meta": meta}, handle, protocol=5)

    def load(
        self, timeframe: Timeframe, symbol: str, day: pd.Timestamp
    ) -> tuple[dict[str, Any], SnapshotMeta] | None:
        """Return the snapshot taken at the end of ``day`` and its meta, or ``None``."""
        path = self._path(timeframe, symbol, day)
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            stored = pickle.load(handle)  # our own files only, see the class doc
        return stored["snapshot"], stored["meta"]


@dataclass(frozen=True)
class SMCDays:
    """SMC features of consecutive UTC days (index: candle open time).

    Attributes:
        frames: Day start -> that day's feature rows (empty frame for a day without candles),
            for every day from ``first_day`` to the last requested one.
        resumed_from: The day whose end-of-day snapshot was restored, or ``None`` when the
            stream restarted from the first stored candle (no valid snapshot).
    """

    frames: dict[pd.Timestamp, pd.DataFrame]
    resumed_from: pd.Timestamp | None

    @property
    def first_day(self) -> pd.Timestamp:
        """The first computed day (earlier than the requested days after a restart)."""
        return min(self.frames)


def day_start(value: pd.Timestamp | str) -> pd.Timestamp:
    """Return the UTC midnight that starts ``value``'s day."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return stamp.floor("D")


def month_chunks(days: Sequence[pd.Timestamp | str]) -> list[list[pd.Timestamp]]:
    """Return the UTC days, sorted and de-duplicated, grouped by calendar month.

    Long backfills are processed a month at a time so that memory stays bounded.
    """
    chunks: dict[tuple[int, int], list[pd.Timestamp]] = {}
    for day in sorted({day_start(d) for d in days}):
        chunks.setdefault((day.year, day.month), []).append(day)
    return list(chunks.values())


def in_days(index: pd.Index, days: Sequence[pd.Timestamp | str]) -> np.ndarray:
    """Return which open times of ``index`` fall on one of the UTC ``days``."""
    day_ns = DAY.value
    wanted = np.array([day_start(d).value // day_ns for d in days], dtype=np.int64)
    return np.isin(utc_ns(index) // day_ns, wanted)


def smc_by_day(
    candles: pd.DataFrame,
    days: Sequence[pd.Timestamp | str],
    *,
    symbol: str,
    config: SMCConfig,
    snapshots: StreamSnapshots,
) -> SMCDays:
    """Compute the SMC features of ``days`` incrementally, exactly as a full recomputation.

    The stream resumes from the snapshot taken at the end of the day before the first requested
    day when that snapshot is valid: its config is ``config``, it has seen exactly the candles
    stored before that day's end, and that day's candles are unchanged (digest). Otherwise it
    restarts from the first stored candle and recomputes every day up to the last requested one
    (the result still equals ``compute_smc`` over all stored candles). A snapshot is saved at
    the end of every computed day.

    Args:
        candles: Every stored candle of the series (canonical frame) opening before the end of
            the last requested day; earlier ones are needed only when no snapshot is valid.
        days: UTC days to compute (any order; the range from the first to the last is
            computed, gaps included).
        symbol: The series' symbol (snapshot key).
        config: Engine config (its timeframe is the candles').
        snapshots: Where end-of-day snapshots live.
    """
    if not days:
        return SMCDays({}, None)
    tf = Timeframe.parse(config.timeframe)
    wanted = sorted({day_start(d) for d in days})
    first, last = wanted[0], wanted[-1]
    if len(candles) and candles.index[-1] >= last + DAY:
        candles = candles[candles.index < last + DAY]
    index = candles.index
    ns = utc_ns(index)
    prev = first - DAY
    stream: SMCStream | None = None
    resumed: pd.Timestamp | None = None
    stored = snapshots.load(tf, symbol, prev)
    if stored is not None:
        snapshot, meta = stored
        before = int(np.searchsorted(ns, np.int64(first.value), side="left"))
        prev_day = candles[(index >= prev) & (index < first)]
        if (
            meta.config == config
            and meta.bars_seen == before
            and meta.day_digest == candles_digest(prev_day)
        ):
            stream, resumed = SMCStream.restore(snapshot), prev
    if stream is None:
        stream = SMCStream(config)
        if len(index):
            first = min(first, day_start(index[0]))
    frames: dict[pd.Timestamp, pd.DataFrame] = {}
    seen = int(np.searchsorted(ns, np.int64(first.value), side="left"))
    day = first
    while day <= last:
        lo = int(np.searchsorted(ns, np.int64(day.value), side="left"))
        hi = int(np.searchsorted(ns, np.int64((day + DAY).value), side="left"))
        chunk = candles.iloc[lo:hi]
        if len(chunk):
            frames[day] = stream.update_frame(chunk)
        else:
            frames[day] = pd.DataFrame(
                np.empty((0, len(stream.columns))),
                index=chunk.index,
                columns=list(stream.columns),
            )
        seen += len(chunk)
        snapshots.save(
            tf,
            symbol,
            day,
            stream.snapshot(),
            SnapshotMeta(bars_seen=seen, day_digest=candles_digest(chunk), config=config),
        )
        day += DAY
    return SMCDays(frames, resumed)


def mtf_warmup(
    timeframes: Sequence[str | Timeframe], trading_tf: str | Timeframe, config: MTFConfig
) -> pd.Timedelta:
    """Return a span of history that holds the MTF warm-up of every timeframe, with margin.

    ``mtf_range`` cuts the exact warm-up (in rows) from frames that start this far before the
    span; the margin (twice the rows, plus a day) absorbs missing candles.
    """
    spans = [
        Timeframe.parse(tf).delta * (2 * (config.lookback_bars(tf, trading_tf) + 1))
        for tf in timeframes
    ]
    return max(spans, default=pd.Timedelta(0)) + DAY


def mtf_range(
    frames: Mapping[str, pd.DataFrame],
    trading_tf: str | Timeframe,
    start: pd.Timestamp,
    end: pd.Timestamp,
    config: MTFConfig,
) -> pd.DataFrame:
    """Return ``compute_mtf`` rows for trading bars opening in ``[start, end)``.

    ``frames[tf]`` are candles joined with their (full-computation) SMC features, starting
    :func:`mtf_warmup` or more before ``start``; the rows equal a full recomputation's.
    """
    window = input_window(frames, trading_tf, start, end, config)
    out = compute_mtf(window, trading_tf, config)
    keep = (out.index >= start) & (out.index < end)
    return out[keep]


@dataclass(frozen=True)
class PointInTimeReport:
    """Point-in-time violations of a training dataset (all zero when it is sound).

    Attributes:
        features_after_decision: Feature values known (``*known_at``) after their row's
            decision time.
        labels_not_after_decision: Rows whose label time is not after the decision time.
    """

    features_after_decision: int
    labels_not_after_decision: int

    @property
    def total(self) -> int:
        """All violations."""
        return self.features_after_decision + self.labels_not_after_decision


def known_after(dataset: pd.DataFrame, time_column: str = EVENT_TIMESTAMP) -> PointInTimeReport:
    """Count values of ``dataset`` that were not yet known at their row's decision time.

    Every ``known_at`` column (``known_at`` or ``<view>__known_at``) must be at or before the
    decision time (``time_column``); ``label_time``, when present, strictly after it.
    """
    if not len(dataset):
        return PointInTimeReport(0, 0)
    decision = utc_ns(pd.DatetimeIndex(dataset[time_column])) / 1e9
    known = [c for c in dataset.columns if c == KNOWN_AT or c.endswith(f"__{KNOWN_AT}")]
    late = sum(int((dataset[c].to_numpy(dtype=np.float64) > decision).sum()) for c in known)
    labels = 0
    if "label_time" in dataset.columns:
        label = utc_ns(pd.DatetimeIndex(dataset["label_time"])) / 1e9
        labels = int((label <= decision).sum())
    return PointInTimeReport(late, labels)


def forward_return_labels(
    candles: pd.DataFrame, timeframe: str | Timeframe, horizon_bars: int
) -> pd.DataFrame:
    """Return one training label row per candle whose label is already known.

    The decision time is a candle's close (``event_timestamp``); the label is the return from
    that close to the close ``horizon_bars`` candles later in time (``label_time`` = decision
    time + horizon). Decisions whose label candle is missing (end of data, a gap) are left
    out. Columns: ``event_timestamp``, ``label_time``, ``close``, ``forward_return``,
    ``label_up`` (1.0 when the forward return is positive).
    """
    tf = Timeframe.parse(timeframe)
    if horizon_bars < 1:
        raise ValueError(f"horizon_bars must be >= 1, got {horizon_bars}")
    horizon = tf.delta * horizon_bars
    close = candles["close"].astype(np.float64)
    decided = candles.index + tf.delta
    later = close.reindex(candles.index + horizon).to_numpy()
    frame = pd.DataFrame(
        {
            EVENT_TIMESTAMP: decided,
            "label_time": decided + horizon,
            "close": close.to_numpy(),
            "forward_return": later / close.to_numpy() - 1.0,
        }
    )
    frame = frame[np.isfinite(frame["forward_return"])].reset_index(drop=True)
    frame["label_up"] = (frame["forward_return"] > 0).astype(np.float64)
    return frame
