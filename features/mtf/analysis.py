"""The product's SMC analysis and multi-timeframe reading as pure functions of candles.

``analyze_smc`` describes the SMC picture at the last closed candle (order blocks, fair value
gaps, liquidity levels, market structure per timeframe, and the confluence score of the
lowest); ``read_multi_timeframe`` reads a primary timeframe top-down against higher ones (bias,
discount and premium zones, confluence score). The entry decision is not made here: the
product's ``analyze_multi_timeframe`` (``serving.analysis``) adds the entry signals of the one
signal rule to this reading. Both accept the product plan's spelling (``fvg``, ``BTCUSDT``),
compute the SMC engine inside from canonical candle frames and only use what is known at the
last candle's close: higher-timeframe candles that close after the primary (lowest)
timeframe's last close are dropped, and each higher timeframe's last close (``known_at``) and
age are reported, flagged ``stale`` (or refused) beyond ``AnalysisConfig.max_age_bars`` of its
bars. Output holds only ``str``, ``int``, ``float``, ``bool``, ``None``, lists and dicts:
NaN becomes ``None``, times are ISO 8601 UTC strings (``...Z``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.mtf.compute import compute_mtf
from features.mtf.config import MTFConfig
from features.mtf.inputs import ATR_COLUMN
from features.mtf.join import tf_prefix
from features.schema import to_float64
from features.smc import SMCConfig, compute_smc, detect_zones

SMC_ANALYSES: tuple[str, ...] = (
    "order_blocks",
    "fair_value_gaps",
    "liquidity_levels",
    "market_structure",
    "confluence_score",
)
"""Analysis types of ``analyze_smc``; ``confluence_score`` is always answered."""
ANALYSIS_ALIASES: dict[str, str] = {
    "fvg": "fair_value_gaps",
    "fvgs": "fair_value_gaps",
    "liquidity": "liquidity_levels",
    "structure": "market_structure",
}
"""Other spellings of the analysis types (the product plan writes ``fvg``)."""
QUOTES: tuple[str, ...] = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH")
"""Quote currencies recognised in a symbol written without a slash (``BTCUSDT``)."""
STALE_ACTIONS: tuple[str, ...] = ("flag", "refuse")
_DIRECTION = {1: "bullish", -1: "bearish", 0: "neutral"}


class StaleDataError(CandleDataError):
    """A higher timeframe's candles end too long before the primary timeframe's last close."""


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the analysis calls.

    Attributes:
        mtf: Multi-timeframe parameters (biases, confluence score).
        max_zones: Most zones listed per kind and timeframe (and side), nearest first.
        max_age_bars: Age, in a higher timeframe's own bars, beyond which its last candle is
            stale: its close lies more than this many bars before the primary timeframe's
            last close (a fresh one is less than one bar old).
        on_stale: ``flag`` (``stale: true`` and a warning) or ``refuse`` (``StaleDataError``).
    """

    mtf: MTFConfig = field(default_factory=MTFConfig)
    max_zones: int = 10
    max_age_bars: float = 2.0
    on_stale: str = "flag"

    def __post_init__(self) -> None:
        if not isinstance(self.mtf, MTFConfig):
            raise ValueError(f"AnalysisConfig.mtf must be an MTFConfig, got {self.mtf!r}")
        zones = self.max_zones
        if isinstance(zones, bool) or not isinstance(zones, int) or not 1 <= zones <= 1000:
            raise ValueError(f"AnalysisConfig.max_zones must be an integer 1..1000, got {zones!r}")
        age = self.max_age_bars
        if isinstance(age, bool) or not isinstance(age, int | float) or not 1.0 <= age <= 1e6:
            raise ValueError(f"AnalysisConfig.max_age_bars must be a number in 1..1e6, got {age!r}")
        if self.on_stale not in STALE_ACTIONS:
            raise ValueError(
                f"AnalysisConfig.on_stale must be one of {list(STALE_ACTIONS)}, "
                f"got {self.on_stale!r}"
            )


def canonical_symbol(symbol: str) -> str:
    """Return ``symbol`` as ``BASE/QUOTE`` (``BTCUSDT`` and ``btc/usdt`` -> ``BTC/USDT``).

    Raises:
        ValueError: Not a string, empty, or without a slash and no known quote currency.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"symbol must be a non-empty string such as 'BTC/USDT', got {symbol!r}")
    text = symbol.strip().upper()
    if "/" in text:
        return text
    for quote in sorted(QUOTES, key=len, reverse=True):
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}/{quote}"
    raise ValueError(
        f"symbol {symbol!r}: write it BASE/QUOTE (e.g. 'BTC/USDT') or end it with a known quote "
        f"currency ({', '.join(QUOTES)})"
    )


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
        # As float64, "not yet known" of a compact integer column as NaN.
        self.last = pd.Series(to_float64(self.frame.iloc[-1:])[0], index=self.frame.columns)
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
        for end in _ENDS:
            alive &= zones[end].isna().to_numpy()
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
        "timeframe": a.tf.label,
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
                "timeframe": a.tf.label,
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


def _parse_types(analysis_type: Sequence[str] | str | None) -> list[str]:
    if analysis_type is None:
        return list(SMC_ANALYSES)
    if isinstance(analysis_type, str):
        analysis_type = [analysis_type]
    chosen = []
    for name in analysis_type:
        canonical = ANALYSIS_ALIASES.get(name, name) if isinstance(name, str) else name
        if canonical not in SMC_ANALYSES:
            known = [*SMC_ANALYSES, *ANALYSIS_ALIASES]
            raise ValueError(f"unknown analysis type {name!r}: expected one of {known}")
        if canonical not in chosen:
            chosen.append(canonical)
    if not chosen:
        raise ValueError(f"analysis_type is empty: name at least one of {list(SMC_ANALYSES)}")
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


@dataclass(frozen=True)
class _Freshness:
    """How old a timeframe's last closed candle is at the primary timeframe's last close."""

    known_at: pd.Timestamp
    age: pd.Timedelta
    bars: float
    stale: bool

    def fields(self) -> dict[str, Any]:
        return {
            "known_at": _iso(self.known_at),
            "age_seconds": int(self.age.total_seconds()),
            "age_bars": round(self.bars, 6),
            "stale": self.stale,
        }


def _freshness(
    analysed: dict[int, _Analysed], keys: Mapping[int, str], config: AnalysisConfig
) -> tuple[dict[int, _Freshness], list[str]]:
    """Return each timeframe's freshness and the warnings; refuse stale ones when configured."""
    primary = analysed[min(analysed)]
    as_of = primary.frame.index[-1] + primary.tf.delta
    out: dict[int, _Freshness] = {}
    warnings: list[str] = []
    for seconds, a in sorted(analysed.items()):
        known_at = a.frame.index[-1] + a.tf.delta
        age = pd.Timedelta(as_of - known_at)
        bars = age / a.tf.delta
        stale = bars > config.max_age_bars
        out[seconds] = _Freshness(known_at, age, float(bars), bool(stale))
        if not stale:
            continue
        message = (
            f"candles_by_tf[{keys[seconds]!r}]: the last {a.tf.label} candle closed at "
            f"{_iso(known_at)}, {bars:g} bars ({age}) before the {primary.tf.label} close "
            f"{_iso(as_of)} (bound: {config.max_age_bars:g} bars); its bias and zones are stale"
        )
        if config.on_stale == "refuse":
            raise StaleDataError(message)
        warnings.append(message)
    return out, warnings


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


def _merged(parts: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Return the items of every timeframe's list, nearest to the last close first."""
    items = [item for part in parts for item in part]
    return _nearest(items, len(items))


def analyze_smc(
    candles_by_tf: Mapping[str, pd.DataFrame],
    symbol: str,
    analysis_type: Sequence[str] | str | None = None,
    timeframes: Sequence[str] | None = None,
    *,
    config: AnalysisConfig | None = None,
) -> dict[str, Any]:
    """Return the SMC analysis at the last closed candle, JSON-ready.

    The keyword names are the product plan's request fields, so its body can be passed as
    ``analyze_smc(candles_by_tf, **body)``.

    Args:
        candles_by_tf: Canonical candle frames per timeframe label (``"5m"``, ``"1h"``, ...).
        symbol: Market symbol, ``BTC/USDT`` or ``BTCUSDT``; answered as ``BTC/USDT``.
        analysis_type: Any of ``order_blocks``, ``fair_value_gaps`` (or ``fvg``),
            ``liquidity_levels``, ``market_structure``, ``confluence_score``; all when ``None``.
            The confluence score is always answered.
        timeframes: Keys of ``candles_by_tf`` to analyse; all when ``None``.
        config: Zone limits, staleness bound and multi-timeframe parameters.

    Returns:
        ``{"symbol", "as_of", "analysis_types", "order_blocks", "fair_value_gaps",
        "liquidity_levels", "market_structure", "confluence_score", "confluence",
        "timeframes", "warnings"}``: zone lists merge every timeframe (each item names its
        ``timeframe``), ``market_structure`` maps timeframe to structure, ``confluence_score``
        is a number in [0, 1] (``None`` during the warm-up) computed on the lowest timeframe
        with the others as higher timeframes; ``timeframes`` holds each one's last close,
        ``known_at``, age and ``stale`` flag. See ``docs/mtf.md``.

    Raises:
        ValueError: An unknown analysis type, symbol or timeframe, or invalid candles (naming
            which); ``StaleDataError`` for stale candles when ``config.on_stale`` is ``refuse``.
    """
    chosen = _parse_types(analysis_type)
    cfg = config if config is not None else AnalysisConfig()
    name = canonical_symbol(symbol)
    known = _timeframes(candles_by_tf)
    if timeframes is None:
        wanted = list(known.values())
    else:
        if isinstance(timeframes, str):
            timeframes = [timeframes]
        wanted = []
        for tf in timeframes:
            item = _lookup(known, tf, "requested")
            if item not in wanted:
                wanted.append(item)
        if not wanted:
            raise ValueError("timeframes is empty: name at least one timeframe of candles_by_tf")
    analysed = _analyse_all(candles_by_tf, wanted)
    keys = {seconds: known[seconds][1] for seconds in analysed}
    fresh, warnings = _freshness(analysed, keys, cfg)
    lowest = analysed[min(analysed)]
    row = _mtf_row(analysed, lowest.tf, cfg.mtf)
    ordered = [analysed[seconds] for seconds in sorted(analysed)]
    answer: dict[str, Any] = {
        "symbol": name,
        "as_of": lowest.known_at(lowest.frame.index[-1]),
        "analysis_types": chosen,
    }
    limit = cfg.max_zones
    if "order_blocks" in chosen:
        answer["order_blocks"] = _merged(_order_blocks(a, limit) for a in ordered)
    if "fair_value_gaps" in chosen:
        answer["fair_value_gaps"] = _merged(_fair_value_gaps(a, limit) for a in ordered)
    if "liquidity_levels" in chosen:
        levels = [_liquidity_levels(a, limit) for a in ordered]
        answer["liquidity_levels"] = {
            **levels[0],
            "buy_side": _merged(part["buy_side"] for part in levels),
            "sell_side": _merged(part["sell_side"] for part in levels),
        }
    if "market_structure" in chosen:
        answer["market_structure"] = {
            keys[a.tf.seconds]: _market_structure(a, _bias_of(row, a.tf)) for a in ordered
        }
    answer["confluence_score"] = _num(row["mtf_confluence"])
    answer["confluence"] = _confluence(row, lowest)
    answer["timeframes"] = {
        keys[a.tf.seconds]: {
            "last_close": _num(a.close),
            "atr": _num(a.atr),
            **fresh[a.tf.seconds].fields(),
        }
        for a in ordered
    }
    answer["warnings"] = warnings
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
        item = _zone_base(a, zone)
        item["contains_price"] = zone.bottom <= price <= zone.top
        zones.append(item)
    return items + _nearest(zones, limit)


def read_multi_timeframe(
    candles_by_tf: Mapping[str, pd.DataFrame],
    symbol: str,
    primary_timeframe: str,
    analysis_timeframes: Sequence[str] | None = None,
    *,
    config: AnalysisConfig | None = None,
) -> dict[str, Any]:
    """Return the top-down reading of the primary timeframe against higher ones, JSON-ready.

    This is ``serving.analysis.analyze_multi_timeframe`` without its ``entry_signals`` (the
    one signal rule lives on the serving side).

    Args:
        candles_by_tf: Canonical candle frames per timeframe label.
        symbol: Market symbol, ``BTC/USDT`` or ``BTCUSDT``; answered as ``BTC/USDT``.
        primary_timeframe: The trading timeframe (a key of ``candles_by_tf``).
        analysis_timeframes: Higher timeframes to read; every timeframe above the primary one
            in ``candles_by_tf`` when ``None``.
        config: Zone limits, staleness bound and multi-timeframe parameters.

    Returns:
        ``{"symbol", "primary_timeframe", "analysis_timeframes", "as_of", "last_close",
        "higher_timeframe_bias", "alignment", "discount_zones", "premium_zones",
        "confluence_score", "confluence", "timeframes", "warnings"}``: the bias as a word,
        the confluence score a number in [0, 1]; ``timeframes`` holds each higher
        timeframe's bias, ``known_at``, age and ``stale`` flag. See ``docs/mtf.md``.

    Raises:
        ValueError: A timeframe or symbol is unknown, a timeframe is missing from
            ``candles_by_tf`` or not above the primary one, or the candles are invalid
            (naming which); ``StaleDataError`` for stale candles when ``config.on_stale`` is
            ``refuse``.
    """
    cfg = config if config is not None else AnalysisConfig()
    name = canonical_symbol(symbol)
    known = _timeframes(candles_by_tf)
    primary = _lookup(known, primary_timeframe, "primary")
    if analysis_timeframes is None:
        higher = [item for seconds, item in known.items() if seconds > primary[0].seconds]
    else:
        if isinstance(analysis_timeframes, str):
            analysis_timeframes = [analysis_timeframes]
        higher = []
        for tf in analysis_timeframes:
            item = _lookup(known, tf, "analysis")
            if item[0].seconds <= primary[0].seconds:
                raise ValueError(
                    f"analysis timeframe {tf!r} must be above the primary timeframe "
                    f"{primary_timeframe!r}"
                )
            if item not in higher:
                higher.append(item)
    analysed = _analyse_all(candles_by_tf, [primary, *higher])
    keys = {seconds: known[seconds][1] for seconds in analysed}
    fresh, warnings = _freshness(analysed, keys, cfg)
    base = analysed[primary[0].seconds]
    row = _mtf_row(analysed, base.tf, cfg.mtf)
    htfs = [analysed[s] for s in sorted(analysed) if s != base.tf.seconds]
    detail: dict[str, Any] = {}
    for a in htfs:
        detail[keys[a.tf.seconds]] = {
            **_bias_of(row, a.tf),
            "structure_trend": _direction(a.last["struct_ext_trend"]),
            "range_position": _num(a.last["pd_pos"]),
            "price_position": _num(row[f"{tf_prefix(a.tf)}pd_pos"]),
            **fresh[a.tf.seconds].fields(),
        }
    limit = cfg.max_zones
    return {
        "symbol": name,
        "primary_timeframe": keys[base.tf.seconds],
        "analysis_timeframes": [keys[a.tf.seconds] for a in htfs],
        "as_of": base.known_at(base.frame.index[-1]),
        "last_close": _num(base.close),
        "higher_timeframe_bias": _direction(row["mtf_direction"]),
        "alignment": {
            "strength": _num(row["mtf_comp_htf_bias"]),
            "aligned_bullish": _num(row["mtf_align_bull"]),
            "aligned_bearish": _num(row["mtf_align_bear"]),
            "alignment": _num(row["mtf_alignment"]),
        },
        "discount_zones": [z for a in htfs for z in _side_zones(a, -1, base.close, limit)],
        "premium_zones": [z for a in htfs for z in _side_zones(a, 1, base.close, limit)],
        "confluence_score": _num(row["mtf_confluence"]),
        "confluence": _confluence(row, base),
        "timeframes": detail,
        "warnings": warnings,
    }
