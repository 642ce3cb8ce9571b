"""The shared signal cache: Redis (``SMARTMARKET_REDIS_URL``), a key per symbol/timeframe/bar.

Workers and replicas share it, so a bar's signal computed by one is served by the others.
Redis failures never fail a request: the cache answers "miss" and the error is counted.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol, cast

log = logging.getLogger(__name__)
TTL_SECONDS = 300


class SignalCache(Protocol):
    """Where a bar's signal is shared between processes."""

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached signal, or ``None``."""
        ...

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a signal for ``TTL_SECONDS``."""
        ...


class NoCache:
    """No shared cache (the in-process cache of ``core`` still applies)."""

    def get(self, key: str) -> dict[str, Any] | None:
        """Always a miss."""
        return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Nothing to store."""


class RedisCache:
    """Signals as JSON strings in Redis with a TTL; errors are misses."""

    def __init__(self, url: str, prefix: str = "smartmarket:signal:", ttl: int = TTL_SECONDS):
        """Connect lazily to ``url`` (short timeouts: a slow Redis must not slow the API)."""
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._prefix = prefix
        self._ttl = ttl
        self.errors = 0

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached signal, ``None`` on a miss or a Redis error."""
        try:
            raw = cast(bytes | None, self._client.get(self._prefix + key))
        except Exception as exc:
            self._failed("get", exc)
            return None
        return None if raw is None else dict(json.loads(raw))

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store the signal with the TTL; a Redis error is logged and counted."""
        try:
            self._client.set(self._prefix + key, json.dumps(value), ex=self._ttl)
        except Exception as exc:
            self._failed("put", exc)

    def ttl(self, key: str) -> int:
        """Return the seconds ``key`` has left (for tests and operators)."""
        return int(cast(int, self._client.ttl(self._prefix + key)))

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        log.warning("redis signal cache %s failed: %s", what, type(exc).__name__)
