"""Shared fixtures: real PostgreSQL and Redis on this machine, an isolated app home."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_HOST = os.environ.get("SMARTMARKET_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SMARTMARKET_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SMARTMARKET_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("SMARTMARKET_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SMARTMARKET_TEST_REDIS_PORT", "6379"))


def _services_required() -> bool:
    return os.environ.get("SMARTMARKET_REQUIRE_SERVICES", "") not in ("", "0", "false")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _need(service: str, host: str, port: int) -> None:
    if _answers(host, port):
        return
    reason = f"{service} is not answering on {host}:{port}"
    if _services_required():
        pytest.fail(f"{reason} and SMARTMARKET_REQUIRE_SERVICES=1 (CI) requires it")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test offline and give it its own app home."""
    monkeypatch.setenv("SMARTMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for key, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_DO_NOT_TRACK": "True",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "true",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """Yield the DSN of a fresh PostgreSQL database, dropped afterwards."""
    _need("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
    name = f"smtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Yield a Redis URL on a database index that is flushed before and after."""
    _need("Redis", REDIS_HOST, REDIS_PORT)
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
