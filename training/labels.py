"""Training labels: triple-barrier outcomes, sample uniqueness weights, and meta-labels.

Labels look forward by design: the label of decision bar ``t`` (decided at its close) is read
from the candles *after* ``t``. Each label therefore carries its **label time**, the close of
the bar that resolved it, so that splits can purge every training row whose label reaches into
a test window (:mod:`training.splits`).

**Triple barrier.** From the decision close ``c``, a trade on ``side`` (+1 long, -1 short) has
a stop and a profit target: per-row price levels (a structure stop and a 2R target), or
``stop_atr`` / ``target_atr`` ATRs from ``c``. Bars ``t+1 .. t+horizon_bars`` are scanned in
order; in each bar, as the engine's execution model (``serving/engine/execution.py``) does:

1. a bar that *opens* at or beyond the stop exits at its open (a gap), then one that opens at
   or beyond the target exits at its open;
2. a bar that reaches the stop exits at the stop, **even when it also reaches the target**
   (the worst case: the path inside a bar is unknown, so the stop is assumed to come first);
3. a bar that trades through the target (or touches it, ``target_fill="touch"``) exits at it;
4. otherwise, at bar ``t+horizon_bars``, the vertical barrier exits at its close.

``outcome`` is +1 (target), -1 (stop) or 0 (vertical); ``ret`` is ``side * (exit / c - 1)``
less ``cost``; ``r`` is the same move in units of the initial risk ``|c - stop|``. A decision
whose window runs past the data or across a missing candle before it resolved, whose ATR is
not known yet, or whose side is 0 gets no label (left out of the result): a label never spans
a gap. Without ``side`` every row is labelled long, so ``outcome`` reads up (+1) / down (-1) /
neither (0) and the lower barrier is the one assumed hit first.

**Uniqueness.** Labels of neighbouring decisions overlap in time. :func:`uniqueness_weights`
gives each label the average over the bars of its span of ``1 / concurrency`` (López de Prado,
*Advances in Financial Machine Learning*, ch. 4), the usual sample weight.

Meta-labels (the realized R of the engine's own trade from each rule intent) are in
:mod:`training.meta_labels`: the engine runs them, nothing here simulates a trade.

Pure: numpy, pandas and numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from training.config import BarrierConfig

EVENT_TIMESTAMP = "event_timestamp"
LABEL_TIME = "label_time"
LABEL_COLUMNS: tuple[str, ...] = (
    EVENT_TIMESTAMP,
    "side",
    "outcome",
    "ret",
    "r",
    "exit_price",
    "bars",
    "decision_bar",
    "exit_bar",
    LABEL_TIME,
)
"""Columns of :func:`triple_barrier`'s result, in order."""

_STOP = -1
_VERTICAL = 0
_TARGET = 1
_NONE = 2


@njit(cache=True, nogil=True)
def barrier_kernel(
    opens: np.ndarray,
    highs: np.ndarray,
    lows: np.ndarray,
    closes: np.ndarray,
    ts: np.ndarray,
    step: int,
    side: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    horizon: int,
    through: bool,
    exit_bar: np.ndarray,
    exit_price: np.ndarray,
    kind: np.ndarray,
) -> None:
    """Resolve every decision bar's barriers (see the module docstring); write the results.

    ``exit_bar`` gets the resolving bar (-1: no label), ``exit_price`` its price and ``kind``
    -1 (stop), 0 (vertical), +1 (target) or 2 (no label).
    """
    n = closes.shape[0]
    for t in range(n):
        exit_bar[t] = -1
        exit_price[t] = np.nan
        kind[t] = _NONE
        s = side[t]
        st = stop[t]
        tg = target[t]
        if s == 0 or not (np.isfinite(st) and np.isfinite(tg)):
            continue
        last = t + horizon
        if last >= n:
            last = n - 1
        for j in range(t + 1, last + 1):
            if ts[j] - ts[j - 1] != step:  # a missing candle: the label would span a gap
                break
            o = opens[j]
            if s * (o - st) <= 0.0:
                exit_bar[t], exit_price[t], kind[t] = j, o, _STOP
                break
            if s * (o - tg) >= 0.0:
                exit_bar[t], exit_price[t], kind[t] = j, o, _TARGET
                break
            if (lows[j] <= st) if s > 0 else (highs[j] >= st):  # worst case: stop first
                exit_bar[t], exit_price[t], kind[t] = j, st, _STOP
                break
            if s > 0:
                hit = highs[j] > tg if through else highs[j] >= tg
            else:
                hit = lows[j] < tg if through else lows[j] <= tg
            if hit:
                exit_bar[t], exit_price[t], kind[t] = j, tg, _TARGET
                break
            if j == t + horizon:
                exit_bar[t], exit_price[t], kind[t] = j, closes[j], _VERTICAL


def _column(values: np.ndarray | pd.Series | None, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"triple_barrier: {name} has shape {out.shape}, expected ({n},)")
    return out


def _candle_arrays(candles: pd.DataFrame) -> tuple[np.ndarray, ...]:
    missing = [c for c in ("open", "high", "low", "close") if c not in candles.columns]
    if missing:
        raise ValueError(f"triple_barrier: candles lack column(s) {missing}")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("triple_barrier: candles need a tz-aware DatetimeIndex of open times")
    ts = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)  # type: ignore[attr-defined]
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):
        bad = int(np.argmin(np.diff(ts) > 0)) + 1
        raise ValueError(f"triple_barrier: candle times not strictly increasing at {index[bad]}")
    cols = [candles[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")]
    return ts, *cols


def _levels(
    close: np.ndarray,
    side: np.ndarray,
    config: BarrierConfig,
    atr: np.ndarray | None,
    stop: np.ndarray | None,
    target: np.ndarray | None,
    index: pd.DatetimeIndex,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the stop and target price of every row (NaN where a row has no barrier)."""
    if atr is not None:
        usable = np.where(np.isfinite(atr) & (atr > 0.0), atr, np.nan)
        atr_stop = close - side * config.stop_atr * usable
        atr_target = close + side * config.target_atr * usable
    elif stop is None or target is None:
        raise ValueError("triple_barrier: give atr, or both stop and target price arrays")
    stop = atr_stop if stop is None else stop
    target = atr_target if target is None else target
    known = np.isfinite(stop) & np.isfinite(target) & (side != 0)
    wrong = known & ((side * (close - stop) <= 0.0) | (side * (target - close) <= 0.0))
    if wrong.any():
        k = int(np.argmax(wrong))
        raise ValueError(
            f"triple_barrier: at {index[k]} (row {k}) side {int(side[k]):+d} needs the stop "
            f"and target on either side of the close {close[k]}; got stop {stop[k]}, "
            f"target {target[k]}"
        )
    return stop, target


def triple_barrier(
    candles: pd.DataFrame,
    config: BarrierConfig,
    *,
    timeframe_ns: int,
    atr: np.ndarray | pd.Series | None = None,
    side: np.ndarray | pd.Series | None = None,
    stop: np.ndarray | pd.Series | None = None,
    target: np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Return the triple-barrier label of every decision bar of one symbol's candles.

    Args:
        candles: One symbol's candles (``open``, ``high``, ``low``, ``close``), indexed by
            tz-aware open time, strictly increasing; missing candles are gaps.
        config: Horizon, ATR multiples, target fill rule and cost.
        timeframe_ns: The candle timeframe in nanoseconds (consecutive candles are this apart).
        atr: The ATR known at each bar's close (e.g. the ``smc_atr`` feature); used for any
            barrier not given as a price.
        side: +1 long, -1 short, 0 no decision, per row; all long when ``None``.
        stop: Per-row stop prices (NaN: no label); overrides ``stop_atr``.
        target: Per-row target prices (NaN: no label); overrides ``target_atr``.

    Returns:
        One row per labelled decision (:data:`LABEL_COLUMNS`), indexed by the decision bar's
        open time: ``event_timestamp`` (the decision time, its close), ``outcome``, ``ret``,
        ``r``, ``exit_price``, ``bars`` (held), ``decision_bar`` / ``exit_bar`` (positions in
        ``candles``) and ``label_time`` (the resolving bar's close).

    Raises:
        ValueError: Missing columns, unordered times, arrays of the wrong length, or a row
            whose stop and target are not on either side of its close (naming the row).
    """
    ts, opens, highs, lows, closes = _candle_arrays(candles)
    n = len(ts)
    if not isinstance(timeframe_ns, int | np.integer) or timeframe_ns <= 0:
        raise ValueError(f"triple_barrier: timeframe_ns must be a positive int, got {timeframe_ns}")
    sides = _column(side, n, "side")
    sides = np.ones(n) if sides is None else np.sign(np.nan_to_num(sides))
    index = pd.DatetimeIndex(candles.index)
    stops, targets = _levels(
        closes,
        sides,
        config,
        _column(atr, n, "atr"),
        _column(stop, n, "stop"),
        _column(target, n, "target"),
        index,
    )
    exit_bar = np.empty(n, dtype=np.int64)
    exit_price = np.empty(n)
    kind = np.empty(n, dtype=np.int8)
    through = config.target_fill == "through"
    barrier_kernel(
        opens, highs, lows, closes, ts, int(timeframe_ns), sides, stops, targets,
        config.horizon_bars, through, exit_bar, exit_price, kind,
    )  # fmt: skip
    rows = np.flatnonzero(kind != _NONE)
    s, c, x = sides[rows], closes[rows], exit_price[rows]
    ret = s * (x / c - 1.0) - config.cost
    risk = np.abs(c - stops[rows]) / c
    exits = exit_bar[rows]
    return pd.DataFrame(
        {
            EVENT_TIMESTAMP: pd.DatetimeIndex(ts[rows] + timeframe_ns, tz="UTC"),
            "side": s.astype(np.int8),
            "outcome": kind[rows],
            "ret": ret,
            "r": ret / risk,
            "exit_price": x,
            "bars": (exits - rows).astype(np.int64),
            "decision_bar": rows.astype(np.int64),
            "exit_bar": exits,
            LABEL_TIME: pd.DatetimeIndex(ts[exits] + timeframe_ns, tz="UTC"),
        },
        index=index[rows],
    )


@dataclass(frozen=True)
class Uniqueness:
    """Sample uniqueness of overlapping labels.

    Attributes:
        weights: Each label's average uniqueness in ``(0, 1]`` (a span is at least one bar).
        concurrency: Per bar, how many label spans cover it.
    """

    weights: np.ndarray
    concurrency: np.ndarray


def uniqueness_weights(
    start: np.ndarray | pd.Series, end: np.ndarray | pd.Series, n_bars: int | None = None
) -> Uniqueness:
    """Return each label's average uniqueness and the concurrency of every bar.

    A label spans the bars ``start .. end`` (inclusive positions in one symbol's bar series;
    for :func:`triple_barrier` output: ``decision_bar + 1`` to ``exit_bar``, the bars whose
    prices decided it). The concurrency of a bar is the number of spans covering it; a label's
    uniqueness is the mean of ``1 / concurrency`` over its span: 1 for a label that overlaps no
    other, ``1/k`` for ``k`` identical spans.

    Raises:
        ValueError: Shapes differ, a span is reversed or negative, or runs past ``n_bars``.
    """
    a = np.asarray(start, dtype=np.int64)
    b = np.asarray(end, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"uniqueness_weights: start {a.shape} and end {b.shape} must match, 1-d")
    if a.size and (a.min() < 0 or np.any(b < a)):
        k = int(np.argmax((a < 0) | (b < a)))
        raise ValueError(f"uniqueness_weights: label {k} spans bars {a[k]}..{b[k]}")
    size = int(b.max()) + 1 if a.size else 0
    n = size if n_bars is None else int(n_bars)
    if n < size:
        raise ValueError(f"uniqueness_weights: spans reach bar {size - 1} but n_bars is {n}")
    diff = np.zeros(n + 1, dtype=np.int64)
    np.add.at(diff, a, 1)
    np.add.at(diff, b + 1, -1)
    concurrency = np.cumsum(diff[:n])
    inverse = np.zeros(n + 1)
    covered = concurrency > 0
    inverse[1:][covered] = 1.0 / concurrency[covered]
    prefix = np.cumsum(inverse)  # prefix[i] = sum of 1/c over bars < i
    weights = (prefix[b + 1] - prefix[a]) / (b - a + 1)
    return Uniqueness(weights=weights, concurrency=concurrency)
