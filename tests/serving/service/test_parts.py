"""Keys, rate limits, the model seam and the Redis signal cache."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from serving.service.cache import RedisCache
from serving.service.keys import KeyStore, hash_key
from serving.service.limits import RateLimiter, retry_after
from serving.service.model import LoadedModel, ModelState, NoModel, RegistryProvider
from tests.serving.service.conftest import SYMBOL, FakeModel, make_runtime

# -- keys -------------------------------------------------------------------------------------


def test_keys_are_stored_hashed_and_verified_by_hash(tmp_path: Path) -> None:
    # Arrange
    store = KeyStore(tmp_path / "keys.sqlite")

    # Act
    key, clear = store.create("bot", ["read", "trade"], rate_per_minute=120)

    # Assert
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("keys.sqlite*"))  # with the WAL
    assert clear.encode() not in raw
    assert hash_key(clear).encode() in raw
    assert store.verify(clear) == key
    assert store.verify(clear + "x") is None
    assert store.verify(None) is None
    assert key.scopes == ("read", "trade")
    assert key.allows("read")
    assert not key.allows("admin")


def test_admin_holds_every_scope_and_unknown_scopes_are_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite")

    admin, _ = store.create("ops", ["admin"])

    assert admin.allows("read")
    assert admin.allows("trade")
    with pytest.raises(ValueError, match=r"unknown scope\(s\) \['root'\]"):
        store.create("x", ["root"])
    with pytest.raises(ValueError, match="at least one scope"):
        store.create("x", [])


def test_a_revoked_key_stops_verifying(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite", ttl=0.0)
    key, clear = store.create("bot", ["read"])
    assert store.verify(clear) == key

    store.revoke(key.id)

    assert store.verify(clear) is None
    assert store.list_keys() == []
    assert store.list_keys(include_revoked=True)[0].revoked_at is not None
    with pytest.raises(ValueError, match="no live API key"):
        store.revoke(key.id)


def test_the_rate_limiter_refills_at_the_keys_rate() -> None:
    # Arrange: 60 a minute = one a second, burst of one second
    now = [0.0]
    limiter = RateLimiter(burst_seconds=1.0, clock=lambda: now[0])

    # Act / Assert
    assert limiter.take("k", 60) == 0.0
    assert limiter.take("k", 60) == pytest.approx(1.0)
    now[0] = 0.5
    assert limiter.take("k", 60) == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.take("k", 60) == 0.0
    assert limiter.take("other", 60) == 0.0
    assert retry_after(0.01) == "1"
    assert retry_after(2.2) == "3"


# -- the model seam ---------------------------------------------------------------------------


class FakeRegistry:
    """A ``ChampionSource``: an alias that tests move, versions that load or fail."""

    def __init__(self, served: str) -> None:
        self.alias: str | None = None
        self.fingerprints: dict[str, str] = {}
        self.broken: set[str] = set()
        self.down = False
        self.loads = 0
        self.served = served

    def champion_version(self) -> str | None:
        if self.down:
            raise ConnectionError("registry at sqlite:///mlflow.db is gone")
        return self.alias

    def load(self, version: str) -> FakeModel:
        self.loads += 1
        if version in self.broken:
            raise OSError(f"model file of {version} is truncated")
        return FakeModel(version, self.fingerprints.get(version, self.served))


def test_no_model_means_rule_only_signals_with_the_reason() -> None:
    provider = NoModel()

    assert provider.current() is None
    assert provider.refresh() == ModelState(
        "none", None, "no champion model registered: signals are rule-only"
    )


def test_the_champion_is_loaded_once_and_hot_swapped_when_the_alias_moves() -> None:
    # Arrange
    served = "fp-ab"
    registry = FakeRegistry(served)
    provider = RegistryProvider(registry, served)

    # Act / Assert
    assert provider.refresh().status == "none"
    registry.alias = "smc-tcn@1"
    assert provider.refresh() == ModelState("loaded", "smc-tcn@1")
    assert provider.refresh() == ModelState("loaded", "smc-tcn@1")
    assert registry.loads == 1
    registry.alias = "smc-tcn@2"
    assert provider.refresh() == ModelState("loaded", "smc-tcn@2")
    current = provider.current()
    assert current is not None
    assert current.version == "smc-tcn@2"


def test_a_model_with_other_features_is_refused_with_the_reason() -> None:
    served = "fp-ab"
    registry = FakeRegistry(served)
    registry.alias = "smc-tcn@3"
    registry.fingerprints["smc-tcn@3"] = "fp-ac"
    provider = RegistryProvider(registry, served)

    state = provider.refresh()

    assert state.status == "refused"
    assert state.version is None
    assert state.reason is not None
    assert "feature fingerprint" in state.reason
    assert served in state.reason
    assert provider.current() is None


def test_a_failing_load_or_registry_keeps_the_model_in_service() -> None:
    served = "fp-a"
    registry = FakeRegistry(served)
    registry.alias = "smc-tcn@1"
    provider = RegistryProvider(registry, served)
    provider.refresh()

    registry.alias = "smc-tcn@2"
    registry.broken.add("smc-tcn@2")
    broken = provider.refresh()
    registry.down = True
    down = provider.refresh()

    assert broken.version == "smc-tcn@1"
    assert broken.reason is not None
    assert "smc-tcn@2 failed to load: OSError" in broken.reason
    assert down.version == "smc-tcn@1"
    assert down.reason is not None
    assert "registry unreachable: ConnectionError" in down.reason
    assert "sqlite" not in down.reason


# -- the shared Redis cache -------------------------------------------------------------------


def test_workers_share_a_bars_signal_through_redis(
    redis_url: str, full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    # Arrange: two processes' cores on one Redis (a prefix of this test's own)
    prefix = f"smtest:{uuid.uuid4().hex}:"
    first, _, _ = make_runtime(full_market, tmp_path / "a", cache=RedisCache(redis_url, prefix))
    other = RedisCache(redis_url, prefix)
    second, store, _ = make_runtime(full_market, tmp_path / "b", cache=other)

    # Act
    computed = first.core.signal(SYMBOL, "15m")
    shared = second.core.signal(SYMBOL, "15m")

    # Assert
    assert shared == computed
    assert second.core.metrics.computed._value.get() == 0
    assert second.core.metrics.cache.labels("shared_hit")._value.get() == 1
    assert store.reads == 0  # the second process did not even read candles
    ts = int(pd.Timestamp(full_market["15m"].index[-1]).value)
    ttl = RedisCache(redis_url, prefix).ttl(f"{SYMBOL}|15m|{ts}")
    assert 0 < ttl <= 300


def test_redis_down_is_a_cache_miss_not_an_error(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    runtime, _, _ = make_runtime(full_market, tmp_path, cache=cache)

    answer = runtime.core.signal(SYMBOL, "15m")

    assert answer["symbol"] == SYMBOL
    assert cache.errors == 2  # the get and the put


def test_the_served_fingerprint_can_be_computed_per_model() -> None:
    # Arrange: the served features' fingerprint depends on the model's own dataset settings
    registry = FakeRegistry("fp-a")
    registry.alias = "smc-tcn@1"
    asked: list[str] = []

    def served(model: LoadedModel) -> str:
        asked.append(model.version)
        if model.version == "smc-tcn@2":
            raise KeyError("timeframe 1d is not stored")
        return model.fingerprint

    provider = RegistryProvider(registry, served)

    # Act
    first = provider.refresh()
    registry.alias = "smc-tcn@2"
    second = provider.refresh()

    # Assert
    assert first == ModelState("loaded", "smc-tcn@1")
    assert asked == ["smc-tcn@1", "smc-tcn@2"]
    assert second.version == "smc-tcn@1"
    assert second.reason is not None
    assert "smc-tcn@2: its features cannot be checked: KeyError" in second.reason
