"""The service's Prometheus metrics, in a registry of their own, summed over BentoML's workers.

``bentoml serve`` starts each worker with ``PROMETHEUS_MULTIPROC_DIR`` set (a folder under
``BENTOML_HOME``, emptied at every start), so ``prometheus_client`` keeps every value in a
file of that folder per worker process. :meth:`Metrics.render` then reads the whole folder
(``MultiProcessCollector``): whichever worker answers ``GET /metrics``, counters and
histograms are the sums over all workers (those that exited since the start included),
``smartmarket_feature_age_seconds`` is the most recently set value of any worker, and
``smartmarket_model_info`` and ``smartmarket_signal_cache_hit_ratio`` are per worker (a
``pid`` label; the counters give the service-wide hit ratio). Without that variable (one
process, the tests) it is this process's registry.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import MultiProcessCollector

BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Latency per endpoint, requests by status, model version, feature age, cache hits."""

    def __init__(self) -> None:
        """Create the metrics in a fresh registry."""
        r = self.registry = CollectorRegistry()
        self.latency = Histogram(
            "smartmarket_http_request_seconds", "Request latency.", ["endpoint"],
            buckets=BUCKETS, registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "smartmarket_http_requests", "Requests by endpoint and status.",
            ["endpoint", "status"], registry=r,
        )  # fmt: skip
        self.model = Gauge(
            "smartmarket_model_info", "1 for the model state served now.",
            ["version", "status"], registry=r, multiprocess_mode="all",
        )  # fmt: skip
        self.feature_age = Gauge(
            "smartmarket_feature_age_seconds",
            "Seconds since the newest closed candle of a market closed.",
            ["symbol", "timeframe"], registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.cache = Counter(
            "smartmarket_signal_cache", "Signal lookups by result (hit, shared_hit, miss).",
            ["result"], registry=r,
        )  # fmt: skip
        self.hit_rate = Gauge(
            "smartmarket_signal_cache_hit_ratio",
            "Share of this worker's signal lookups served from a cache.",
            registry=r, multiprocess_mode="all",
        )  # fmt: skip
        self.computed = Counter(
            "smartmarket_signals_computed", "Signals computed (once per market and candle).",
            registry=r,
        )  # fmt: skip
        self._hits = 0
        self._lookups = 0
        self._model_labels: tuple[str, str] | None = None
        self._children: dict[tuple[object, ...], Any] = {}  # labels() once per label set

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and observe its latency."""
        self._child(self.latency, endpoint).observe(seconds)
        self._child(self.requests, endpoint, str(status)).inc()

    def lookup(self, result: str) -> None:
        """Count one signal lookup (``hit``, ``shared_hit`` or ``miss``)."""
        self._child(self.cache, result).inc()
        self._lookups += 1
        self._hits += result != "miss"
        self.hit_rate.set(self._hits / self._lookups)

    def model_state(self, version: str | None, status: str) -> None:
        """Show the model state served now at 1 and the one it replaced at 0."""
        labels = (version or "none", status)
        if self._model_labels not in (None, labels):
            self.model.labels(*self._model_labels).set(0)
        self._model_labels = labels
        self.model.labels(*labels).set(1)

    def render(self) -> bytes:
        """Return the text exposition: all workers' values when they share a folder."""
        folder = multiprocess_folder()
        if folder is None:
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
        return bytes(generate_latest(registry))


def multiprocess_folder() -> str | None:
    """Return the folder the workers' values are kept in, or None for one process's registry.

    ``prometheus_client`` chooses at import whether values live in files; the folder counts
    only when they do (the variable set later would name a folder nobody writes).
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    in_files = prometheus_values.ValueClass is not prometheus_values.MutexValue
    return folder if folder and in_files and os.path.isdir(folder) else None
