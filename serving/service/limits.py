"""Per-key rate limiting: a token bucket per key id, refilled at the key's rate."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets holding ``burst`` seconds' worth of each key's rate (at least one token)."""

    def __init__(self, burst_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic):
        """Start with full buckets; ``clock`` is injectable for tests."""
        self._burst = burst_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key_id: str, per_minute: float) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        rate = per_minute / 60.0
        capacity = max(1.0, rate * self._burst)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


def retry_after(seconds: float) -> str:
    """Return a ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
