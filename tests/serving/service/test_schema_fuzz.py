"""Property tests of the service against its own OpenAPI document (schemathesis, in process).

The document is read from the app (``GET /docs.json`` over ASGI, no network). For every
operation schemathesis sends its documented examples and a few generated requests, valid
(positive) and invalid (negative), with a fixed seed, once with a ``read`` key and once with
no key. Every answer must be no 5xx, a documented status and content type, and a body that
conforms to the documented schema; an invalid request must be refused with a 4xx.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from serving.service.service import SignalService
from serving.service.wiring import Runtime

EXAMPLES = 4
"""Generated requests per operation, mode and key (the documented examples come on top)."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
STREAM = "/api/stream"
"""Server-sent events: endless unless ``limit`` is reached, so each call reads it for 1 s."""


def _fuzz(
    api: Any, headers: dict[str, str], mode: GenerationMode, statuses: Counter[tuple[str, int]]
) -> list[str]:
    """Run every operation's cases; return the failures (``statuses`` counts the answers)."""
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(generation_mode=mode)]
        if mode is GenerationMode.POSITIVE:
            strategies += api.get_strategies_from_examples(operation)
        for strategy in strategies:

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                query, timeout = case.query or {}, 120.0
                if case.operation.path == STREAM:  # what it sent in a second is validated
                    timeout = 1.0
                    if headers and mode is GenerationMode.POSITIVE:
                        query = {**query, "limit": 1, "replay": 1}  # one event, then the end
                answer = case.call_and_validate(
                    headers=headers, params=query, checks=CHECKS, timeout=timeout
                )
                statuses[(case.operation.label, answer.status_code)] += 1

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to make invalid
            except (Exception, BaseExceptionGroup) as exc:
                detail = "".join(traceback.format_exception(exc)[-3:])
                failures.append(f"{operation.label} ({mode}): {exc}\n{detail}")
    return failures


@pytest.fixture
def api(installed: Runtime) -> Any:
    """The service's OpenAPI document, as its ASGI app serves it, bound to that app."""
    return schemathesis.openapi.from_asgi("/docs.json", cast(Any, SignalService).to_asgi())


@pytest.fixture
def read_key(installed: Runtime) -> str:
    """A ``read`` key that is never rate limited (mutating routes answer it 403: no orders)."""
    return installed.keys.create("fuzz", ["read"], rate_per_minute=1e9)[1]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_with_a_key_conforms_and_is_no_5xx(
    api: Any, read_key: str, installed: Runtime, mode: GenerationMode
) -> None:
    # Arrange: one signal computed, so the recent list and the stream have one to send
    installed.core.signal("BTC/USDT", "15m")
    statuses: Counter[tuple[str, int]] = Counter()

    # Act
    failures = _fuzz(api, {"X-API-Key": read_key}, mode, statuses)

    # Assert
    assert not failures, "\n\n".join(failures)
    assert not [k for k in statuses if k[1] >= 500]
    if mode is GenerationMode.POSITIVE:  # the documented examples reach the 200 answers
        for label in (
            "POST /api/signal",
            "POST /api/smc/analyze",
            "POST /api/analysis/multi-timeframe",
            "GET /api/signals",
            f"GET {STREAM}",
        ):
            assert statuses[(label, 200)] > 0, (label, statuses)
    else:  # invalid requests are refused with the service's 4xx, never let through
        assert statuses[("POST /api/signal", 400)] + statuses[("POST /api/signal", 422)] > 0


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_without_a_key_conforms_and_is_no_5xx(api: Any, mode: GenerationMode) -> None:
    # Arrange
    statuses: Counter[tuple[str, int]] = Counter()

    # Act
    failures = _fuzz(api, {}, mode, statuses)

    # Assert
    assert not failures, "\n\n".join(failures)
    assert not [k for k in statuses if k[1] >= 500]
    assert statuses[("POST /api/signal", 401)] > 0
    assert statuses[("GET /healthz", 200)] > 0 or mode is GenerationMode.NEGATIVE


def test_the_document_keeps_null_where_the_models_allow_it(api: Any) -> None:
    # Arrange
    schema = api.raw_schema

    # Act
    signal = schema["paths"]["/api/signal"]["post"]["responses"]["200"]
    ref = signal["content"]["application/json"]["schema"]["$ref"]
    model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    # Assert
    assert {"type": "null"} in model["properties"]["direction"]["anyOf"]
    assert schema["openapi"].startswith("3.1")
    assert schema["paths"]["/api/signal"]["post"]["responses"]["401"]
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_a_body_of_the_wrong_type_names_the_field_not_the_union_member(
    installed: Runtime, read_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange
    client = TestClient(cast(Any, SignalService).to_asgi())
    body = {"symbol": "BTCUSDT", "analysis_type": 5}

    # Act
    with client, caplog.at_level(logging.DEBUG):
        r = client.post("/api/smc/analyze", json=body, headers={"X-API-Key": read_key})
        garbage = client.post("/api/signal", content=b"\x00", headers={"X-API-Key": read_key})

    # Assert: a 400 naming the field; no traceback logged for a client's bad body
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "analysis_type"
    assert "list[str]" not in r.json()["error"]["message"]
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "validation_error"
    assert not [rec for rec in caplog.records if rec.exc_info]
