"""The BentoML service: ``bentoml serve orchestration.service:SignalService``.

Thin: each API validates its body with the typed request model (``input_spec``: the body *is*
the model, as the product plan writes it), asks :class:`serving.service.core.SignalCore`, and
answers JSON. A cached signal is answered on the event loop without a thread hop; anything
that reads the candle store runs in a worker thread. The gateway middleware (keys, limits,
metrics, audit) wraps every route; the ops app (health, metrics, recent signals, the
server-sent-event stream) is mounted beside the APIs.
"""

from __future__ import annotations

import os
from typing import Any

from orchestration.settings import apply_offline_env

apply_offline_env()  # before BentoML is imported: no telemetry
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

import anyio  # noqa: E402
import bentoml  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402

from serving.service.errors import ServiceError  # noqa: E402
from serving.service.gateway import Gateway  # noqa: E402
from serving.service.models import (  # noqa: E402
    MultiTimeframeRequest,
    MultiTimeframeResponse,
    SignalRequest,
    SignalResponse,
    SMCAnalyzeRequest,
    SMCAnalyzeResponse,
)
from serving.service.ops import app as ops_app  # noqa: E402
from serving.service.wiring import HOLDER, Runtime  # noqa: E402


def _error(exc: ServiceError) -> Any:
    return JSONResponse(exc.body(), status_code=exc.status)


def _answer(body: dict[str, Any]) -> Any:
    return JSONResponse(body)


def _json(payload: bytes) -> Any:
    return Response(payload, media_type="application/json")


@bentoml.asgi_app(ops_app, path="/")
@bentoml.service(
    name="smartmarket_signals",
    traffic={"timeout": 60},
    metrics={"enabled": False},  # /metrics is the service's own (serving.service.metrics)
    # OpenTelemetry's spans cost about half of a cached signal's time (docs/benchmarks.md)
    tracing={"excluded_urls": ["/api/signal$"]},
)
class SignalService:
    """Signals and SMC analyses of the served markets (``docs/service.md``)."""

    def __init__(self) -> None:
        """Start this process's runtime (store, warm state, keys, poller)."""
        HOLDER.start()

    @property
    def runtime(self) -> Runtime:
        """The process's runtime."""
        return HOLDER.get()

    @bentoml.api(route="/api/signal", input_spec=SignalRequest)
    async def signal(self, **body: Any) -> SignalResponse:
        """The signal of the newest closed candle: ENTRY, EXIT or NONE (``read`` scope)."""
        core = self.runtime.core
        symbol, timeframe = body["symbol"], body["timeframe"]
        try:
            payload = core.cached_payload(symbol, timeframe)
            if payload is None:
                payload = await anyio.to_thread.run_sync(core.signal_payload, symbol, timeframe)
        except ServiceError as exc:
            return _error(exc)
        return _json(payload)

    @bentoml.api(route="/api/smc/analyze", input_spec=SMCAnalyzeRequest)
    async def smc_analyze(self, **body: Any) -> SMCAnalyzeResponse:
        """Order blocks, fair value gaps, liquidity and structure (``read`` scope)."""
        try:
            answer = await anyio.to_thread.run_sync(self.runtime.core.analyze_smc, body)
        except ServiceError as exc:
            return _error(exc)
        return _answer(answer)

    @bentoml.api(route="/api/analysis/multi-timeframe", input_spec=MultiTimeframeRequest)
    async def multi_timeframe(self, **body: Any) -> MultiTimeframeResponse:
        """Top-down reading of a primary timeframe with its entry signals (``read`` scope)."""
        try:
            core = self.runtime.core
            answer = await anyio.to_thread.run_sync(core.analyze_multi_timeframe, body)
        except ServiceError as exc:
            return _error(exc)
        return _answer(answer)


SignalService.add_asgi_middleware(Gateway)  # type: ignore[attr-defined]
