"""Where the trading loop's closed candles come from: a replay, or an exchange polled live.

A source yields closed candles in time order as ``{"ts", "open", "high", "low", "close",
"volume"}`` (``ts``: the UTC open time) and moves the loop's clock to each candle's close
before it yields it. ``after`` resumes a source past the last candle the loop has handled
(a restart).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from serving.runtime.clock import Clock, SimClock

Bar = dict[str, Any]


class CandleSource(Protocol):
    """Closed candles, one at a time."""

    timeframe: Timeframe

    def bars(self, after: pd.Timestamp | None = None) -> Iterator[Bar]:
        """Yield the closed candles opening after ``after`` (all when None), in order."""
        ...


def _bar(ts: pd.Timestamp, values: Any) -> Bar:
    return {"ts": ts, **{c: float(v) for c, v in zip(OHLCV, values, strict=True)}}


class ReplaySource:
    """Replay a canonical candle frame (a recorded file or the synthetic market).

    ``speed`` N plays it at N times real time (a 5m candle every 300/N s of wall time);
    0 as fast as it can. The clock is a :class:`SimClock` set to each candle's close, so the
    loop's records carry the replayed time whatever the speed.
    """

    def __init__(
        self,
        candles: pd.DataFrame,
        timeframe: str | Timeframe,
        clock: SimClock,
        speed: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Replay ``candles`` (indexed by UTC open time) of ``timeframe``."""
        if not speed >= 0.0:
            raise CandleDataError(f"speed: expected 0 (as fast as possible) or more, got {speed}")
        self.candles = candles
        self.timeframe = Timeframe.parse(timeframe)
        self.clock = clock
        self.speed = float(speed)
        self._sleep = sleep

    def bars(self, after: pd.Timestamp | None = None) -> Iterator[Bar]:
        """Yield the candles opening after ``after``, paced by ``speed``."""
        frame = self.candles if after is None else self.candles[self.candles.index > after]
        values = frame[list(OHLCV)].to_numpy(dtype="float64")
        pause = self.timeframe.seconds / self.speed if self.speed > 0 else 0.0
        for i, ts in enumerate(frame.index):
            if pause and i:
                self._sleep(pause)
            self.clock.set(ts + self.timeframe.delta)
            yield _bar(ts, values[i])


class PollingSource:
    """Closed candles of an exchange, polled through ``CcxtSource`` (ccxt's ``fetch_ohlcv``).

    After each candle it waits until the next one has closed (plus ``grace_s``, exchanges
    publish a candle a moment after its close) and asks again; a candle the exchange does not
    have yet is asked for at the next poll. Rows that fail validation are skipped with the
    reason (``on_quarantine``), never fed to the engine.
    """

    def __init__(
        self,
        source: Any,
        symbol: str,
        timeframe: str | Timeframe,
        clock: Clock,
        start: pd.Timestamp,
        sleep: Callable[[float], None] = time.sleep,
        grace_s: float = 2.0,
        on_quarantine: Callable[[str], None] = lambda _: None,
    ) -> None:
        """Poll ``source`` (a ``CcxtSource``) for ``symbol`` from ``start`` on."""
        self.source = source
        self.symbol = symbol
        self.timeframe = Timeframe.parse(timeframe)
        self.clock = clock
        self.start = start
        self._sleep = sleep
        self.grace_s = grace_s
        self._quarantine = on_quarantine

    def _wait_s(self, last: pd.Timestamp | None) -> float:
        now = self.clock.now()
        nxt = (last + 2 * self.timeframe.delta) if last is not None else now
        return max((nxt - now).total_seconds(), 0.0) + self.grace_s

    def bars(self, after: pd.Timestamp | None = None) -> Iterator[Bar]:
        """Yield closed candles as they close, forever (the loop decides when to stop)."""
        from features.candles.validate import validate_candles

        last = after
        while True:
            since = last + self.timeframe.delta if last is not None else self.start
            raw = self.source.fetch(self.symbol, self.timeframe, since, None)
            got = validate_candles(raw, self.timeframe, source="poll", symbol=self.symbol)
            for reason in got.quarantine.get("reason", pd.Series(dtype=str)).unique():
                self._quarantine(str(reason))
            frame = got.valid
            if last is not None:
                frame = frame[frame.index > last]
            values = frame[list(OHLCV)].to_numpy(dtype="float64")
            for i, ts in enumerate(frame.index):
                last = ts
                yield _bar(ts, values[i])
            self._sleep(self._wait_s(last))
