"""The service's own routes beside BentoML's APIs: health, metrics, recent signals, the stream.

A FastAPI app: BentoML mounts it (its routes join the service's OpenAPI document) and the
gateway sends these paths to it before BentoML's built-in ``/healthz``, ``/readyz`` and
``/metrics`` can answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from serving.service.errors import ServiceError, error_body
from serving.service.trading import router as trading_router
from serving.service.wiring import HOLDER

KEEPALIVE_SECONDS = 15.0
app = FastAPI(title="smartmarket signal service: operations", docs_url=None, redoc_url=None)
app.include_router(trading_router)  # orders, positions, account, trades, bot, kill switch


@app.exception_handler(ServiceError)
async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


@app.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body")]
    where = ".".join(loc) or None
    message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
    return JSONResponse(error_body("validation_error", message, where), status_code=422)


@app.get("/healthz", tags=["Infrastructure"])
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@app.get("/readyz", tags=["Infrastructure"])
def readyz() -> JSONResponse:
    """200 when every served market's candles are fresh; the model state either way."""
    runtime = HOLDER.get()
    state = runtime.core.readiness(require_warm=runtime.settings.poll_seconds > 0)
    return JSONResponse(state, status_code=200 if state["ready"] else 503)


@app.get("/metrics", tags=["Infrastructure"])
def metrics() -> Response:
    """Prometheus text: latency per endpoint, requests by status, model, feature age, cache."""
    core = HOLDER.get().core
    state = core.model.state()
    core.metrics.model_state(state.version, state.status)
    return Response(core.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@app.get("/api/signals", tags=["Service APIs"])
def recent_signals(
    symbol: str | None = Query(None, max_length=32),
    timeframe: str | None = Query(None, max_length=8),
    type: Literal["ENTRY", "EXIT", "NONE"] | None = None,
    limit: int = Query(50, ge=1, le=1000),
) -> dict[str, Any]:
    """The newest signals computed by this process, newest first (``read`` scope)."""
    return {"signals": HOLDER.get().core.recent(symbol, timeframe, type, limit)}


@app.post("/api/admin/model/reload", tags=["Service APIs"])
def reload_model() -> dict[str, Any]:
    """Reload the champion now when its alias moved (``admin`` scope; audited)."""
    return HOLDER.get().core.reload_model()


@app.get("/api/stream", tags=["Service APIs"])
async def stream(
    symbol: str | None = Query(None, max_length=32),
    timeframe: str | None = Query(None, max_length=8),
    replay: int = Query(0, ge=0, le=1000, description="send this many recent signals first"),
    limit: int | None = Query(None, ge=1, le=100_000, description="end after this many events"),
) -> StreamingResponse:
    """Server-sent events: each new signal as its candle closes (``read`` scope)."""
    core = HOLDER.get().core
    name = label = None
    if symbol is not None or timeframe is not None:
        market = core.market(
            symbol or core.config.symbols[0], timeframe or core.signal_timeframes[0]
        )
        name = market.symbol if symbol is not None else None
        label = market.tf.label if timeframe is not None else None

    def wanted(signal: dict[str, Any]) -> bool:
        return (name is None or signal["symbol"] == name) and (
            label is None or signal["timeframe"] == label
        )

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    def put(signal: dict[str, Any]) -> None:
        if not queue.full():
            queue.put_nowait(signal)

    def notify(signal: dict[str, Any]) -> None:
        if wanted(signal):
            loop.call_soon_threadsafe(put, signal)

    unsubscribe = core.subscribe(notify)
    backlog = core.recent(symbol, timeframe, None, replay) if replay else []

    async def events() -> AsyncIterator[bytes]:
        sent = 0
        try:
            for signal in reversed(backlog):
                yield _event(signal)
                sent += 1
                if limit is not None and sent >= limit:
                    return
            while True:
                try:
                    signal = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield _event(signal)
                sent += 1
                if limit is not None and sent >= limit:
                    return
        finally:
            unsubscribe()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _event(signal: dict[str, Any]) -> bytes:
    data = json.dumps(signal, separators=(",", ":"))
    return f"event: signal\nid: {signal['signal_id']}\ndata: {data}\n\n".encode()
