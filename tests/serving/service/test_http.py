"""The service over HTTP through its ASGI app: contracts, keys, scopes, limits, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import pandas as pd
import pytest
from starlette.testclient import TestClient

from serving.service.service import SignalService
from serving.service.wiring import Runtime
from tests.serving.service.conftest import (
    PLAN_MTF_BODY,
    PLAN_SIGNAL_BODY,
    PLAN_SMC_BODY,
    SYMBOL,
    Clock,
    MemoryStore,
)


@pytest.fixture
def keys(installed: Runtime) -> dict[str, str]:
    """Clear keys by role: read, trade, admin and a slow read key (2 requests a minute)."""
    store = installed.keys
    return {
        "read": store.create("bot", ["read"])[1],
        "trade": store.create("trader", ["trade"])[1],
        "admin": store.create("ops", ["admin"])[1],
        "slow": store.create("slow-bot", ["read"], rate_per_minute=2)[1],
    }


@pytest.fixture
def client(installed: Runtime) -> Iterator[TestClient]:
    app = cast(Any, SignalService).to_asgi()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_signal_answers_the_plans_body_in_the_signal_format(
    client: TestClient, keys: dict[str, str]
) -> None:
    # Act
    r = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    # Assert
    assert r.status_code == 200
    body = r.json()
    assert body["symbol"] == SYMBOL
    assert body["timeframe"] == "15m"
    assert body["type"] in {"ENTRY", "EXIT", "NONE"}
    assert body["model_version"] is None
    assert body["model_status"] == "rule_only"
    expected = {
        "signal_id", "symbol", "type", "direction", "strength", "timeframe", "entry_price",
        "stop_loss", "take_profit", "risk_reward_ratio", "confidence_score", "model_version",
        "smc_analysis", "confluence_factors", "generated_at", "expires_at",
    }  # fmt: skip
    assert expected <= set(body)


def test_a_bearer_token_works_like_the_header(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post(
        "/api/signal", json=PLAN_SIGNAL_BODY, headers={"Authorization": f"Bearer {keys['read']}"}
    )

    assert r.status_code == 200


def test_the_analysis_endpoints_answer_the_plans_bodies(
    client: TestClient, keys: dict[str, str]
) -> None:
    smc = client.post("/api/smc/analyze", json=PLAN_SMC_BODY, headers=_h(keys["read"]))
    mtf = client.post("/api/analysis/multi-timeframe", json=PLAN_MTF_BODY, headers=_h(keys["read"]))

    assert smc.status_code == 200
    assert {"order_blocks", "fair_value_gaps", "liquidity_levels", "confluence_score"} <= set(
        smc.json()
    )
    assert mtf.status_code == 200
    assert mtf.json()["entry_signals"] == [] or mtf.json()["entry_signals"][0]["type"] == "ENTRY"
    assert mtf.json()["higher_timeframe_bias"] in {"bullish", "bearish", "neutral"}


def test_recent_signals_health_readiness_and_metrics(
    client: TestClient, keys: dict[str, str]
) -> None:
    # Arrange
    client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))
    client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    # Act
    recent = client.get("/api/signals?timeframe=15m&limit=5", headers=_h(keys["read"]))
    health = client.get("/healthz")
    ready = client.get("/readyz")
    metrics = client.get("/metrics")

    # Assert
    assert recent.status_code == 200
    assert [s["timeframe"] for s in recent.json()["signals"]] == ["15m"]
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["model"]["status"] == "none"
    text = metrics.text
    assert 'smartmarket_http_request_seconds_bucket{endpoint="signal",le="0.005"}' in text
    assert 'smartmarket_http_requests_total{endpoint="signal",status="200"} 2.0' in text
    assert 'smartmarket_model_info{status="none",version="none"} 1.0' in text
    assert 'smartmarket_feature_age_seconds{symbol="BTC/USDT",timeframe="15m"}' in text
    assert "smartmarket_signal_cache_hit_ratio 0.5" in text


def test_the_openapi_document_lists_every_endpoint(client: TestClient) -> None:
    paths = set(client.get("/docs.json").json()["paths"])

    assert {
        "/api/signal", "/api/smc/analyze", "/api/analysis/multi-timeframe", "/api/signals",
        "/api/stream", "/api/admin/model/reload", "/healthz", "/readyz", "/metrics",
    } <= paths  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"X-API-Key": "smk_00000000_not-a-key"}, 401, "unauthorized"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "unauthorized"),
    ],
)
def test_no_key_or_a_wrong_key_is_401(
    client: TestClient, keys: dict[str, str], headers: dict[str, str], status: int, code: str
) -> None:
    r = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=headers)

    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert r.headers["www-authenticate"] == "ApiKey"


def test_a_missing_scope_is_403_and_admin_holds_every_scope(
    client: TestClient, keys: dict[str, str]
) -> None:
    trade = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["trade"]))
    reader = client.post("/api/admin/model/reload", headers=_h(keys["read"]))
    admin = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["admin"]))

    assert trade.status_code == 403
    assert "do not include 'read'" in trade.json()["error"]["message"]
    assert reader.status_code == 403
    assert admin.status_code == 200


def test_a_revoked_key_is_refused(
    client: TestClient, keys: dict[str, str], installed: Runtime
) -> None:
    key_id = keys["read"].split("_")[1]
    installed.keys.revoke(key_id)
    installed.keys._loaded = -float("inf")  # skip the 2 s verification cache

    r = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    assert r.status_code == 401


def test_the_rate_limit_is_429_with_retry_after(client: TestClient, keys: dict[str, str]) -> None:
    # Act: a key of 2 requests a minute has a burst of one request
    first = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["slow"]))
    second = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["slow"]))
    other = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    # Assert
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(second.headers["retry-after"]) <= 30
    assert other.status_code == 200  # limits are per key


def test_a_10_mb_body_is_413_and_the_service_keeps_answering(
    client: TestClient, keys: dict[str, str]
) -> None:
    huge = json.dumps({"symbol": "BTCUSDT", "timeframe": "15m", "pad": "x" * 10_000_000})

    big = client.post(
        "/api/signal",
        content=huge,
        headers={**_h(keys["read"]), "content-type": "application/json"},
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(11):
            yield b"x" * 1_000_000

    chunked = client.post("/api/signal", content=chunks(), headers=_h(keys["read"]))
    after = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    assert big.status_code == 413
    assert big.json()["error"]["code"] == "body_too_large"
    assert chunked.status_code == 413
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"symbol": "BTCUSDT"}, 400, "timeframe"),
        ({"symbol": "BTCUSDT", "timeframe": "15m", "colour": "red"}, 400, "colour"),
        ({"symbol": 12, "timeframe": "15m"}, 400, "symbol"),
        ({"symbol": "DOGEUSDT", "timeframe": "15m"}, 422, "symbol"),
        ({"symbol": "BTCUSDT", "timeframe": "1w"}, 422, "timeframe"),
        ({"symbol": "BTCUSDT", "timeframe": "weekly"}, 422, "timeframe"),
        ({"symbol": "BTCUSDT", "timeframe": "fortnight"}, 400, "timeframe"),
    ],
)
def test_invalid_signal_requests_name_the_field(
    client: TestClient, keys: dict[str, str], body: dict[str, Any], status: int, field: str
) -> None:
    r = client.post("/api/signal", json=body, headers=_h(keys["read"]))

    assert r.status_code == status
    assert r.json()["error"]["field"] == field


def test_a_malformed_body_is_a_json_400(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post(
        "/api/signal",
        content=b'{"symbol": "BTCUSDT", "timeframe": ',
        headers={**_h(keys["read"]), "content-type": "application/json"},
    )
    after = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    assert r.status_code == 400
    assert "error" in r.json()
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/smc/analyze", {"symbol": "BTCUSDT", "analysis_type": []}, "analysis_type"),
        ("/api/smc/analyze", {"symbol": "BTCUSDT", "analysis_type": ["wave"]}, "analysis_type[0]"),
        ("/api/analysis/multi-timeframe",
         {"symbol": "BTCUSDT", "primary_timeframe": "4h", "analysis_timeframes": ["1h"]},
         "analysis_timeframes[0]"),
        ("/api/analysis/multi-timeframe", {"symbol": "BTCUSDT"}, "primary_timeframe"),
    ],
)  # fmt: skip
def test_bad_analysis_requests_are_json_errors_naming_the_field(
    client: TestClient, keys: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    r = client.post(path, json=body, headers=_h(keys["read"]))

    assert r.status_code in (400, 422)
    assert r.json()["error"]["field"] == field


def test_the_store_down_is_503_json_and_the_service_recovers(
    client: TestClient, keys: dict[str, str], runtime_parts: tuple[Runtime, MemoryStore, Clock]
) -> None:
    _, store, _ = runtime_parts
    store.down = True

    down = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))
    analysis = client.post("/api/smc/analyze", json=PLAN_SMC_BODY, headers=_h(keys["read"]))
    ready = client.get("/readyz")
    health = client.get("/healthz")
    store.down = False
    back = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "unavailable"
    assert analysis.status_code == 503
    assert ready.status_code == 503
    assert health.status_code == 200
    assert back.status_code == 200


def test_stale_candles_are_a_503_with_the_reason(
    client: TestClient, keys: dict[str, str], runtime_parts: tuple[Runtime, MemoryStore, Clock]
) -> None:
    _, _, clock = runtime_parts
    clock.now += 2 * 3600

    r = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    assert r.status_code == 503
    assert r.json()["error"]["code"] == "stale_data"
    assert "no answer is given on stale data" in r.json()["error"]["message"]


def test_the_stream_sends_signals_as_server_sent_events(
    client: TestClient, keys: dict[str, str]
) -> None:
    # Arrange: one signal computed
    signal = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"])).json()

    # Act
    with client.stream(
        "GET", "/api/stream?replay=1&limit=1&timeframe=15m", headers=_h(keys["read"])
    ) as r:
        text = b"".join(r.iter_bytes()).decode()

    # Assert
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    event, ident, data = text.strip().split("\n")
    assert event == "event: signal"
    assert ident == f"id: {signal['signal_id']}"
    assert json.loads(data.removeprefix("data: ")) == signal


def test_mutating_calls_are_audited_and_keys_never_appear_in_logs(
    client: TestClient,
    keys: dict[str, str],
    installed: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Act
    with caplog.at_level(logging.DEBUG):
        reload = client.post("/api/admin/model/reload", headers=_h(keys["admin"]))
        client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))
        client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h("smk_bad_guess"))
        client.post("/api/signal", json={"symbol": 1}, headers=_h(keys["read"]))

    # Assert
    assert reload.status_code == 200
    assert reload.json()["status"] == "none"
    log = installed.keys.audit_log()
    assert log[0]["action"] == "POST /api/admin/model/reload"
    assert log[0]["status"] == 200
    assert str(log[0]["actor"]).startswith("key:")
    stored = b"".join(p.read_bytes() for p in installed.keys.path.parent.glob("keys.sqlite*"))
    text = caplog.text + json.dumps(log) + stored.decode("latin-1")
    for clear in (*keys.values(), "smk_bad_guess"):
        assert clear not in text
    assert "audit actor=key:" in caplog.text


def test_the_signal_answer_is_the_same_for_both_symbol_spellings(
    client: TestClient, keys: dict[str, str], full_market: dict[str, pd.DataFrame]
) -> None:
    a = client.post(
        "/api/signal", json={"symbol": "BTC/USDT", "timeframe": "15m"}, headers=_h(keys["read"])
    )
    b = client.post("/api/signal", json=PLAN_SIGNAL_BODY, headers=_h(keys["read"]))

    assert a.json() == b.json()


def test_the_service_class_answers_directly_with_fakes(installed: Runtime) -> None:
    # Arrange: the BentoML class itself, no HTTP
    service = cast(Any, SignalService)()

    # Act
    ok = asyncio.run(service.signal(symbol="BTCUSDT", timeframe="15m"))
    unknown = asyncio.run(service.signal(symbol="DOGEUSDT", timeframe="15m"))

    # Assert
    assert ok.status_code == 200
    assert json.loads(ok.body)["symbol"] == SYMBOL
    assert unknown.status_code == 422
    assert json.loads(unknown.body)["error"]["field"] == "symbol"
