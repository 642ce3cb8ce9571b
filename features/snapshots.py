"""Per-day SMC features from ``SMCStream`` snapshots taken at each UTC day's end.

``smc_by_day`` computes SMC features one UTC day at a time, so that a new day continues from
the previous one and equals a full ``compute_smc`` recomputation; ``StreamSnapshots`` keeps the
end-of-day snapshots (pickle files, this pipeline's own). Domain code only: numpy, pandas.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, Timeframe
from features.files import replacing
from features.layout import encode_symbol, utc_ns
from features.smc import SMCConfig, SMCStream

DAY = pd.Timedelta(days=1)


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
