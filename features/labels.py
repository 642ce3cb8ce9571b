"""Training labels: the forward return after each decision time (a candle close)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from features.layout import EVENT_TIMESTAMP

LABEL_TIME = "label_time"


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
            LABEL_TIME: decided + horizon,
            "close": close.to_numpy(),
            "forward_return": later / close.to_numpy() - 1.0,
        }
    )
    frame = frame[np.isfinite(frame["forward_return"])].reset_index(drop=True)
    frame["label_up"] = (frame["forward_return"] > 0).astype(np.float64)
    return frame
