"""The model's inputs one closed bar at a time, equal to the batch frame's rows.

:class:`ModelInputStream` turns each closed trading bar ``(open time in ns, [o, h, l, c, v])``
into that bar's row of :func:`features.model_inputs.model_input_frame` (read through
:func:`features.schema.to_float64`: "not yet known" is NaN), bit for bit, NaN included. It holds
no feature code of its own:

- the trading timeframe's SMC columns come from an ``SMCStream`` (``compute_smc`` row by row);
- each higher timeframe's candles are aggregated as they complete and run through their own
  ``SMCStream`` (:class:`features.frames.HTFRows`);
- the MTF columns are ``compute_mtf`` on the last rows each timeframe's value depends on
  (:meth:`features.mtf.MTFConfig.lookback_bars`), which ``features.mtf.input_window``
  guarantees bit-identical to the full computation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.candles.schema import INDEX_NAME, OHLCV, Timeframe
from features.frames import HTFRows
from features.layout import view_name
from features.model_inputs import higher_timeframes, model_input_names
from features.mtf import MTFConfig, compute_mtf, output_columns
from features.mtf.inputs import FRAME_COLUMNS, TRADING_COLUMNS
from features.smc import SMCConfig, SMCStream

MTF_INPUTS: tuple[str, ...] = tuple(dict.fromkeys((*FRAME_COLUMNS, *TRADING_COLUMNS)))
"""The trading timeframe's columns ``compute_mtf`` reads."""


class ModelInputStream:
    """One closed bar in, that bar's model input vector out (``columns`` order).

    Args:
        trading: The bars' timeframe.
        timeframes: The stored timeframes (those above ``trading`` feed the MTF columns), as
            for :func:`features.model_inputs.model_input_frame`.
        columns: The vector's columns, e.g. a bundle's ``meta.columns`` (``<view>__<col>``);
            every column of :func:`features.model_inputs.model_input_names` when ``None``.
        mtf: MTF parameters (the feature pipeline's default).

    Raises:
        KeyError: A column is not one of the model input frame's (naming it).
    """

    def __init__(
        self,
        trading: Timeframe | str,
        timeframes: Sequence[str],
        columns: Sequence[str] | None = None,
        mtf: MTFConfig | None = None,
    ) -> None:
        """Start with no history."""
        self.trading = Timeframe.parse(trading)
        self.mtf = mtf or MTFConfig()
        names = model_input_names(self.trading, timeframes)
        self.columns: tuple[str, ...] = names if columns is None else tuple(columns)
        unknown = [c for c in self.columns if c not in names]
        if unknown:
            raise KeyError(
                f"model input column(s) {unknown[:5]} are not produced for {self.trading.label} "
                f"bars with timeframes {list(timeframes)}"
            )
        higher = higher_timeframes(self.trading, timeframes)
        self._smc = SMCStream(SMCConfig.for_timeframe(self.trading))
        self._htf = [
            HTFRows(self.trading, tf, self.mtf.lookback_bars(tf, self.trading)) for tf in higher
        ]
        self._htf_frames = {h.htf.label: h.frame()[list(FRAME_COLUMNS)] for h in self._htf}
        bar = (*OHLCV, *self._smc.columns)
        self._need = np.array([bar.index(c) for c in MTF_INPUTS], dtype=np.int64)
        self._keep = int(self.mtf.lookback_bars(self.trading, self.trading))
        self._ts = np.zeros(2 * self._keep, dtype=np.int64)
        self._rows = np.full((2 * self._keep, len(MTF_INPUTS)), np.nan)
        self._n = 0
        self._filled = 0
        mtf_names = output_columns(self.trading, [tf.label for tf in higher])
        smc_view, mtf_view = view_name("smc", self.trading), view_name("mtf", self.trading)
        where = {f"{smc_view}__{c}": j for j, c in enumerate(bar)}
        where.update({f"{mtf_view}__{c}": len(bar) + j for j, c in enumerate(mtf_names)})
        self._take = np.array([where[c] for c in self.columns], dtype=np.int64)

    @property
    def bars_seen(self) -> int:
        """Bars processed so far."""
        return self._n

    def _push(self, ts_ns: int, values: np.ndarray) -> int:
        """Append the bar's MTF inputs to the buffer; return the buffer's rows in use."""
        if self._filled == len(self._ts):  # full: keep the last keep - 1 rows, at the front
            start = self._filled - (self._keep - 1)
            self._ts[: self._keep - 1] = self._ts[start:]
            self._rows[: self._keep - 1] = self._rows[start:]
            self._filled = self._keep - 1
        self._ts[self._filled] = ts_ns
        self._rows[self._filled] = values
        self._filled += 1
        return self._filled

    def _advance(self, ts_ns: int, ohlcv: np.ndarray) -> tuple[np.ndarray, int]:
        values = np.asarray(ohlcv, dtype=np.float64)
        t = int(ts_ns)
        bar = np.concatenate([values, self._smc.update_array(t, values)])
        for htf in self._htf:
            if htf.update(t, values):  # an HTF candle closed: its frame changed
                self._htf_frames[htf.htf.label] = htf.frame()[list(FRAME_COLUMNS)]
        stop = self._push(t, bar[self._need])
        self._n += 1
        return bar, stop

    def advance(self, ts_ns: int, ohlcv: np.ndarray) -> None:
        """Advance by one closed bar without computing its row (a warm-up: cheaper)."""
        self._advance(ts_ns, ohlcv)

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> np.ndarray:
        """Advance by one closed bar (UTC open time in ns, ``[o, h, l, c, v]``); return its row.

        Raises:
            CandleDataError: The bar is not after the last one, or its values are invalid
                (the stream is left unchanged).
        """
        bar, stop = self._advance(ts_ns, ohlcv)
        lo = max(stop - self._keep, 0)
        index = pd.DatetimeIndex(self._ts[lo:stop].view("datetime64[ns]"), name=INDEX_NAME)
        frames = {
            self.trading.label: pd.DataFrame(
                self._rows[lo:stop], index=index.tz_localize("UTC"), columns=list(MTF_INPUTS)
            ),
            **self._htf_frames,
        }
        mtf = compute_mtf(frames, self.trading, self.mtf).to_numpy()[-1]
        return np.concatenate([bar, mtf])[self._take]
