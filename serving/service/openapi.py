"""The service's OpenAPI document: BentoML's, corrected to what the service answers.

BentoML builds ``GET /docs.json`` from the request and response models but flattens each
``X | None`` field to ``X`` in the operations (a ``null`` direction would violate it) and
documents its own error bodies, not the gateway's. :func:`amend` fixes the document in
place of answering a second one: the operations point at the models' full schemas (the
``components`` BentoML builds from them keep ``null``), the document says OpenAPI 3.1 (the
JSON Schema dialect pydantic writes), every error the gateway or the service answers is
documented with :class:`serving.service.models.ErrorResponse`, the API key is declared as a
security scheme, and ``/metrics``, ``/readyz`` and ``/api/stream`` get their real content.
"""

from __future__ import annotations

import copy
from typing import Any

from serving.service.models import ErrorResponse, SignalResponse

REF = "#/components/schemas/{model}"
ERROR_REF = {"$ref": REF.format(model="ErrorResponse")}
METHODS = ("get", "post", "put", "patch", "delete")

_ERRORS = {
    "400": "The body is not valid JSON or not the request model (the field is named).",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key's scopes do not include the route's.",
    "413": "The body is over the size limit.",
    "422": "A field's value is not valid or not served (the field is named).",
    "429": "The key's rate limit is exceeded (``Retry-After`` says when to retry).",
    "503": "The newest candle is stale, or a backing store failed.",
}
_EVENT = {
    "type": "object",
    "required": ["event", "id", "data"],
    "properties": {
        "event": {"type": "string", "const": "signal"},
        "id": {"type": "string"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": REF.format(model="SignalResponse")},
        },
    },
}
_CONTENT = {
    "/metrics": {"text/plain": {"schema": {"type": "string"}}},
    "/api/stream": {"text/event-stream": {"schema": _EVENT}},
}
"""Routes whose 200 is not JSON: content type -> media object (an SSE schema is per event)."""


def _error(status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if status == "429":
        answer["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return answer


def _full_schema(media: dict[str, Any], components: dict[str, Any]) -> None:
    """Point a media object at the component of the same title (the model's full schema)."""
    title = media.get("schema", {}).get("title")
    if title in components:
        media["schema"] = {"$ref": REF.format(model=title)}


def amend(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of BentoML's OpenAPI document corrected to the service's answers."""
    doc = copy.deepcopy(doc)
    doc["openapi"] = "3.1.0"
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ErrorResponse, SignalResponse):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            for media in op.get("requestBody", {}).get("content", {}).values():
                _full_schema(media, schemas)
            ok = responses.get("200", {})
            for media in ok.get("content", {}).values():
                _full_schema(media, schemas)
            if path in _CONTENT:
                ok["content"] = copy.deepcopy(_CONTENT[path])
            codes = ["422"]
            if path.startswith("/api/"):
                op["security"] = [{"ApiKey": []}, {"Bearer": []}]
                codes += ["401", "403", "429"]
            if method != "get":
                codes += ["400", "413"]
            if "x-bentoml-name" in op:
                codes += ["503"]
            elif method == "get" and not path.startswith("/api/"):
                codes.remove("422")  # infrastructure routes take no input
            for code in codes:
                responses[code] = _error(code)
            if path == "/readyz":
                responses["503"] = {"description": "Not ready: the same body, ``ready`` false."}
                responses["503"]["content"] = copy.deepcopy(ok.get("content", {}))
    return doc
