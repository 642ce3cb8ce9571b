"""The service's answers as plain Python: candle store and warm feature state in, JSON-ready out.

``SignalCore`` holds, per served market (symbol, timeframe), the strategy's
:class:`serving.engine.features.FeatureStream` started on the last ``history_bars`` stored
candles and advanced one closed candle at a time, and the signal of the newest closed candle
(:func:`serving.signals.make_signal`: the one signal rule and the backtest's risk sizing).
With a champion model, each market of the model's timeframe also holds the model's scorer
(``LoadedModel.scorer``), fed the same closed candles from the same history start: a candle
where the rule wants an entry gets the model's calibrated P(take) as ``confidence_score`` and
its size as the entry's risk multiplier (0: declined by the model, as in the backtest). A
signal is computed once per market and candle: every other request for that candle is a
dictionary read (``hit``), or, across processes, a read of the shared cache (``shared_hit``).

Freshness is checked on every answer, cached or not: when the newest closed candle closed
more than one bar plus ``grace_seconds`` ago the answer is :class:`StaleData` (503), never an
old signal. The store failing is :class:`Unavailable` (503); a request the service does not
serve (unknown symbol, timeframe, analysis type) is :class:`InvalidInput` (422) naming the
field. Nothing here imports BentoML: ``serving.service.service`` is the thin layer over it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import OHLCV, CandleDataError, Timeframe
from features.candles.store.base import CandleStore
from features.mtf.analysis import (
    ANALYSIS_ALIASES,
    SMC_ANALYSES,
    AnalysisConfig,
    analyze_smc,
    canonical_symbol,
)
from serving.analysis import analyze_multi_timeframe
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.features import FeatureSpec, FeatureStream
from serving.engine.features import open_ns as open_times_ns
from serving.service.cache import NoCache, SignalCache
from serving.service.errors import InvalidInput, ServiceError, StaleData, Unavailable
from serving.service.metrics import Metrics
from serving.service.model import BarScorer, LoadedModel, ModelProvider, NoModel
from serving.signals import ENTRY, Signal, SMCConfluence, make_signal

log = logging.getLogger(__name__)
NS = 1_000_000_000


@dataclass(frozen=True)
class CoreConfig:
    """What the core serves and how.

    Attributes:
        symbols: Served markets (any spelling; kept as ``BASE/QUOTE``).
        timeframes: Stored timeframes; signals are served on those the rule's higher
            timeframe fits (a whole multiple above), analyses on all of them.
        grace_seconds: How late a candle may land before the answer is ``stale_data``.
        history_bars: Stored candles the warm feature state starts from (at least; see
            :func:`history_start`).
        analysis_bars: Candles per timeframe the analysis calls read.
        recheck_seconds: Least interval between two store checks of one market while its
            next candle is due.
        recent_limit: Signals kept for ``GET /api/signals``.
        backtest: Strategy, risk and execution settings of the signal (the backtest's).
        analysis: Settings of the analysis calls.
    """

    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    grace_seconds: float = 60.0
    history_bars: int = 3000
    analysis_bars: int = 2000
    recheck_seconds: float = 1.0
    recent_limit: int = 1000
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("the service needs at least one symbol")
        object.__setattr__(self, "symbols", tuple(canonical_symbol(s) for s in self.symbols))
        tfs = sorted({Timeframe.parse(t) for t in self.timeframes}, key=lambda t: t.seconds)
        if not tfs:
            raise ValueError("the service needs at least one timeframe")
        object.__setattr__(self, "timeframes", tuple(t.label for t in tfs))
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be >= 0, got {self.grace_seconds}")
        if self.history_bars < 1 or self.analysis_bars < 1:
            raise ValueError("history_bars and analysis_bars must be >= 1")


@dataclass
class _Entry:
    """The signal of one market's newest closed candle."""

    open_ns: int
    close_s: float
    checked_s: float
    signal: dict[str, Any]
    payload: bytes = b""

    def __post_init__(self) -> None:
        self.payload = json.dumps(self.signal, separators=(",", ":")).encode()


class _Market:
    """One served market: its warm feature state and its newest signal."""

    def __init__(self, symbol: str, tf: Timeframe, spec: FeatureSpec) -> None:
        self.symbol = symbol
        self.tf = tf
        self.tf_s = float(tf.seconds)
        self.spec = spec
        self.lock = threading.Lock()
        self.stream: FeatureStream | None = None
        self.start_ns = 0
        self.fed_ns: int | None = None
        self.row: np.ndarray | None = None
        self.entry: _Entry | None = None
        self.scorer: BarScorer | None = None
        self.scored_by: LoadedModel | None = None
        self.p = float("nan")

    @property
    def name(self) -> str:
        return f"{self.symbol} {self.tf.label}"


def wall_clock() -> float:
    """Return the time as UTC epoch seconds."""
    return time.time()


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class SignalCore:
    """Signals, analyses, recent signals and readiness of the served markets."""

    def __init__(
        self,
        store: CandleStore,
        config: CoreConfig,
        *,
        model: ModelProvider | None = None,
        cache: SignalCache | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = wall_clock,
    ) -> None:
        """Serve ``config``'s markets from ``store`` (nothing is read before the first ask)."""
        self.store = store
        self.config = config
        self.model = model or NoModel()
        self.cache = cache or NoCache()
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.strategy = SMCConfluence(config.backtest.strategy)
        self.markets: dict[tuple[str, str], _Market] = {}
        self.signal_timeframes: tuple[str, ...] = ()
        served = []
        for label in config.timeframes:
            try:
                spec = FeatureSpec.build(label, self.strategy.inputs())
            except CandleDataError:
                continue  # the rule's higher timeframe does not fit this one
            served.append(label)
            for symbol in config.symbols:
                self.markets[(symbol, label)] = _Market(symbol, spec.timeframe, spec)
        self.signal_timeframes = tuple(served)
        self._aliases: dict[tuple[str, str], _Market] = {}
        self._recent: deque[dict[str, Any]] = deque(maxlen=config.recent_limit)
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._analyses: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._analysis_lock = threading.Lock()
        state = self.model.state()
        self.metrics.model_state(state.version, state.status)

    # -- signals --------------------------------------------------------------------------------

    def market(self, symbol: str, timeframe: str) -> _Market:
        """Return the served market of a request's symbol and timeframe.

        Raises:
            InvalidInput: The symbol or timeframe is not served (naming the field).
        """
        found = self._aliases.get((symbol, timeframe))
        if found is not None:
            return found
        name = self._symbol(symbol)
        try:
            label = Timeframe.parse(timeframe).label
        except CandleDataError as exc:
            raise InvalidInput(str(exc), field="timeframe") from None
        market = self.markets.get((name, label))
        if market is None:
            htf = self.config.backtest.strategy.htf_timeframe
            raise InvalidInput(
                f"timeframe {timeframe!r} is not served: signals run on "
                f"{list(self.signal_timeframes)} (the rule reads the {htf} bias above them)",
                field="timeframe",
            )
        if len(self._aliases) < 4096:
            self._aliases[(symbol, timeframe)] = market
        return market

    def cached_payload(self, symbol: str, timeframe: str) -> bytes | None:
        """Return the signal as JSON bytes when the in-process cache can answer, without I/O.

        ``None`` means the caller must call :meth:`signal_payload` (which may read the store).

        Raises:
            InvalidInput: As :meth:`market`.
            StaleData: The cached candle is too old.
        """
        entry = self._cached(self.market(symbol, timeframe))
        return None if entry is None else entry.payload

    def signal_payload(self, symbol: str, timeframe: str) -> bytes:
        """Return :meth:`signal` as JSON bytes (encoded once per candle)."""
        return self._entry(symbol, timeframe).payload

    def signal(self, symbol: str, timeframe: str) -> dict[str, Any]:
        """Return the signal of the newest closed candle of a market (computed once per candle).

        Raises:
            InvalidInput: Unknown symbol or timeframe.
            StaleData: The newest closed candle is older than one bar plus the grace period.
            Unavailable: The candle store failed.
        """
        return self._entry(symbol, timeframe).signal

    def _cached(self, m: _Market) -> _Entry | None:
        entry = m.entry
        if entry is None:
            return None
        now = self.clock()
        if now < entry.close_s + m.tf_s or now - entry.checked_s < self.config.recheck_seconds:
            self._check_age(m.symbol, m.tf, entry.close_s, now)
            self.metrics.lookup("hit")
            return entry
        return None

    def _entry(self, symbol: str, timeframe: str) -> _Entry:
        m = self.market(symbol, timeframe)
        entry = self._cached(m)
        if entry is not None:
            return entry
        with m.lock:  # one computation per market; the others wait and read its result
            entry = self._cached(m)
            return entry if entry is not None else self._refresh(m)

    def _check_age(self, symbol: str, tf: Timeframe, close_s: float, now: float) -> None:
        age = now - close_s
        if age > tf.seconds + self.config.grace_seconds:
            raise StaleData(
                f"{symbol} {tf.label}: the newest closed candle closed at {_iso(close_s)}, "
                f"{age:.0f} s ago (more than one {tf.label} bar plus "
                f"{self.config.grace_seconds:g} s of grace); no answer is given on stale data",
            )

    def _last_open_ns(self, symbol: str, tf: Timeframe) -> int:
        try:
            last = self.store.last_timestamp(symbol, tf)
        except Exception as exc:
            raise Unavailable(f"candle store unavailable: {type(exc).__name__}") from exc
        if last is None:
            raise StaleData(f"{symbol} {tf.label}: no candles stored")
        return int(pd.Timestamp(last).value)

    def _refresh(self, m: _Market) -> _Entry:
        now = self.clock()
        open_ns = self._last_open_ns(m.symbol, m.tf)
        close_s = open_ns / NS + m.tf_s
        self.metrics.feature_age.labels(m.symbol, m.tf.label).set(now - close_s)
        self._check_age(m.symbol, m.tf, close_s, now)
        entry = m.entry
        if entry is not None and entry.open_ns == open_ns:
            entry.checked_s = now
            self.metrics.lookup("hit")
            return entry
        key = f"{m.symbol}|{m.tf.label}|{open_ns}"
        shared = self.cache.get(key)
        if shared is not None:
            m.entry = _Entry(open_ns, close_s, now, shared)
            self.metrics.lookup("shared_hit")
            return m.entry
        answer = self._compute(m, open_ns)
        self.cache.put(key, answer)
        m.entry = _Entry(open_ns, close_s, now, answer)
        self.metrics.lookup("miss")
        self.metrics.computed.inc()
        self._recent.append(answer)
        for notify in list(self._subscribers):
            try:
                notify(answer)
            except Exception:  # a broken subscriber never fails the request
                log.exception("signal subscriber failed")
        return m.entry

    def _compute(self, m: _Market, open_ns: int) -> dict[str, Any]:
        """Advance the market's feature state to the candle opening at ``open_ns``; sign it."""
        if m.stream is None or m.fed_ns is None or open_ns < m.fed_ns:  # new, or store rewound
            start_ns = history_start(open_ns, m.tf, self.config.history_bars)
            m.stream, m.fed_ns, m.row = FeatureStream(m.spec), None, None
            m.start_ns, m.scorer, m.scored_by = start_ns, None, None
        else:
            start_ns = m.fed_ns + m.tf.seconds * NS
        model = self.model.current()
        try:
            scorer = self._scorer(m, model)
        except Unavailable:
            raise
        except Exception:  # a failing model never fails the rule's signal
            log.exception("%s: the model failed to warm; this signal is rule-only", m.name)
            m.scorer, m.scored_by, scorer = None, None, None
        try:
            candles = self.store.read(m.symbol, m.tf, start=pd.Timestamp(start_ns, tz="UTC"))
        except Exception as exc:
            raise Unavailable(f"candle store unavailable: {type(exc).__name__}") from exc
        stamps = open_times_ns(candles)
        values = candles[list(OHLCV)].to_numpy(np.float64)
        fed = 0
        for ts, ohlcv in zip(stamps, values, strict=True):
            if ts > open_ns:
                break
            m.row = m.stream.update(int(ts), ohlcv)
            m.fed_ns = int(ts)
            fed += 1
        if m.row is None or m.fed_ns is None:
            raise StaleData(f"{m.name}: no candles stored")
        size = None
        if scorer is not None:
            try:
                if fed:
                    m.p = scorer.warm(stamps[:fed], values[:fed])  # scores the last bars only
                size = scorer.size(m.p)
            except Exception:  # a failing model never fails the rule's signal
                log.exception("%s: the model failed; this signal is rule-only", m.name)
                m.scorer, m.scored_by, size = None, None, None
        signal = make_signal(
            m.row,
            pd.Timestamp(m.fed_ns, tz="UTC"),
            symbol=m.symbol,
            timeframe=m.tf,
            config=self.config.backtest,
            strategy=self.strategy,
            size=size,
        )
        answer = signal.to_dict()
        answer["model_status"] = "rule_only"
        answer["model_size"] = None
        if model is not None and size is not None and _intent(signal):
            answer["confidence_score"] = round(100.0 * m.p) if np.isfinite(m.p) else None
            answer["model_version"] = model.version
            answer["model_status"] = "scored"
            answer["model_size"] = size
        return answer

    def _scorer(self, m: _Market, model: LoadedModel | None) -> BarScorer | None:
        """The market's scorer of ``model``, warmed on the candles its feature state has seen.

        A market the model does not score (another timeframe) has none; a new champion gets a
        new scorer that replays the market's history, so it answers as if it had always run.
        """
        if model is None or model.timeframe != m.tf.label:
            m.scorer, m.scored_by, m.p = None, None, float("nan")
            return None
        if m.scorer is not None and m.scored_by is model:
            return m.scorer
        scorer = model.scorer(self.config.timeframes)
        m.p = float("nan")
        if m.fed_ns is not None:
            start = pd.Timestamp(m.start_ns, tz="UTC")
            end = pd.Timestamp(m.fed_ns + m.tf.seconds * NS, tz="UTC")
            try:
                history = self.store.read(m.symbol, m.tf, start=start, end=end)
            except Exception as exc:
                raise Unavailable(f"candle store unavailable: {type(exc).__name__}") from exc
            if len(history):
                values = history[list(OHLCV)].to_numpy(np.float64)
                m.p = scorer.warm(open_times_ns(history), values)
        m.scorer, m.scored_by = scorer, model
        return scorer

    def refresh_all(self) -> dict[str, str]:
        """Bring every market to its newest candle (the poller's tick); return errors by market."""
        failures: dict[str, str] = {}
        for (symbol, label), m in self.markets.items():
            try:
                self.signal(symbol, label)
            except ServiceError as exc:
                failures[m.name] = exc.message
        return failures

    def subscribe(self, notify: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``notify`` with each newly computed signal; return the unsubscribe call."""
        self._subscribers.append(notify)
        return lambda: self._subscribers.remove(notify)

    def recent(
        self,
        symbol: str | None = None,
        timeframe: str | None = None,
        type: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Return the newest computed signals first, filtered.

        Raises:
            InvalidInput: A filter names an unserved symbol or timeframe, or a bad type/limit.
        """
        name = label = None
        if symbol is not None:
            name = self.market(symbol, timeframe or self.signal_timeframes[0]).symbol
        if timeframe is not None:
            label = self.market(symbol or self.config.symbols[0], timeframe).tf.label
        if type is not None and type not in ("ENTRY", "EXIT", "NONE"):
            raise InvalidInput(f"type {type!r}: expected ENTRY, EXIT or NONE", field="type")
        if not 1 <= limit <= self.config.recent_limit:
            raise InvalidInput(
                f"limit {limit}: expected 1..{self.config.recent_limit}", field="limit"
            )
        out = []
        for item in reversed(list(self._recent)):  # a copy: other threads append
            if (name and item["symbol"] != name) or (label and item["timeframe"] != label):
                continue
            if type and item["type"] != type:
                continue
            out.append(item)
            if len(out) == limit:
                break
        return out

    # -- analyses ---------------------------------------------------------------------------------

    def analyze_smc(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer ``POST /api/smc/analyze`` from the stored candles (the plan's body verbatim)."""
        symbol = self._symbol(body.get("symbol"))
        labels = self._labels(body.get("timeframes"), "timeframes", self.config.timeframes)
        types = _analysis_types(body.get("analysis_type"))
        frames = self._frames(symbol, labels)
        key = ("smc", symbol, tuple(labels), tuple(types), _stamps(frames))
        return self._memo(
            key,
            lambda: analyze_smc(frames, symbol, types, labels, config=self.config.analysis),
        )

    def analyze_multi_timeframe(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer ``POST /api/analysis/multi-timeframe`` (the plan's body verbatim)."""
        symbol = self._symbol(body.get("symbol"))
        primary = self._labels([body.get("primary_timeframe")], "primary_timeframe")[0]
        above = tuple(t for t in self.config.timeframes if _seconds(t) > _seconds(primary))
        wanted = body.get("analysis_timeframes")
        higher = self._labels(wanted, "analysis_timeframes", above)
        for i, label in enumerate(higher):
            if _seconds(label) <= _seconds(primary):
                raise InvalidInput(
                    f"analysis timeframe {label!r} must be above the primary timeframe "
                    f"{primary!r} (contradictory request)",
                    field=f"analysis_timeframes[{i}]",
                )
        if not higher:
            raise InvalidInput(
                f"no stored timeframe above {primary!r} to read it against",
                field="primary_timeframe",
            )
        frames = self._frames(symbol, [primary, *higher])
        key = ("mtf", symbol, primary, tuple(higher), _stamps(frames))
        return self._memo(
            key,
            lambda: analyze_multi_timeframe(
                frames, symbol, primary, higher,
                config=self.config.analysis, signal_config=self.config.backtest,
            ),
        )  # fmt: skip

    def _symbol(self, value: Any) -> str:
        try:
            name = canonical_symbol(value)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="symbol") from None
        if name not in self.config.symbols:
            raise InvalidInput(
                f"unknown symbol {value!r}: served symbols are {list(self.config.symbols)}",
                field="symbol",
            )
        return name

    def _labels(self, values: Any, name: str, default: Sequence[str] | None = None) -> list[str]:
        if values is None and default is not None:
            return list(default)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple) or not values:
            raise InvalidInput(f"{name} is empty: name at least one timeframe", field=name)
        out: list[str] = []
        for i, value in enumerate(values):
            where = name if name == "primary_timeframe" else f"{name}[{i}]"
            try:
                label = Timeframe.parse(str(value)).label if isinstance(value, str) else None
            except CandleDataError as exc:
                raise InvalidInput(str(exc), field=where) from None
            if label not in self.config.timeframes:
                raise InvalidInput(
                    f"timeframe {value!r} is not stored: expected one of "
                    f"{list(self.config.timeframes)}",
                    field=where,
                )
            if label not in out:
                out.append(label)
        return out

    def _frames(self, symbol: str, labels: Iterable[str]) -> dict[str, pd.DataFrame]:
        """Read the newest ``analysis_bars`` candles of each timeframe, all of them fresh."""
        now = self.clock()
        frames: dict[str, pd.DataFrame] = {}
        for label in labels:
            tf = Timeframe.parse(label)
            open_ns = self._last_open_ns(symbol, tf)
            self._check_age(symbol, tf, open_ns / NS + tf.seconds, now)
            start = pd.Timestamp(
                open_ns - (self.config.analysis_bars - 1) * tf.seconds * NS, tz="UTC"
            )
            try:
                frames[label] = self.store.read(symbol, tf, start=start)
            except Exception as exc:
                raise Unavailable(f"candle store unavailable: {type(exc).__name__}") from exc
        return frames

    def _memo(self, key: tuple[Any, ...], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._analysis_lock:
            found = self._analyses.get(key)
            if found is not None:
                self._analyses.move_to_end(key)
                return found
        try:
            answer = compute()
        except ValueError as exc:  # candles too short, stale higher timeframe, ...
            raise InvalidInput(str(exc)) from None
        with self._analysis_lock:
            self._analyses[key] = answer
            while len(self._analyses) > 128:
                self._analyses.popitem(last=False)
        return answer

    # -- health -----------------------------------------------------------------------------------

    def readiness(self, require_warm: bool = False) -> dict[str, Any]:
        """Return ``{"ready", "markets", "model"}``: ready when every market's candles are fresh.

        With ``require_warm`` (a poller warms the markets) a market is ready once its feature
        state has been built too, so no request waits for a warm-up.
        """
        now = self.clock()
        markets = {}
        ready = True
        for m in self.markets.values():
            try:
                open_ns = self._last_open_ns(m.symbol, m.tf)
            except ServiceError as exc:
                markets[m.name] = {"fresh": False, "reason": exc.message}
                ready = False
                continue
            close_s = open_ns / NS + m.tf_s
            age = now - close_s
            fresh = age <= m.tf_s + self.config.grace_seconds
            self.metrics.feature_age.labels(m.symbol, m.tf.label).set(age)
            markets[m.name] = {
                "fresh": fresh, "last_close": _iso(close_s), "age_seconds": round(age, 3),
                "warm": m.entry is not None,
            }  # fmt: skip
            ready &= fresh and (m.entry is not None or not require_warm)
        state = self.model.state()
        self.metrics.model_state(state.version, state.status)
        model = {"status": state.status, "version": state.version, "reason": state.reason}
        return {"ready": ready, "markets": markets, "model": model}

    def reload_model(self) -> dict[str, Any]:
        """Ask the model provider to reload the champion now; return the state."""
        state = self.model.refresh()
        self.metrics.model_state(state.version, state.status)
        return {"status": state.status, "version": state.version, "reason": state.reason}


def _intent(signal: Signal) -> bool:
    """Whether the rule wanted an entry: an ``ENTRY``, or one the model declined."""
    return signal.type == ENTRY or (
        signal.reason is not None and signal.reason.endswith(L.REASONS[L.R_MODEL])
    )


def history_start(open_ns: int, tf: Timeframe, bars: int) -> int:
    """Return where a market's warm state starts: at least ``bars`` candles before ``open_ns``.

    The start is aligned down to a multiple of ``bars`` candles since the epoch, so processes
    (workers, replicas, restarts) that start within one such period start on the same candle
    and give the same signals (between ``bars`` and ``2 * bars`` candles are read).
    """
    span = bars * tf.seconds * NS
    return ((open_ns - (bars - 1) * tf.seconds * NS) // span) * span


def _seconds(label: str) -> int:
    return Timeframe.parse(label).seconds


def _stamps(frames: Mapping[str, pd.DataFrame]) -> tuple[Any, ...]:
    return tuple((k, len(f), f.index[-1] if len(f) else None) for k, f in frames.items())


def _analysis_types(value: Any) -> list[str]:
    """Return the analysis types asked for (all when absent), checked."""
    if value is None:
        return list(SMC_ANALYSES)
    if isinstance(value, str):
        value = [value]
    if not value:
        raise InvalidInput(
            f"analysis_type is empty: name at least one of {list(SMC_ANALYSES)}",
            field="analysis_type",
        )
    out: list[str] = []
    known = [*SMC_ANALYSES, *ANALYSIS_ALIASES]
    for i, name in enumerate(value):
        canonical = ANALYSIS_ALIASES.get(name, name) if isinstance(name, str) else None
        if canonical not in SMC_ANALYSES:
            raise InvalidInput(
                f"unknown analysis type {name!r}: expected one of {known}",
                field=f"analysis_type[{i}]",
            )
        if canonical not in out:
            out.append(canonical)
    return out
