"""The paper broker: a simulated exchange running the backtest's execution model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from serving.engine.config import BacktestConfig
from serving.engine.execution import accept, match_bar, new_book
from serving.orders import (
    Ack,
    BrokerAnswer,
    BrokerEvent,
    OrderRequest,
    fill_buffer,
    fills_from_rows,
    request_rows,
)
from serving.runtime.clock import Clock

_EMPTY_F = np.zeros(0)


class PaperBroker:
    """Fill the engine's orders with the backtest's execution model (``execution.match_bar``).

    It accepts every request (orders become matchable from the next bar's open) and reports
    whole fills stamped with the open time of the bar they happened in.
    """

    def __init__(self, config: BacktestConfig, timeframe: str | Timeframe, clock: Clock) -> None:
        """Build it with the config's fees, slippage and fill rules."""
        self._p = config.params(timeframe)
        self._clock = clock
        self.book = new_book()
        self._fills = fill_buffer()

    def submit(self, requests: Sequence[OrderRequest]) -> list[BrokerAnswer]:
        """Accept the requests; they can fill from the next bar on."""
        if not requests:
            return []
        now = self._clock.now()
        rows = request_rows(requests)
        accept(self.book, rows, rows.shape[0], float(now.value))
        return [Ack(request=q, exchange_order_id=f"paper-{q.request_id}", at=now) for q in requests]

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[BrokerEvent]:
        """Match the working orders against ``bar``; ``sub_bars`` (rows of o, h, l) replay it."""
        ts = float(pd.Timestamp(bar["ts"]).value)
        if sub_bars is not None and len(sub_bars):
            sub = np.ascontiguousarray(sub_bars, dtype=np.float64)
            so, sh, sl = sub[:, 0].copy(), sub[:, 1].copy(), sub[:, 2].copy()
            s1 = sub.shape[0]
        else:
            so = sh = sl = _EMPTY_F
            s1 = 0
        n = match_bar(
            self.book, ts, float(bar["open"]), float(bar["high"]), float(bar["low"]),
            so, sh, sl, 0, s1, self._fills, self._p,
        )  # fmt: skip
        return list(fills_from_rows(self._fills[:n]))
