"""``compute_mtf``: multi-timeframe features of the trading timeframe, and their input window.

Every higher-timeframe (HTF) value enters a trading bar through the point-in-time join of
:mod:`features.mtf.join` (visible only once its candle has closed); everything else is the
trading bar's own row and fixed windows of earlier rows. So the output is causal (prefix
invariant), and each value depends on at most :meth:`MTFConfig.lookback_bars` rows of each
frame: :func:`input_window` cuts exactly that much warm-up for an incremental update.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from features.mtf.bias import timeframe_bias
from features.mtf.config import MTFConfig
from features.mtf.confluence import (
    HTFZones,
    confluence,
    regime,
    session_component,
    smc_component,
    technical_component,
    weighted_direction,
)
from features.mtf.inputs import ATR_COLUMN, split_frames
from features.mtf.join import take_rows, tf_prefix, visible_rows
from features.mtf.zones import ZONE_KINDS, in_zone, range_position
from features.schema import ColumnSpec, Kind, names

# The columns of compute_mtf: float64 (its consumers compare them with thresholds).
_F64 = np.dtype(np.float64)


def _mtf(
    name: str,
    kind: Kind,
    unit: str,
    lo: float | None,
    hi: float | None,
    doc: str,
    *,
    required: bool = False,
    categories: tuple[str, ...] = (),
) -> ColumnSpec:
    return ColumnSpec(name, kind, unit, lo, hi, required, _F64, doc, categories)


_BIAS = _mtf(
    "bias",
    Kind.DIRECTION,
    "-1/0/+1",
    -1.0,
    1.0,
    "bias of the timeframe (trading timeframe and each HTF): structure, range and trend votes",
)
_BIAS_STRENGTH = _mtf("bias_strength", Kind.RATIO, "fraction", 0.0, 1.0, "|score| of that bias")
# Per timeframe, after its prefix (``m5_``, ``h1_``...): the trading timeframe has the first two.
HTF_SPECS: tuple[ColumnSpec, ...] = (
    _BIAS,
    _BIAS_STRENGTH,
    _mtf(
        "pd_pos",
        Kind.RATIO,
        "fraction",
        0.0,
        1.0,
        "HTF only: trading close in the HTF dealing range, "
        "(close - pd_low) / (pd_high - pd_low) clipped",
    ),
    _mtf(
        "pd_zone",
        Kind.STATE,
        "code",
        -1.0,
        1.0,
        "HTF only: discount / equilibrium (within equilibrium_band of 0.5) / premium",
        categories=("discount", "equilibrium", "premium"),
    ),
    *(
        _mtf(name, Kind.FLAG, "0/1", 0.0, 1.0, f"HTF only: price at an HTF {what}")
        for (name, _), what in zip(
            ZONE_KINDS,
            ("bullish order block", "bearish order block", "bullish FVG", "bearish FVG"),
            strict=True,
        )
    ),
)
HTF_FIELDS: tuple[str, ...] = names(HTF_SPECS)
GLOBAL_SPECS: tuple[ColumnSpec, ...] = (
    _mtf(
        "mtf_direction",
        Kind.DIRECTION,
        "-1/0/+1",
        -1.0,
        1.0,
        "setup direction D: sign of the weighted mean HTF score",
        required=True,
    ),
    _mtf(
        "mtf_align_bull",
        Kind.COUNT,
        "count",
        0.0,
        None,
        "timeframes (trading + HTFs) with bias +1",
        required=True,
    ),
    _mtf(
        "mtf_align_bear",
        Kind.COUNT,
        "count",
        0.0,
        None,
        "timeframes (trading + HTFs) with bias -1",
        required=True,
    ),
    _mtf(
        "mtf_alignment",
        Kind.COUNT,
        "count",
        0.0,
        None,
        "timeframes whose bias equals D (0 when D is 0)",
        required=True,
    ),
    _mtf(
        "mtf_in_htf_ob",
        Kind.FLAG,
        "0/1",
        0.0,
        1.0,
        "price at any HTF order block of direction D",
        required=True,
    ),
    _mtf(
        "mtf_in_htf_fvg",
        Kind.FLAG,
        "0/1",
        0.0,
        1.0,
        "price at any HTF FVG of direction D",
        required=True,
    ),
    _mtf(
        "mtf_rsi",
        Kind.RATIO,
        "0..100",
        0.0,
        100.0,
        "RSI of the trading close (simple means over rsi_window)",
        required=True,
    ),
    _mtf(
        "mtf_trend_atr",
        Kind.RATIO,
        "ATR",
        None,
        None,
        "fitted move of the last tech_window closes, in ATRs",
        required=True,
    ),
    _mtf(
        "mtf_efficiency",
        Kind.RATIO,
        "-1..1",
        -1.0,
        1.0,
        "signed efficiency ratio over regime_window changes",
        required=True,
    ),
    _mtf(
        "mtf_regime",
        Kind.DIRECTION,
        "-1/0/+1",
        -1.0,
        1.0,
        "market-regime flag: trending down / ranging / trending up "
        "(|efficiency| >= regime_threshold)",
        required=True,
    ),
    _mtf(
        "mtf_vol_ratio",
        Kind.RATIO,
        "x",
        0.0,
        None,
        "mean true range over vol_short bars / over vol_long bars",
        required=True,
    ),
    _mtf(
        "mtf_high_vol", Kind.FLAG, "0/1", 0.0, 1.0, "mtf_vol_ratio >= high_vol_ratio", required=True
    ),
    _mtf(
        "mtf_comp_htf_bias",
        Kind.RATIO,
        "fraction",
        0.0,
        1.0,
        "confluence component: HTF bias",
        required=True,
    ),
    _mtf(
        "mtf_comp_smc", Kind.RATIO, "fraction", 0.0, 1.0, "confluence component: SMC", required=True
    ),
    _mtf(
        "mtf_comp_technical",
        Kind.RATIO,
        "fraction",
        0.0,
        1.0,
        "confluence component: technical indicators",
        required=True,
    ),
    _mtf(
        "mtf_comp_session",
        Kind.RATIO,
        "fraction",
        0.0,
        1.0,
        "confluence component: session timing",
        required=True,
    ),
    _mtf(
        "mtf_confluence",
        Kind.RATIO,
        "fraction",
        0.0,
        1.0,
        "weighted sum of the four components",
        required=True,
    ),
)
GLOBAL_COLUMNS: tuple[str, ...] = names(GLOBAL_SPECS)


def output_columns(
    trading_tf: str | Timeframe, higher_tfs: list[str] | tuple[str, ...] = ()
) -> tuple[str, ...]:
    """Return the columns of ``compute_mtf`` for these timeframes, in order.

    ``higher_tfs`` are the timeframes above ``trading_tf`` present in ``frames`` (any order;
    lower ones are ignored, as in ``compute_mtf``).
    """
    trading = Timeframe.parse(trading_tf)
    higher = sorted(
        {Timeframe.parse(tf).seconds for tf in higher_tfs} - {trading.seconds},
    )
    names = [f"{tf_prefix(trading)}bias", f"{tf_prefix(trading)}bias_strength"]
    for seconds in higher:
        if seconds < trading.seconds:
            continue
        prefix = tf_prefix(f"{seconds // 60}m")
        names.extend(f"{prefix}{field}" for field in HTF_FIELDS)
    names.extend(GLOBAL_COLUMNS)
    return tuple(names)


def _config(config: MTFConfig | None) -> MTFConfig:
    if config is None:
        return MTFConfig()
    if not isinstance(config, MTFConfig):
        raise TypeError(f"config must be an MTFConfig, got {type(config).__name__}")
    return config


def compute_mtf(
    frames: Mapping[str, pd.DataFrame],
    trading_tf: str | Timeframe,
    config: MTFConfig | None = None,
) -> pd.DataFrame:
    """Return the multi-timeframe features of every trading bar, each known at its close.

    Args:
        frames: Per timeframe label (``"5m"``, ``"1h"``, ...), the candles joined with their
            ``compute_smc`` output: UTC open-time index, ``open..volume`` and the SMC columns.
            The trading timeframe and the higher ones present are used; lower ones are ignored.
        trading_tf: The timeframe whose bars get the features.
        config: Parameters; ``MTFConfig()`` when ``None``.

    Returns:
        A float64 frame with ``frames[trading_tf]``'s index and the columns of
        :func:`output_columns` (see ``docs/mtf.md``); NaN where an input is not available yet.

    Raises:
        ValueError: ``trading_tf`` is missing, a key is not a timeframe, a frame's index is not
            a strictly increasing UTC ``DatetimeIndex`` or it lacks a required column.
        TypeError: ``config`` is not an ``MTFConfig``.
    """
    cfg = _config(config)
    base, higher = split_frames(frames, trading_tf)
    close = base.col("close")
    out: dict[str, np.ndarray] = {}

    own = timeframe_bias(base, cfg)
    own_prefix = tf_prefix(base.tf)
    out[f"{own_prefix}bias"] = own.bias
    out[f"{own_prefix}bias_strength"] = own.strength
    biases = [own.bias]
    scores: list[np.ndarray] = []
    weights: list[float] = []
    zones = HTFZones([], [], [], [], [])
    for htf in higher:
        rows = visible_rows(base.open_ns, base.tf, htf.open_ns, htf.tf)
        bias = timeframe_bias(htf, cfg).take(rows)
        prefix = tf_prefix(htf.tf)
        out[f"{prefix}bias"] = bias.bias
        out[f"{prefix}bias_strength"] = bias.strength
        pos, zone = range_position(close, htf, rows, cfg.equilibrium_band)
        out[f"{prefix}pd_pos"] = pos
        out[f"{prefix}pd_zone"] = zone
        htf_close = take_rows(htf.col("close"), rows)
        htf_atr = take_rows(htf.col(ATR_COLUMN), rows)
        for name, dist_column in ZONE_KINDS:
            dist = take_rows(htf.col(dist_column), rows)
            out[f"{prefix}{name}"] = in_zone(close, dist, htf_close, htf_atr, rows)
        zones.pd_zone.append(zone)
        zones.in_ob_bull.append(out[f"{prefix}in_ob_bull"])
        zones.in_ob_bear.append(out[f"{prefix}in_ob_bear"])
        zones.in_fvg_bull.append(out[f"{prefix}in_fvg_bull"])
        zones.in_fvg_bear.append(out[f"{prefix}in_fvg_bear"])
        biases.append(bias.bias)
        scores.append(bias.score)
        weights.append(math.log2(htf.tf.seconds / base.tf.seconds))
    if not scores:
        scores, weights = [own.score], [1.0]

    direction, lean = weighted_direction(scores, weights, cfg.bias_neutral_band)
    stacked = np.vstack(biases)
    out["mtf_direction"] = direction
    out["mtf_align_bull"] = (stacked == 1.0).sum(axis=0).astype(np.float64)
    out["mtf_align_bear"] = (stacked == -1.0).sum(axis=0).astype(np.float64)
    alignment = ((stacked == direction) & (direction != 0)).sum(axis=0).astype(np.float64)
    alignment[np.isnan(direction)] = np.nan
    out["mtf_alignment"] = alignment

    smc = smc_component(base, zones, direction, cfg)
    tech = technical_component(base, direction, cfg)
    out["mtf_in_htf_ob"] = smc["mtf_in_htf_ob"]
    out["mtf_in_htf_fvg"] = smc["mtf_in_htf_fvg"]
    out["mtf_rsi"] = tech["mtf_rsi"]
    out["mtf_trend_atr"] = tech["mtf_trend_atr"]
    out.update(regime(base, cfg))
    out["mtf_comp_htf_bias"] = lean
    out["mtf_comp_smc"] = smc["mtf_comp_smc"]
    out["mtf_comp_technical"] = tech["mtf_comp_technical"]
    out["mtf_comp_session"] = session_component(base, cfg)
    out["mtf_confluence"] = confluence(out, cfg)

    names = output_columns(base.tf, [h.tf.label for h in higher])
    # Column-major, so each column is one contiguous write and pandas keeps the block as is.
    data = np.empty((close.shape[0], len(names)), order="F")
    for k, name in enumerate(names):
        data[:, k] = out[name]
    return pd.DataFrame(data, index=base.data.index, columns=list(names), copy=False)


def input_window(
    frames: Mapping[str, pd.DataFrame],
    trading_tf: str | Timeframe,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str | None = None,
    config: MTFConfig | None = None,
) -> dict[str, pd.DataFrame]:
    """Return the slices of ``frames`` that compute the trading bars in ``[start, end)`` exactly.

    Each slice holds the rows those bars read, including :meth:`MTFConfig.lookback_bars` rows
    of warm-up (counted in rows, so gaps in the data are handled): ``compute_mtf`` on the
    slices gives, for the bars opening in ``[start, end)``, bit-identical rows to
    ``compute_mtf`` on the full frames. The SMC columns of the slices are taken as they are:
    they must already be the full computation's values.

    Raises:
        ValueError: As :func:`compute_mtf`, or ``start``/``end`` is not a timestamp.
    """
    cfg = _config(config)
    base, higher = split_frames(frames, trading_tf)
    lo_ns = _utc_ns(start, "start")
    hi_ns = np.iinfo(np.int64).max if end is None else _utc_ns(end, "end")
    first = int(np.searchsorted(base.open_ns, lo_ns, side="left"))
    stop = int(np.searchsorted(base.open_ns, hi_ns, side="left"))
    keys = {Timeframe.parse(k).seconds: k for k in frames}
    lookback = cfg.lookback_bars(base.tf, base.tf)
    out = {keys[base.tf.seconds]: base.data.iloc[max(first - lookback + 1, 0) : stop]}
    for htf in higher:
        lookback = cfg.lookback_bars(htf.tf, base.tf)
        if stop <= first:
            out[keys[htf.tf.seconds]] = htf.data.iloc[0:0]
            continue
        seen = visible_rows(base.open_ns[[first, stop - 1]], base.tf, htf.open_ns, htf.tf)
        begin = max(int(seen[0]) - lookback + 1, 0)
        out[keys[htf.tf.seconds]] = htf.data.iloc[begin : int(seen[1]) + 1]
    return out


def _utc_ns(value: object, what: str) -> int:
    """Return a tz-aware timestamp as int64 UTC ns, or raise naming ``what``."""
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        stamp = None
    if stamp is None or stamp is pd.NaT or stamp.tz is None:
        raise ValueError(f"input_window: {what} must be a tz-aware timestamp, got {value!r}")
    return int(stamp.tz_convert("UTC").as_unit("ns").value)
