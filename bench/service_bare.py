"""A bare BentoML service returning a constant: the baseline of ``bench_service``.

The same request model and BentoML settings as the signal service, none of its code: the
ratio of the two shows the service's own overhead (gateway, cache lookup, freshness check).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

import bentoml
from starlette.responses import Response

from serving.service.models import SignalRequest, SignalResponse

CONSTANT = b'{"symbol":"BTC/USDT","type":"NONE"}'


@bentoml.service(
    name="bare_constant",
    traffic={"timeout": 60},
    metrics={"enabled": False},
    tracing={"excluded_urls": ["/api/signal$"]},  # as the signal service
)
class BareService:
    """One API answering a constant."""

    @bentoml.api(route="/api/signal", input_spec=SignalRequest)
    async def signal(self, **body: Any) -> SignalResponse:
        """Return the constant."""
        answer: Any = Response(CONSTANT, media_type="application/json")
        return answer
