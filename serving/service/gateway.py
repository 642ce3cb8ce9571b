"""The ASGI layer in front of every route: keys, scopes, rate limits, body limits, metrics, audit.

Order for a request: body size (413), then for ``/api/...`` the API key (401), its scope (403)
and its rate (429 with ``Retry-After``); the route answers; its latency and status are
recorded, a mutating call is written to the audit log, and a 400/422 from the framework is
reshaped into the service's error body naming the field. ``/healthz``, ``/readyz``,
``/metrics`` and the ops routes are the service's own (``serving.service.ops``), answered
before BentoML's built-in ones. Keys are read from ``X-API-Key`` or ``Authorization: Bearer``
and never logged or echoed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import ValidationError

from serving.service.errors import error_body
from serving.service.keys import ApiKey
from serving.service.limits import retry_after
from serving.service.openapi import amend
from serving.service.trading import PATHS as TRADING_PATHS
from serving.service.trading import ROUTES as TRADING_ROUTES
from serving.service.wiring import HOLDER, Holder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

audit_log = logging.getLogger("smartmarket.audit")

ROUTES: dict[str, tuple[str, str | None, bool]] = {
    "/api/signal": ("signal", "read", False),
    "/api/smc/analyze": ("smc_analyze", "read", False),
    "/api/analysis/multi-timeframe": ("multi_timeframe", "read", False),
    "/api/signals": ("signals", "read", False),
    "/api/stream": ("stream", "read", False),
    "/api/admin/model/reload": ("model_reload", "admin", True),
    "/healthz": ("healthz", None, False),
    "/readyz": ("readyz", None, False),
    "/metrics": ("metrics", None, False),
    **TRADING_ROUTES,
}
"""Path, or ``METHOD path`` where methods differ -> (metrics label, scope needed, mutating).
Other ``/api/`` paths need ``read``."""
OPS_PATHS = (
    frozenset(
        {
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/signals",
            "/api/stream",
            "/api/admin/model/reload",
        }
    )
    | TRADING_PATHS
)


async def _answer(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _presented_key(scope: Scope) -> str | None:
    bearer = None
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            return str(value.decode("latin-1")).strip() or None
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                bearer = text[7:].strip() or None
    return bearer


_UNION_TAG = re.compile(r"^(str|int|float|bool|list|dict|none|[a-z-]+\[.*\])$")
"""A union member's tag in a pydantic error location (``analysis_type.list[str]``): not a field."""


class _QuietValidation(logging.Filter):
    """Drop BentoML's traceback of a request body that fails its model (answered as a 400)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ValidationError))


logging.getLogger("bentoml._internal.server.http_app").addFilter(_QuietValidation())


def _reshape(status: int, raw: bytes) -> bytes:
    """Return a framework's validation error (BentoML 400, FastAPI 422) as the service's body."""
    try:
        body = json.loads(raw)
    except ValueError:
        return json.dumps(error_body("invalid_body", "the body is not valid JSON")).encode()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return raw  # already ours
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        parts, fields = [], []
        for item in detail:
            loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query")]
            where = ".".join(p for p in loc if not _UNION_TAG.match(p))
            fields.append(where)
            part = f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", "")
            if part not in parts:
                parts.append(part)
        message = "; ".join(parts)
        return json.dumps(error_body("validation_error", message, fields[0] or None)).encode()
    error = body.get("error") if isinstance(body, dict) else None
    text = error if isinstance(error, str) else "the request is not valid"
    return json.dumps(error_body("invalid_body", text)).encode()


class Gateway:
    """Pure ASGI middleware; ``holder`` gives the runtime, ``ops`` answers the own routes."""

    def __init__(self, app: ASGIApp, holder: Holder = HOLDER, ops: ASGIApp | None = None):
        """Wrap ``app`` (BentoML's); ``ops`` defaults to ``serving.service.ops.app``."""
        self.app = app
        self.holder = holder
        if ops is None:
            from serving.service.ops import app as ops_app

            ops = ops_app
        self.ops = ops
        self._openapi: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, route, measure and audit one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = self.holder.get()
        path: str = scope["path"]
        label, needed, mutating = ROUTES.get(f"{scope['method']} {path}") or ROUTES.get(
            path, ("other", "read", False)
        )
        if not path.startswith("/api/") and path not in ROUTES:
            needed = None
        started = time.perf_counter()
        status_box = [500]
        metrics = runtime.core.metrics

        async def send_measured(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        key: ApiKey | None = None
        try:
            key, refusal = self._check_key(scope, needed, runtime)
            if refusal is not None:
                await _answer(send_measured, *refusal)
                return
            receive, too_big = await self._bounded(scope, receive, runtime.settings.max_body_bytes)
            if too_big is not None:
                await _answer(send_measured, 413, error_body("body_too_large", too_big))
                return
            if path == "/docs.json" and scope["method"] == "GET":
                await self._answer_openapi(scope, receive, send_measured)
                return
            target = self.ops if path in OPS_PATHS else self.app
            await target(scope, receive, self._reshaping(send_measured))
        finally:
            metrics.request(label, status_box[0], time.perf_counter() - started)
            if mutating and key is not None:
                self._audit(runtime, key, scope, status_box[0])

    async def _answer_openapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer BentoML's OpenAPI document corrected by :func:`serving.service.openapi.amend`."""
        if self._openapi is None:
            start: Message = {}
            chunks: list[bytes] = []

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            await self.app(scope, receive, capture)
            if start.get("status") != 200:
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks)})
                return
            self._openapi = json.dumps(amend(json.loads(b"".join(chunks)))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._openapi)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._openapi})

    def _check_key(
        self, scope: Scope, needed: str | None, runtime: Any
    ) -> tuple[ApiKey | None, tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None]:
        if needed is None:
            return None, None
        presented = _presented_key(scope)
        if presented is None:
            body = error_body("unauthorized", "an API key is required (X-API-Key header)")
            return None, (401, body, [(b"www-authenticate", b"ApiKey")])
        key = runtime.keys.verify(presented)
        if key is None:
            body = error_body("unauthorized", "the API key is not valid (unknown or revoked)")
            return None, (401, body, [(b"www-authenticate", b"ApiKey")])
        if not key.allows(needed):
            message = f"this key's scopes {list(key.scopes)} do not include {needed!r}"
            return key, (403, error_body("forbidden", message), [])
        wait = runtime.limiter.take(key.id, key.rate_per_minute)
        if wait > 0:
            message = f"rate limit of {key.rate_per_minute:g} requests a minute exceeded"
            headers = [(b"retry-after", retry_after(wait).encode())]
            return key, (429, error_body("rate_limited", message), headers)
        scope.setdefault("state", {})["api_key"] = key
        return key, None

    async def _bounded(
        self, scope: Scope, receive: Receive, limit: int
    ) -> tuple[Receive, str | None]:
        """Read the body (at most ``limit`` bytes) and replay it; say why when it is larger."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return receive, None
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return receive, f"the body is {int(value)} bytes; the limit is {limit}"
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive, None  # disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return receive, f"the body is over the limit of {limit} bytes"
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay, None

    @staticmethod
    def _reshaping(send: Send) -> Send:
        """Return a ``send`` that rewrites 400/422 validation bodies into the service's shape."""
        held: list[Message] = []
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] in (400, 422):
                    held.append(message)
                    return
                await send(message)
                return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = _reshape(held[0]["status"], b"".join(chunks))
            start = dict(held[0])
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            start["headers"] = headers
            await send(start)
            await send({"type": "http.response.body", "body": body})

        return wrapped

    @staticmethod
    def _audit(runtime: Any, key: ApiKey, scope: Scope, status: int) -> None:
        actor = f"key:{key.id} ({key.name})"
        action = f"{scope['method']} {scope['path']}"
        audit_log.info("audit actor=%s action=%s status=%s", actor, action, status)
        runtime.keys.audit(actor, action, scope["path"], status)
