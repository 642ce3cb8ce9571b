"""The feature pipeline's steps, pure: month loops and warm-up maths behind the feature assets.

A backfill is processed a month of UTC days at a time (bounded memory). For each month,
:func:`smc_months` continues the SMC stream from the last end-of-day snapshot
(:func:`features.snapshots.smc_by_day`) and :func:`mtf_months` computes the MTF features with
exactly the warm-up they need (:func:`mtf_warmup`, :func:`mtf_range`) from SMC rows already
stored, plus the packed model vector. Each step returns offline-table rows to write and the
rows to check; the assets (``orchestration.assets.features``) only read, write and report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from features.layout import utc_ns
from features.model_inputs import pack_vector
from features.mtf import MTFConfig, compute_mtf, input_window
from features.smc import SMCConfig
from features.snapshots import DAY, StreamSnapshots, day_start, smc_by_day
from features.tables import to_offline_table


class MissingFeatures(ValueError):
    """An upstream feature table lacks rows the step needs (materialize it first)."""


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
class SMCMonth:
    """One month of SMC features of one series, ready to write and check.

    Attributes:
        table: Offline-table rows of every computed day (``[first_day, end)``).
        first_day: The first computed day (earlier than requested after a restart).
        end: The end of the last requested day.
        requested: The feature rows of the requested days (for the feature suite).
        expected_rows: Stored candles of the requested days.
        resumed: Whether the stream resumed from an end-of-day snapshot.
        extra_days: Days recomputed beyond the requested ones (a restart).
    """

    table: pd.DataFrame
    first_day: pd.Timestamp
    end: pd.Timestamp
    requested: pd.DataFrame
    expected_rows: int
    resumed: bool
    extra_days: int


def smc_months(
    candles: pd.DataFrame,
    dates: Sequence[pd.Timestamp | str],
    *,
    symbol: str,
    config: SMCConfig,
    snapshots: StreamSnapshots,
    created: pd.Timestamp,
) -> Iterator[SMCMonth]:
    """Yield the SMC features of ``dates``, a month at a time (see :func:`smc_by_day`).

    ``candles``: every stored candle of the series up to the end of the last date.
    """
    for chunk in month_chunks(dates):
        end = chunk[-1] + DAY
        days = smc_by_day(
            candles[candles.index < end], chunk, symbol=symbol, config=config, snapshots=snapshots
        )
        computed = pd.concat(list(days.frames.values()))
        table = to_offline_table(
            computed, symbol=symbol, timeframe=config.timeframe, created=created
        )
        yield SMCMonth(
            table=table,
            first_day=days.first_day,
            end=end,
            requested=computed[in_days(computed.index, chunk)],
            expected_rows=int(in_days(candles.index, chunk).sum()),
            resumed=days.resumed_from is not None,
            extra_days=len(days.frames) - len(chunk),
        )


Loader = Callable[[Timeframe, pd.Timestamp, pd.Timestamp], tuple[pd.DataFrame, pd.DataFrame]]
"""``(timeframe, start, end) -> (candles, SMC rows)`` of candles opening in ``[start, end)``."""


@dataclass(frozen=True)
class MTFMonth:
    """One month of MTF features and model vectors of one series, ready to write and check.

    Attributes:
        start: The first requested day.
        end: The end of the last requested day.
        mtf_table: Offline-table rows of the MTF view (``[start, end)``).
        model_table: Offline-table rows of the packed model view (``[start, end)``).
        requested: The MTF rows of the requested days (for the feature suite).
        warm: Per requested row, whether the SMC and MTF warm-ups are behind it.
        expected_rows: Stored trading candles of the requested days.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    mtf_table: pd.DataFrame
    model_table: pd.DataFrame
    requested: pd.DataFrame
    warm: np.ndarray
    expected_rows: int


def mtf_months(
    dates: Sequence[pd.Timestamp | str],
    load: Loader,
    *,
    symbol: str,
    trading: Timeframe,
    timeframes: Sequence[Timeframe],
    config: MTFConfig,
    model_columns: Sequence[str],
    created: pd.Timestamp,
) -> Iterator[MTFMonth]:
    """Yield the MTF features and model vectors of ``dates``, a month at a time.

    ``load`` reads each timeframe's candles and stored SMC rows from :func:`mtf_warmup` before
    the month on, so every row equals a full recomputation's.

    Raises:
        MissingFeatures: A timeframe's SMC rows do not match its candles in the window.
    """
    warmup = mtf_warmup(list(timeframes), trading, config)
    for chunk in month_chunks(dates):
        start, end = chunk[0], chunk[-1] + DAY
        frames: dict[str, pd.DataFrame] = {}
        for tf in timeframes:
            candles, smc = load(tf, start - warmup, end)
            if len(smc) != len(candles) or not smc.index.equals(candles.index):
                raise MissingFeatures(
                    f"{symbol}: smc_features_{tf.label} has {len(smc)} rows for the "
                    f"{len(candles)} {tf.label} candles of {start - warmup} .. {end}; "
                    f"materialize smc_features_{tf.label} for these days first"
                )
            frames[tf.label] = candles.join(smc)
        mtf = mtf_range(frames, trading, start, end, config)
        base = frames[trading.label]
        inputs = base[(base.index >= start) & (base.index < end)].join(mtf)
        # Warm once the frame has the MTF look-back of rows behind (from its start).
        position = np.searchsorted(utc_ns(base.index), utc_ns(mtf.index))
        warm = (position >= config.trading_lookback()) & (inputs["smc_warm"].to_numpy() == 1.0)
        keep = in_days(mtf.index, chunk)
        yield MTFMonth(
            start=start,
            end=end,
            mtf_table=to_offline_table(mtf, symbol=symbol, timeframe=trading, created=created),
            model_table=to_offline_table(
                pack_vector(inputs, model_columns),
                symbol=symbol,
                timeframe=trading,
                created=created,
            ),
            requested=mtf[keep],
            warm=warm[keep],
            expected_rows=int(in_days(base.index, chunk).sum()),
        )
