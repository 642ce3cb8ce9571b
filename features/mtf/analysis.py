"""The product's two analysis calls as pure functions returning JSON-ready dicts.

``analyze_smc`` describes each timeframe's SMC picture at its last closed candle (order blocks,
fair value gaps, liquidity levels, market structure) and the confluence score of the lowest
timeframe; ``analyze_multi_timeframe`` reads a primary timeframe top-down against higher ones
(bias, discount and premium zones, entry signals, confluence score). Both compute the SMC
engine inside from canonical candle frames and only use what is known at the last candle's
close: higher-timeframe candles that close after the primary timeframe's last close are
dropped. Output holds only ``str``, ``int``, ``float``, ``bool``, ``None``, lists and dicts:
NaN becomes ``None``, times are ISO 8601 UTC strings (``...Z``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.mtf.compute import compute_mtf
from features.mtf.config import MTFConfig
from features.mtf.inputs import ATR_COLUMN
from features.mtf.join import tf_prefix
from features.smc import SMCConfig, compute_smc, detect_zones

SMC_ANALYSES: tuple[str, ...] = (
    "order_blocks",
    "fair_value_gaps",
    "liquidity_levels",
    "market_structure",
    "confluence_score",
)
_DIRECTION = {1: "bullish", -1: "bearish", 0: "neutral"}


def _num(value: Any) -> float | None:
    """Return a finite float, or ``None`` for NaN, infinities and missing values."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _iso(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _direction(value: Any) -> str | None:
    number = _num(value)
    return None if number is None else _DIRECTION[int(np.sign(number))]


_ENDS = ("filled_at", "swept_at", "invalidated_at", "expired_at")


class _Analysed:
    """One timeframe's candles with their SMC columns and zone records (``detect_zones``)."""

    def __init__(self, tf: Timeframe, candles: pd.DataFrame, what: str) -> None:
        self.tf = tf
        config = SMCConfig.for_timeframe(tf)
        try:
            smc = compute_smc(candles, config)
            self.zones = detect_zones(candles, config)
        except CandleDataError as exc:
            raise CandleDataError(f"{what}: {exc}") from None
        self.frame = pd.concat([candles[list(OHLCV)].astype(np.float64), smc], axis=1)
        self.last = self.frame.iloc[-1]
        self.close = float(self.last["close"])
        self.atr = _num(self.last[ATR_COLUMN])
        self.n = len(self.frame)

    def known_at(self, opened: pd.Timestamp) -> str:
        """Return when a bar opening at ``opened`` closes (its values become known)."""
        return _iso(pd.Timestamp(opened) + self.tf.delta)

    def distance_atr(self, top: float, bottom: float) -> float | None:
        """Signed distance from the last close to ``[bottom, top]`` in ATRs (0 inside)."""
        if self.atr is None or self.atr <= 0:
            return None
        if self.close > top:
            return (self.close - top) / self.atr
        if self.close < bottom:
            return (self.close - bottom) / self.atr
        return 0.0

    def live(self, kinds: Iterable[str]) -> list[_Zone]:
        """Return the zone records of ``kinds`` that have not ended by the last candle."""
        zones = self.zones
        alive = zones["kind"].isin(list(kinds)).to_numpy()
        for field in _ENDS:
            alive &= zones[field].isna().to_numpy()
        return [_Zone.of(row) for row in zones[alive].to_dict("records")]


@dataclass(frozen=True)
class _Zone:
    """The fields of one ``detect_zones`` record that the answers use, typed."""

    kind: str
    direction: int
    top: float
    bottom: float
    formed_at: pd.Timestamp
    confirmed_at: pd.Timestamp
    touched: bool
    mitigated: bool
    strength: float
    count: float

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> _Zone:
        return cls(
            kind=str(row["kind"]),
            direction=int(row["direction"]),
            top=float(row["top"]),
            bottom=float(row["bottom"]),
            formed_at=pd.Timestamp(row["formed_at"]),
            confirmed_at=pd.Timestamp(row["confirmed_at"]),
            touched=bool(pd.notna(row["touched_at"])),
            mitigated=bool(pd.notna(row["mitigated_at"])),
            strength=float(row["strength"]),
            count=float(row["count"]),
        )


def _zone_base(a: _Analysed, zone: _Zone) -> dict[str, Any]:
    return {
        "kind": zone.kind,
        "direction": _DIRECTION[zone.direction],
        "top": _num(zone.top),
        "bottom": _num(zone.bottom),
        "formed_at": _iso(zone.formed_at),
        "known_at": a.known_at(zone.confirmed_at),
        "distance_atr": _num(a.distance_atr(zone.top, zone.bottom)),
    }


def _nearest(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    def key(item: dict[str, Any]) -> float:
        distance = item.get("distance_atr")
        return math.inf if distance is None else abs(distance)

    return sorted(items, key=key)[:limit]


def _order_blocks(a: _Analysed, limit: int) -> list[dict[str, Any]]:
    items = []
    for zone in a.live(("order_block", "breaker")):
        item = _zone_base(a, zone)
        if zone.mitigated:
            item["state"] = "mitigated"
        else:
            item["state"] = "tested" if zone.touched else "untouched"
        item["strength_at_formation"] = _num(zone.strength)
        items.append(item)
    return _nearest(items, limit)


def _fair_value_gaps(a: _Analysed, limit: int) -> list[dict[str, Any]]:
    low = a.frame["low"].to_numpy()
    high = a.frame["high"].to_numpy()
    index = a.frame.index
    items = []
    for zone in a.live(("fvg", "inverse_fvg")):
        item = _zone_base(a, zone)
        if zone.kind == "fvg":
            after = int(index.searchsorted(zone.confirmed_at, side="right"))
            height = zone.top - zone.bottom
            if after >= a.n or height <= 0:
                fill = 0.0
            elif zone.direction > 0:
                fill = (zone.top - float(low[after:].min())) / height
            else:
                fill = (float(high[after:].max()) - zone.bottom) / height
            item["fill"] = _num(min(max(fill, 0.0), 1.0))
            item["size_atr"] = _num(zone.strength)
        else:
            item["fill"] = None
            item["size_atr"] = None
        items.append(item)
    return _nearest(items, limit)


def _liquidity_levels(a: _Analysed, limit: int) -> dict[str, Any]:
    sides: dict[int, list[dict[str, Any]]] = {1: [], -1: []}
    for zone in a.live(("liquidity",)):
        sides[zone.direction].append(
            {
                "price": _num(zone.top),
                "known_at": a.known_at(zone.confirmed_at),
                "equal_count": int(zone.count),
                "distance_atr": _num(a.distance_atr(zone.top, zone.bottom)),
            }
        )
    last = a.last
    return {
        "buy_side": _nearest(sides[1], limit),
        "sell_side": _nearest(sides[-1], limit),
        "previous_day_high": _num(last["liq_pdh"]),
        "previous_day_low": _num(last["liq_pdl"]),
        "previous_week_high": _num(last["liq_pwh"]),
        "previous_week_low": _num(last["liq_pwl"]),
    }


def _last_break(a: _Analysed, level: str) -> dict[str, Any] | None:
    bos = a.frame[f"struct_{level}_bos"].to_numpy()
    choch = a.frame[f"struct_{level}_choch"].to_numpy()
    hits = np.flatnonzero((np.nan_to_num(bos) != 0) | (np.nan_to_num(choch) != 0))
    if not hits.size:
        return None
    row = int(hits[-1])
    is_choch = bool(np.nan_to_num(choch[row]) != 0)
    sign = choch[row] if is_choch else bos[row]
    return {
        "type": "choch" if is_choch else "bos",
        "direction": _direction(sign),
        "level": _num(a.frame[f"struct_{level}_level"].iat[row]),
        "known_at": a.known_at(a.frame.index[row]),
    }


def _market_structure(a: _Analysed, bias: Mapping[str, Any] | None) -> dict[str, Any]:
    last = a.last
    zone = _num(last["pd_zone"])
    return {
        "trend": _direction(last["struct_ext_trend"]),
        "internal_trend": _direction(last["struct_int_trend"]),
        "last_break": _last_break(a, "ext"),
        "last_internal_break": _last_break(a, "int"),
        "swing_high": _num(last["swing_ext_high"]),
        "swing_low": _num(last["swing_ext_low"]),
        "dealing_range": {
            "high": _num(last["pd_high"]),
            "low": _num(last["pd_low"]),
            "equilibrium": _num(last["pd_eq"]),
            "position": _num(last["pd_pos"]),
            "zone": None
            if zone is None
            else {1: "premium", -1: "discount", 0: "equilibrium"}[int(np.sign(zone))],
        },
        "bias": dict(bias) if bias is not None else None,
    }


def _parse_types(analysis_types: Sequence[str] | str | None) -> list[str]:
    if analysis_types is None:
        return list(SMC_ANALYSES)
    if isinstance(analysis_types, str):
        analysis_types = [analysis_types]
    chosen = []
    for name in analysis_types:
        if name not in SMC_ANALYSES:
            raise ValueError(
                f"unknown analysis type {name!r}: expected one of {list(SMC_ANALYSES)}"
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _timeframes(candles_by_tf: Mapping[str, pd.DataFrame]) -> dict[int, tuple[Timeframe, str]]:
    if not isinstance(candles_by_tf, Mapping) or not candles_by_tf:
        raise ValueError("candles_by_tf must be a non-empty mapping of timeframe -> candles")
    out: dict[int, tuple[Timeframe, str]] = {}
    for key in candles_by_tf:
        tf = Timeframe.parse(key)
        if tf.seconds in out:
            raise ValueError(
                f"candles_by_tf has two keys for one timeframe: {out[tf.seconds][1]!r}, {key!r}"
            )
        out[tf.seconds] = (tf, key)
    return out


def _lookup(known: dict[int, tuple[Timeframe, str]], tf: str, role: str) -> tuple[Timeframe, str]:
    parsed = Timeframe.parse(tf)
    if parsed.seconds not in known:
        labels = [key for _, key in known.values()]
        raise ValueError(f"{role} timeframe {tf!r} is not in candles_by_tf (got {labels})")
    return known[parsed.seconds]


def _cut(
    candles: pd.DataFrame, tf: Timeframe, until: pd.Timestamp | None, what: str
) -> pd.DataFrame:
    """Return the candles closed at or before ``until`` (all when ``None``)."""
    if not isinstance(candles, pd.DataFrame):
        raise CandleDataError(f"{what}: expected a DataFrame, got {type(candles).__name__}")
    if until is None or not isinstance(candles.index, pd.DatetimeIndex) or candles.index.tz is None:
        return candles  # compute_smc refuses such an index with a clear message
    kept = candles[candles.index + tf.delta <= until]
    if kept.empty:
        raise CandleDataError(f"{what}: no candle closes at or before {_iso(until)}")
    return kept


def _analyse_all(
    candles_by_tf: Mapping[str, pd.DataFrame],
    chosen: list[tuple[Timeframe, str]],
) -> dict[int, _Analysed]:
    """Compute SMC for the lowest timeframe, then the others cut at its last close."""
    chosen = sorted(chosen, key=lambda item: item[0].seconds)
    tf0, key0 = chosen[0]
    first = _Analysed(tf0, candles_by_tf[key0], f"candles_by_tf[{key0!r}]")
    until = first.frame.index[-1] + tf0.delta
    out = {tf0.seconds: first}
    for tf, key in chosen[1:]:
        what = f"candles_by_tf[{key!r}]"
        out[tf.seconds] = _Analysed(tf, _cut(candles_by_tf[key], tf, until, what), what)
    return out


def _mtf_row(analysed: dict[int, _Analysed], primary: Timeframe, config: MTFConfig) -> pd.Series:
    frames = {a.tf.label: a.frame for a in analysed.values()}
    return compute_mtf(frames, primary, config).iloc[-1]


def _confluence(row: pd.Series, a: _Analysed) -> dict[str, Any]:
    return {
        "timeframe": a.tf.label,
        "as_of": a.known_at(a.frame.index[-1]),
        "score": _num(row["mtf_confluence"]),
        "direction": _direction(row["mtf_direction"]),
        "components": {
            "htf_bias": _num(row["mtf_comp_htf_bias"]),
            "smc": _num(row["mtf_comp_smc"]),
            "technical": _num(row["mtf_comp_technical"]),
            "session": _num(row["mtf_comp_session"]),
        },
        "regime": _num(row["mtf_regime"]),
        "high_volatility": _num(row["mtf_high_vol"]),
    }


def _bias_of(row: pd.Series, tf: Timeframe) -> dict[str, Any]:
    prefix = tf_prefix(tf)
    return {
        "bias": _direction(row[f"{prefix}bias"]),
        "strength": _num(row[f"{prefix}bias_strength"]),
    }


def analyze_smc(
    candles_by_tf: Mapping[str, pd.DataFrame],
    symbol: str,
    analysis_types: Sequence[str] | str | None = None,
    *,
    config: MTFConfig | None = None,
    max_zones: int = 10,
) -> dict[str, Any]:
    """Return the SMC analysis of every timeframe at its last closed candle, JSON-ready.

    Args:
        candles_by_tf: Canonical candle frames per timeframe label (``"5m"``, ``"1h"``, ...).
        symbol: Market symbol, echoed in the answer.
        analysis_types: Any of ``order_blocks``, ``fair_value_gaps``, ``liquidity_levels``,
            ``market_structure``, ``confluence_score``; all when ``None``.
        config: Multi-timeframe parameters for the confluence score and biases.
        max_zones: Most zones listed per kind, nearest to the last close first.

    Returns:
        ``{"symbol", "as_of", "analysis_types", "timeframes": {tf: {type: ...}},
        "confluence_score"}`` (the last only when asked for; computed on the lowest timeframe
        with the others as higher timeframes). See ``docs/mtf.md`` for every field.

    Raises:
        ValueError: An unknown analysis type or timeframe, or invalid candles (naming which).
    """
    chosen = _parse_types(analysis_types)
    cfg = config if config is not None else MTFConfig()
    known = _timeframes(candles_by_tf)
    analysed = _analyse_all(candles_by_tf, list(known.values()))
    lowest = analysed[min(analysed)]
    row = _mtf_row(analysed, lowest.tf, cfg)
    timeframes: dict[str, Any] = {}
    for seconds in sorted(analysed):
        a = analysed[seconds]
        part: dict[str, Any] = {
            "as_of": a.known_at(a.frame.index[-1]),
            "last_close": _num(a.close),
            "atr": _num(a.atr),
        }
        if "order_blocks" in chosen:
            part["order_blocks"] = _order_blocks(a, max_zones)
        if "fair_value_gaps" in chosen:
            part["fair_value_gaps"] = _fair_value_gaps(a, max_zones)
        if "liquidity_levels" in chosen:
            part["liquidity_levels"] = _liquidity_levels(a, max_zones)
        if "market_structure" in chosen:
            part["market_structure"] = _market_structure(a, _bias_of(row, a.tf))
        timeframes[known[seconds][1]] = part
    answer: dict[str, Any] = {
        "symbol": symbol,
        "as_of": lowest.known_at(lowest.frame.index[-1]),
        "analysis_types": chosen,
        "timeframes": timeframes,
    }
    if "confluence_score" in chosen:
        answer["confluence_score"] = _confluence(row, lowest)
    return answer


def _side_zones(a: _Analysed, side: int, price: float, limit: int) -> list[dict[str, Any]]:
    """Return the dealing-range half and the live zones of one side of a timeframe.

    ``side`` -1: discount (below equilibrium, demand: bullish zones); +1: premium.
    """
    last = a.last
    eq, high, low = _num(last["pd_eq"]), _num(last["pd_high"]), _num(last["pd_low"])
    items: list[dict[str, Any]] = []
    if eq is not None and high is not None and low is not None:
        top, bottom = (eq, low) if side < 0 else (high, eq)
        items.append(
            {
                "timeframe": a.tf.label,
                "kind": "dealing_range",
                "direction": "bullish" if side < 0 else "bearish",
                "top": top,
                "bottom": bottom,
                "contains_price": bottom <= price <= top,
                "distance_atr": _num(a.distance_atr(top, bottom)),
            }
        )
    wanted = 1 if side < 0 else -1
    zones = []
    for zone in a.live(("order_block", "breaker", "fvg", "inverse_fvg")):
        if zone.direction != wanted:
            continue
        middle = (zone.top + zone.bottom) / 2.0
        if eq is not None and (middle > eq if side < 0 else middle < eq):
            continue
        item = {"timeframe": a.tf.label, **_zone_base(a, zone)}
        item["contains_price"] = zone.bottom <= price <= zone.top
        zones.append(item)
    return items + _nearest(zones, limit)


def _entry_signals(
    row: pd.Series, primary: _Analysed, zones: list[dict[str, Any]], config: MTFConfig
) -> list[dict[str, Any]]:
    """Return the entry at the last bar when the confluence in its direction is high enough."""
    direction = _num(row["mtf_direction"])
    score = _num(row["mtf_confluence"])
    if direction is None or score is None or direction == 0 or score < config.entry_threshold:
        return []
    long_ = direction > 0
    name = "bullish" if long_ else "bearish"
    factors = [f"higher_timeframe_{name}"]
    checks = (
        (row["mtf_in_htf_ob"] == 1.0, "htf_order_block"),
        (row["mtf_in_htf_fvg"] == 1.0, "htf_fair_value_gap"),
        (primary.last["struct_int_trend"] == direction, f"internal_structure_{name}"),
        (row["mtf_comp_session"] >= config.session_killzone, "kill_zone"),
        (row["mtf_comp_technical"] == 1.0, "technicals_aligned"),
    )
    if any(z.get("kind") == "dealing_range" and z["contains_price"] for z in zones):
        factors.append("discount_zone_entry" if long_ else "premium_zone_entry")
    swept = primary.last["liq_ssl_sweep_bars_since" if long_ else "liq_bsl_sweep_bars_since"]
    if _num(swept) is not None and swept <= config.sweep_window:
        factors.append("sell_side_liquidity_swept" if long_ else "buy_side_liquidity_swept")
    factors.extend(label for ok, label in checks if bool(ok))
    price = primary.close
    below = [z["bottom"] for z in zones if z["bottom"] is not None and z["bottom"] < price]
    above = [z["top"] for z in zones if z["top"] is not None and z["top"] > price]
    fallback = _num(primary.last["pd_low" if long_ else "pd_high"])
    # The nearest favourable zone edge beyond price: the tightest level that proves the idea
    # wrong (a long's support lost); the primary dealing range's extreme when there is none.
    nearest = (max(below) if below else None) if long_ else (min(above) if above else None)
    stop = nearest if nearest is not None else fallback
    return [
        {
            "direction": "long" if long_ else "short",
            "timeframe": primary.tf.label,
            "entry_price": _num(price),
            "invalidation_price": _num(stop),
            "confluence": score,
            "confluence_factors": factors,
            "known_at": primary.known_at(primary.frame.index[-1]),
        }
    ]


def analyze_multi_timeframe(
    candles_by_tf: Mapping[str, pd.DataFrame],
    symbol: str,
    primary_tf: str,
    analysis_tfs: Sequence[str] | None = None,
    *,
    config: MTFConfig | None = None,
    max_zones: int = 10,
) -> dict[str, Any]:
    """Return the top-down reading of ``primary_tf`` against higher timeframes, JSON-ready.

    Args:
        candles_by_tf: Canonical candle frames per timeframe label.
        symbol: Market symbol, echoed in the answer.
        primary_tf: The trading timeframe (a key of ``candles_by_tf``).
        analysis_tfs: Higher timeframes to read; every timeframe above ``primary_tf`` in
            ``candles_by_tf`` when ``None``.
        config: Multi-timeframe parameters (bias, confluence, ``entry_threshold``).
        max_zones: Most order blocks / FVGs listed per timeframe and side.

    Returns:
        ``{"symbol", "primary_timeframe", "analysis_timeframes", "as_of",
        "higher_timeframe_bias", "discount_zones", "premium_zones", "entry_signals",
        "confluence_score"}``; see ``docs/mtf.md``.

    Raises:
        ValueError: A timeframe is unknown, missing from ``candles_by_tf`` or not above
            ``primary_tf``, or the candles are invalid (naming which).
    """
    cfg = config if config is not None else MTFConfig()
    known = _timeframes(candles_by_tf)
    primary = _lookup(known, primary_tf, "primary")
    if analysis_tfs is None:
        higher = [item for seconds, item in known.items() if seconds > primary[0].seconds]
    else:
        if isinstance(analysis_tfs, str):
            analysis_tfs = [analysis_tfs]
        higher = []
        for tf in analysis_tfs:
            item = _lookup(known, tf, "analysis")
            if item[0].seconds <= primary[0].seconds:
                raise ValueError(
                    f"analysis timeframe {tf!r} must be above the primary timeframe {primary_tf!r}"
                )
            if item not in higher:
                higher.append(item)
    analysed = _analyse_all(candles_by_tf, [primary, *higher])
    base = analysed[primary[0].seconds]
    row = _mtf_row(analysed, base.tf, cfg)
    htfs = [analysed[s] for s in sorted(analysed) if s != base.tf.seconds]
    bias: dict[str, Any] = {}
    for a in htfs:
        bias[known[a.tf.seconds][1]] = {
            **_bias_of(row, a.tf),
            "structure_trend": _direction(a.last["struct_ext_trend"]),
            "range_position": _num(a.last["pd_pos"]),
            "price_position": _num(row[f"{tf_prefix(a.tf)}pd_pos"]),
            "known_at": a.known_at(a.frame.index[-1]),
        }
    bias["overall"] = {
        "bias": _direction(row["mtf_direction"]),
        "strength": _num(row["mtf_comp_htf_bias"]),
        "aligned_bullish": _num(row["mtf_align_bull"]),
        "aligned_bearish": _num(row["mtf_align_bear"]),
        "alignment": _num(row["mtf_alignment"]),
    }
    discount = [z for a in htfs for z in _side_zones(a, -1, base.close, max_zones)]
    premium = [z for a in htfs for z in _side_zones(a, 1, base.close, max_zones)]
    direction = _num(row["mtf_direction"])
    favourable = discount if direction is not None and direction > 0 else premium
    return {
        "symbol": symbol,
        "primary_timeframe": known[base.tf.seconds][1],
        "analysis_timeframes": [known[a.tf.seconds][1] for a in htfs],
        "as_of": base.known_at(base.frame.index[-1]),
        "last_close": _num(base.close),
        "higher_timeframe_bias": bias,
        "discount_zones": discount,
        "premium_zones": premium,
        "entry_signals": _entry_signals(row, base, favourable, cfg),
        "confluence_score": _confluence(row, base),
    }
