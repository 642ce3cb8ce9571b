"""The service's Prometheus metrics, in a registry of their own (one per service process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
            ["version", "status"], registry=r,
        )  # fmt: skip
        self.feature_age = Gauge(
            "smartmarket_feature_age_seconds",
            "Seconds since the newest closed candle of a market closed.",
            ["symbol", "timeframe"], registry=r,
        )  # fmt: skip
        self.cache = Counter(
            "smartmarket_signal_cache", "Signal lookups by result (hit, shared_hit, miss).",
            ["result"], registry=r,
        )  # fmt: skip
        self.hit_rate = Gauge(
            "smartmarket_signal_cache_hit_ratio", "Share of signal lookups served from a cache.",
            registry=r,
        )  # fmt: skip
        self.computed = Counter(
            "smartmarket_signals_computed", "Signals computed (once per market and candle).",
            registry=r,
        )  # fmt: skip
        self._hits = 0
        self._lookups = 0
        self._model_labels: tuple[str, str] | None = None

    def lookup(self, result: str) -> None:
        """Count one signal lookup (``hit``, ``shared_hit`` or ``miss``)."""
        self.cache.labels(result).inc()
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
        """Return the text exposition."""
        return bytes(generate_latest(self.registry))
