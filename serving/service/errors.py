"""The service's errors: each one is a JSON answer with a status, a code and the field at fault."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error answered as ``{"error": {"code", "message", "field"}}`` with ``status``."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        """Keep the message (safe to show: never holds a secret) and the field it names."""
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        """Return the JSON body of the answer."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class InvalidInput(ServiceError):
    """A well-formed request asking for something the service does not serve (422)."""

    status = 422
    code = "invalid_input"


class StaleData(ServiceError):
    """The newest closed candle is older than one bar plus the grace period (503)."""

    status = 503
    code = "stale_data"


class Unavailable(ServiceError):
    """A backing store (candles, online features, cache) failed (503)."""

    status = 503
    code = "unavailable"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """Return the JSON error body the gateway answers with."""
    return {"error": {"code": code, "message": message, "field": field}}
