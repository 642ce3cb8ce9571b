"""Parquet candle store: the embedded default, one file per symbol, timeframe and period.

Layout (Hive style, readable by any Parquet engine)::

    root/symbol=BTC%2FUSDT/timeframe=5m/period=2024-01/part.parquet

Symbols are percent-encoded (``urllib.parse.quote`` with no safe characters), a reversible
encoding that keeps ``/`` and ``:`` (``BTC/USDT:USDT``) out of paths. A period is a calendar
month of open times for timeframes under one hour and a calendar year otherwise, so files hold
between ~400 and ~45,000 rows. Writes merge with the period's file (new rows win, sorted by
``ts``) and replace it atomically (temp file + ``os.replace``). Writers of one series take
turns through an exclusive ``flock`` on ``<series>/.lock`` (processes and threads alike, e.g.
Dagster partitions of one month run in parallel); readers take no lock and always see whole
files. On platforms without ``fcntl`` (Windows) one writer per series is assumed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.candles.schema import OHLCV, CandleDataError, Timeframe, empty_candles
from features.candles.store._frame import CandleArrays, to_arrays, to_frame, to_utc_ns
from features.files import exclusive, replacing

PART_FILE = "part.parquet"
_HOUR = 3600
_TS_TYPE = pa.timestamp("ns", tz="UTC")
_SCHEMA = pa.schema([("ts", _TS_TYPE), *((c, pa.float64()) for c in OHLCV)])


def encode_symbol(symbol: str) -> str:
    """Return the path-safe, reversible form of ``symbol`` (percent-encoding)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise CandleDataError(f"symbol must be a non-empty string, got {symbol!r}")
    return quote(symbol, safe="")


def decode_symbol(encoded: str) -> str:
    """Invert ``encode_symbol``."""
    return unquote(encoded)


def _period_unit(timeframe: Timeframe) -> str:
    """Return the numpy datetime unit of a period: month below one hour, year otherwise."""
    return "M" if timeframe.seconds < _HOUR else "Y"


def _period_bounds(key: str) -> tuple[int, int]:
    """Return ``[start, end)`` of a period key (``2024-01`` or ``2024``) in ns since the epoch."""
    start = np.datetime64(key)
    return (
        int(start.astype("datetime64[ns]").astype(np.int64)),
        int((start + 1).astype("datetime64[ns]").astype(np.int64)),
    )


def _read_file(path: Path, lo: int | None = None, hi: int | None = None) -> CandleArrays:
    """Read one period file, keeping ``lo <= ts < hi`` (filters pushed down to pyarrow)."""
    filters: list[tuple[str, str, object]] = []
    if lo is not None:
        filters.append(("ts", ">=", pd.Timestamp(lo, tz="UTC")))
    if hi is not None:
        filters.append(("ts", "<", pd.Timestamp(hi, tz="UTC")))
    table = pq.read_table(path, columns=["ts", *OHLCV], filters=filters or None)
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    values = np.empty((table.num_rows, len(OHLCV)), dtype=np.float64)
    for j, column in enumerate(OHLCV):
        values[:, j] = table.column(column).to_numpy()
    return CandleArrays(ts=np.asarray(ts, dtype=np.int64), values=values)


def _merge(old: CandleArrays, new: CandleArrays) -> CandleArrays:
    """Union two strictly increasing blocks; rows of ``new`` replace rows of ``old`` at equal ts."""
    if len(old) == 0:
        return new
    if old.ts[-1] < new.ts[0]:
        return CandleArrays(np.concatenate([old.ts, new.ts]), np.vstack([old.values, new.values]))
    if new.ts[-1] < old.ts[0]:
        return CandleArrays(np.concatenate([new.ts, old.ts]), np.vstack([new.values, old.values]))
    pos = np.minimum(np.searchsorted(new.ts, old.ts), len(new) - 1)
    keep = new.ts[pos] != old.ts
    ts = np.concatenate([old.ts[keep], new.ts])
    values = np.vstack([old.values[keep], new.values])
    order = np.argsort(ts, kind="stable")
    return CandleArrays(ts[order], values[order])


def _write_file(path: Path, block: CandleArrays) -> None:
    """Write a block to ``path`` atomically: a temp file in the same folder, then ``os.replace``."""
    arrays = [pa.array(block.ts.view("datetime64[ns]"), type=_TS_TYPE)]
    arrays += [pa.array(block.values[:, j]) for j in range(len(OHLCV))]
    table = pa.Table.from_arrays(arrays, schema=_SCHEMA)
    with replacing(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="snappy",
            use_dictionary=False,
            column_encoding={"ts": "DELTA_BINARY_PACKED"},
        )


class ParquetCandleStore:
    """Candles in a Parquet dataset partitioned by symbol, timeframe and period.

    Args:
        root: Folder of the dataset; created on the first write.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ParquetCandleStore(root={str(self.root)!r})"

    def _series_dir(self, symbol: str, timeframe: Timeframe) -> Path:
        return self.root / f"symbol={encode_symbol(symbol)}" / f"timeframe={timeframe.label}"

    def _periods(self, series: Path) -> list[tuple[str, Path]]:
        """Return ``(period key, file)`` of the series' stored periods, oldest first."""
        if not series.is_dir():
            return []
        found = []
        for entry in series.iterdir():
            if entry.name.startswith("period=") and (entry / PART_FILE).is_file():
                found.append((entry.name.removeprefix("period="), entry / PART_FILE))
        return sorted(found)

    def write(self, symbol: str, timeframe: Timeframe, candles: pd.DataFrame) -> int:
        """Store candles, merging with stored periods (new rows win); return rows written."""
        timeframe = Timeframe.parse(timeframe)
        series = self._series_dir(symbol, timeframe)
        block = to_arrays(candles, f"write {symbol} {timeframe}")
        if len(block) == 0:
            return 0
        unit = _period_unit(timeframe)
        periods = block.ts.view("datetime64[ns]").astype(f"datetime64[{unit}]")
        cuts = np.flatnonzero(periods[1:] != periods[:-1]) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(block)]])
        with exclusive(series):
            for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
                folder = series / f"period={periods[lo]}"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / PART_FILE
                part = CandleArrays(block.ts[lo:hi], block.values[lo:hi])
                if path.is_file():
                    part = _merge(_read_file(path), part)
                _write_file(path, part)
        return len(block)

    def read(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Read candles in ``[start, end)``, opening only the period files that overlap it."""
        timeframe = Timeframe.parse(timeframe)
        lo, hi = to_utc_ns(start, "start"), to_utc_ns(end, "end")
        if lo is not None and hi is not None and lo >= hi:
            return empty_candles()
        blocks = []
        for key, path in self._periods(self._series_dir(symbol, timeframe)):
            p_start, p_end = _period_bounds(key)
            if (lo is not None and p_end <= lo) or (hi is not None and p_start >= hi):
                continue
            blocks.append(
                _read_file(
                    path,
                    lo if lo is not None and lo > p_start else None,
                    hi if hi is not None and hi < p_end else None,
                )
            )
        if not blocks:
            return empty_candles()
        return to_frame(
            np.concatenate([b.ts for b in blocks]), np.vstack([b.values for b in blocks])
        )

    def last_timestamp(self, symbol: str, timeframe: Timeframe) -> pd.Timestamp | None:
        """Open time of the newest candle, reading only the last period's ``ts`` column."""
        timeframe = Timeframe.parse(timeframe)
        periods = self._periods(self._series_dir(symbol, timeframe))
        for _, path in reversed(periods):
            ts = pq.read_table(path, columns=["ts"]).column("ts").cast(pa.int64()).to_numpy()
            if ts.size:
                return pd.Timestamp(int(ts.max()), tz="UTC").as_unit("ns")
        return None

    def symbols(self) -> list[tuple[str, str]]:
        """The stored ``(symbol, timeframe label)`` pairs, sorted."""
        if not self.root.is_dir():
            return []
        pairs = []
        for sym_dir in self.root.glob("symbol=*"):
            for tf_dir in sym_dir.glob("timeframe=*"):
                if self._periods(tf_dir):
                    pairs.append(
                        (
                            decode_symbol(sym_dir.name.removeprefix("symbol=")),
                            tf_dir.name.removeprefix("timeframe="),
                        )
                    )
        return sorted(pairs)
