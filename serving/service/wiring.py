"""What a service process runs on: the core, the key store and the limits, built once.

``HOLDER.start()`` builds the :class:`Runtime` from the settings (or from the factory a test
installed with ``HOLDER.configure``), starts the poller (new candles become signals and stream
events without a request; the champion alias of the MLflow registry is polled:
:func:`champion_provider`) and returns it; the BentoML service,
the gateway middleware and the ops app all read the same one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from serving.desk import TradingDesk
from serving.service.core import CoreConfig, SignalCore
from serving.service.journal import SignalJournal
from serving.service.keys import KeyStore
from serving.service.limits import RateLimiter
from serving.service.model import ModelProvider, NoModel
from serving.service.settings import ServiceSettings

if TYPE_CHECKING:
    from orchestration.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The parts one service process shares between its routes."""

    core: SignalCore
    keys: KeyStore
    settings: ServiceSettings
    limiter: RateLimiter = field(default_factory=RateLimiter)
    desk: TradingDesk | None = None  # the trading endpoints' ledger (serving.desk)
    journal: SignalJournal | None = None  # the signals recorded in the desk's ledger
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def record_signals(self) -> SignalJournal:
        """Append every newly computed signal to the desk's ledger (``serving.service.journal``)."""
        if self.journal is None:
            if self.desk is None:
                raise ValueError("record_signals: the runtime has no trading desk (no ledger)")
            self.journal = SignalJournal(self.desk.record)
            self.core.subscribe(self.journal.record)
        return self.journal

    def start_poller(self) -> None:
        """Refresh every market each ``poll_seconds`` and the model each ``model_poll_seconds``.

        Without a poller (``poll_seconds`` 0) the champion is loaded once, here.
        """
        if self._thread is not None:
            return
        if self.settings.poll_seconds <= 0:
            self.core.reload_model()
            return
        self._thread = threading.Thread(target=self._poll, name="signal-poller", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        model_every = self.settings.model_poll_seconds
        waited = model_every  # the champion loads on the first tick, before the first signals
        while not self._stop.is_set():
            if model_every > 0 and waited >= model_every:
                self.core.reload_model()
                waited = 0.0
            failures = self.core.refresh_all()
            for market, reason in failures.items():
                log.debug("poller: %s: %s", market, reason)
            self._stop.wait(self.settings.poll_seconds)
            waited += self.settings.poll_seconds

    def stop(self) -> None:
        """Stop the poller."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self.desk is not None:
            self.desk.close()


def keys_path(home: Path) -> Path:
    """The API key and audit database under the app home."""
    return home / "service" / "keys.sqlite"


def _no_model(_platform: Settings) -> ModelProvider:
    return NoModel()


def build_runtime(model: Callable[[Settings], ModelProvider] = _no_model) -> Runtime:
    """Build the runtime from ``SMARTMARKET_*`` and ``SMARTMARKET_SERVICE_*`` settings.

    ``model`` builds the model seam's provider; rule-only signals by default. The deployed
    service (``orchestration.service``) plugs in the training registry's champion.
    """
    from features.candles.store import make_store
    from orchestration.settings import Settings
    from serving.service.cache import NoCache, RedisCache, SignalCache

    platform = Settings()
    service = ServiceSettings()
    if platform.store == "postgres":
        dsn = platform.pg_dsn.get_secret_value() if platform.pg_dsn else None
        store = make_store("postgres", dsn=dsn)
    else:
        store = make_store("parquet", root=platform.candles_dir)
    cache: SignalCache = NoCache()
    if platform.redis_url is not None:
        cache = RedisCache(platform.redis_url.get_secret_value())
    config = CoreConfig(
        symbols=tuple(platform.symbols),
        timeframes=tuple(platform.timeframes),
        grace_seconds=service.grace_seconds,
        history_bars=service.history_bars,
        analysis_bars=service.analysis_bars,
    )
    core = SignalCore(store, config, model=model(platform), cache=cache)
    keys = KeyStore(keys_path(platform.home_dir))
    desk = build_desk(platform, core)
    runtime = Runtime(core, keys, service, RateLimiter(service.rate_burst_seconds), desk)
    if service.journal_signals:
        runtime.record_signals()
    return runtime


def build_desk(platform: Settings, core: SignalCore) -> TradingDesk:
    """Return the trading desk over ``SMARTMARKET_LEDGER_DSN`` (or the home's SQLite ledger)."""
    from orchestration.settings import ledger_config
    from serving.desk import DeskConfig, candle_marks

    config = DeskConfig(tuple(platform.symbols), core.config.backtest.initial_cash)
    marks = candle_marks(core.store, platform.symbols, platform.base_timeframe)
    return TradingDesk(ledger_config(platform), config, marks)


class Holder:
    """The process's one runtime, built on first use."""

    def __init__(self) -> None:
        """Hold nothing yet; ``build_runtime`` is the factory."""
        self._factory: Callable[[], Runtime] = build_runtime
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def configure(self, factory: Callable[[], Runtime]) -> None:
        """Use ``factory`` for the next start (tests install fakes with it); drop the current."""
        with self._lock:
            if self._runtime is not None:
                self._runtime.stop()
            self._factory = factory
            self._runtime = None

    def reset(self) -> None:
        """Go back to the settings-built runtime."""
        self.configure(build_runtime)

    def start(self) -> Runtime:
        """Return the runtime, building it and starting its poller on first call."""
        with self._lock:
            if self._runtime is None:
                self._runtime = self._factory()
                self._runtime.start_poller()
            return self._runtime

    def get(self) -> Runtime:
        """Return the runtime (started on first use)."""
        runtime = self._runtime
        return runtime if runtime is not None else self.start()


HOLDER = Holder()
