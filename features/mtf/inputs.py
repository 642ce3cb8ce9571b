"""Checked access to the input frames of ``compute_mtf``: candles plus ``compute_smc`` columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from features.mtf.join import index_ns
from features.schema import column_float64

# The SMC engine's ATR (Wilder, ``SMCConfig.atr_period``): the unit of its zone distances.
ATR_COLUMN = "ctx_atr"
# Columns every timeframe's frame needs (bias, dealing range, zones).
FRAME_COLUMNS: tuple[str, ...] = (
    "high",
    "low",
    "close",
    ATR_COLUMN,
    "struct_ext_trend",
    "struct_int_trend",
    "pd_pos",
    "pd_high",
    "pd_low",
    "ob_bull_dist",
    "ob_bear_dist",
    "fvg_bull_dist",
    "fvg_bear_dist",
)
KILL_ZONES: tuple[str, ...] = (
    "sess_kz_asia",
    "sess_kz_london",
    "sess_kz_ny_am",
    "sess_kz_london_close",
    "sess_kz_ny_pm",
)
ACTIVE_SESSIONS: tuple[str, ...] = ("sess_london", "sess_ny_am", "sess_ny_pm")
# Further columns the trading timeframe's frame needs (SMC and session components).
TRADING_COLUMNS: tuple[str, ...] = (
    "liq_ssl_sweep_bars_since",
    "liq_bsl_sweep_bars_since",
    *KILL_ZONES,
    *ACTIVE_SESSIONS,
)


@dataclass(frozen=True)
class Frame:
    """One timeframe's frame with its parsed timeframe and open times in int64 UTC ns."""

    tf: Timeframe
    data: pd.DataFrame
    open_ns: np.ndarray

    def col(self, name: str) -> np.ndarray:
        """Return a column as a float64 array ("not yet known" of a compact column: NaN)."""
        return column_float64(self.data, name)


def checked_frame(tf: Timeframe, frame: pd.DataFrame, needed: tuple[str, ...]) -> Frame:
    """Return a :class:`Frame` or raise ``ValueError`` naming the timeframe and the problem."""
    what = f"frames[{tf.label!r}]"
    ns = index_ns(frame, what)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {missing}: pass candles joined with compute_smc output"
        )
    for name in needed:
        if not pd.api.types.is_numeric_dtype(frame[name].dtype):
            raise ValueError(f"{what}: column {name!r} must be numeric, got {frame[name].dtype}")
    return Frame(tf=tf, data=frame, open_ns=ns)


def split_frames(
    frames: Mapping[str, pd.DataFrame], trading_tf: str | Timeframe
) -> tuple[Frame, list[Frame]]:
    """Return the trading frame and the higher-timeframe frames, ascending.

    Frames of timeframes below the trading one are ignored.

    Raises:
        ValueError: ``trading_tf`` is not in ``frames``, a key is not a timeframe, two keys
            name the same timeframe, or a frame lacks a required column.
    """
    if not isinstance(frames, Mapping):
        raise ValueError(f"frames must be a mapping of timeframe -> DataFrame, got {type(frames)}")
    trading = Timeframe.parse(trading_tf)
    by_seconds: dict[int, tuple[str, pd.DataFrame]] = {}
    for key, frame in frames.items():
        tf = Timeframe.parse(key)
        if tf.seconds in by_seconds:
            raise ValueError(
                f"frames has two keys for the same timeframe: {by_seconds[tf.seconds][0]!r} "
                f"and {key!r}"
            )
        by_seconds[tf.seconds] = (key, frame)
    if trading.seconds not in by_seconds:
        raise ValueError(
            f"trading timeframe {trading.label!r} is not in frames (got {sorted(frames)})"
        )
    base = checked_frame(trading, by_seconds[trading.seconds][1], FRAME_COLUMNS + TRADING_COLUMNS)
    higher = [
        checked_frame(Timeframe.parse(key), frame, FRAME_COLUMNS)
        for seconds, (key, frame) in sorted(by_seconds.items())
        if seconds > trading.seconds
    ]
    return base, higher
