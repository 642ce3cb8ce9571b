"""The model's inputs: which feature columns a model reads, their packed vector, their frame.

A model fed raw price levels learns the price regime of its training period, so the columns in
price units are left out, and so are time/key columns (:func:`features.schema.is_model_input`,
read from each column's declared spec); everything kept is in ATRs, ratios, counts, ages, codes
or flags, i.e. invariant when every price is scaled (tested).

:func:`model_input_frame` is the batch path from candles to model inputs named as Feast serves
them (``<view>__<col>``): what ``smartmarket train --candles`` and ``smartmarket backtest
--model`` feed a model; :class:`features.online.ModelInputStream` gives its rows one closed bar
at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from features.candles.schema import Timeframe
from features.layout import EVENT_TIMESTAMP, VECTOR, view_name
from features.schema import is_model_input, spec_of, to_float64


def model_input_columns(smc_columns: Sequence[str], mtf_columns: Sequence[str]) -> tuple[str, ...]:
    """Return the model's inputs, in order: the SMC ones, then the MTF ones.

    Raises:
        KeyError: A column has no spec (declare it in its feature module).
        ValueError: A name appears twice (the packed vector needs unique names).
    """
    names = [c for c in (*smc_columns, *mtf_columns) if is_model_input(spec_of(c))]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise ValueError(f"model input columns appear twice: {duplicated}")
    return tuple(names)


def pack_vector(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return a one-column frame (``vector``): each row's ``columns`` as a float64 array.

    Compact columns are read through :func:`features.schema.to_float64` ("not yet known" ->
    NaN).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot pack the model vector: missing column(s) {missing}")
    values = to_float64(frame, columns)
    packed = pd.Series(list(values), index=frame.index, dtype=object)
    return pd.DataFrame({VECTOR: packed}, index=frame.index)


def higher_timeframes(trading: Timeframe, timeframes: Sequence[str]) -> list[Timeframe]:
    """Return the timeframes of ``timeframes`` above ``trading``, ascending (MTF reads those)."""
    found = {Timeframe.parse(tf) for tf in timeframes}
    return sorted((tf for tf in found if tf.seconds > trading.seconds), key=lambda t: t.seconds)


def model_input_names(trading: Timeframe, timeframes: Sequence[str]) -> tuple[str, ...]:
    """Return the feature columns of :func:`model_input_frame` (after ``event_timestamp``)."""
    from features.feature_repo import feature_set

    higher = [tf.label for tf in higher_timeframes(trading, timeframes)]
    features = feature_set(higher, trading.label)
    model = set(features.model_columns)
    smc_view, mtf_view = view_name("smc", trading), view_name("mtf", trading)
    smc = [f"{smc_view}__{c}" for c in features.smc_columns(trading) if c in model]
    return (*smc, *(f"{mtf_view}__{c}" for c in features.mtf_columns))


def _smc(candles: pd.DataFrame, config: Any) -> pd.DataFrame:
    """``compute_smc`` of the candles; no rows (float64) when no candle has closed yet."""
    from features.smc import columns, compute_smc

    if len(candles):
        return compute_smc(candles, config)
    return pd.DataFrame(index=candles.index, columns=list(columns(config)), dtype="float64")


def model_input_frame(
    candles: pd.DataFrame, trading: Timeframe, timeframes: Sequence[str]
) -> pd.DataFrame:
    """Return the model inputs of every bar of ``candles``, named as Feast serves them.

        The feature path that fills the offline tables: SMC of each timeframe above ``trading``
        resampled from the trading candles, MTF on the trading timeframe; rows keyed by their close
        (``event_timestamp``), columns :func:`model_input_names` (the trading SMC model inputs,
        then every MTF column). Timeframes at or below ``trading`` are not read; a higher timeframe
    with no complete candle yet gives NaN.
    """
    from features.candles.resample import resample_all
    from features.mtf import MTFConfig
    from features.pipeline import mtf_range
    from features.smc import SMCConfig

    higher = [tf.label for tf in higher_timeframes(trading, timeframes)]
    frames = {trading.label: candles, **resample_all(candles, trading, higher)}
    joined = {tf: f.join(_smc(f, SMCConfig.for_timeframe(tf))) for tf, f in frames.items()}
    start, end = candles.index[0], candles.index[-1] + trading.delta
    mtf = mtf_range(joined, trading, start, end, MTFConfig()).reindex(candles.index)
    smc = joined[trading.label]
    columns: dict[str, Any] = {EVENT_TIMESTAMP: candles.index + trading.delta}
    for name in model_input_names(trading, timeframes):
        view, col = name.split("__", 1)
        source = smc if view.startswith("smc_") else mtf
        columns[name] = source[col].to_numpy()
    return pd.DataFrame(columns)
