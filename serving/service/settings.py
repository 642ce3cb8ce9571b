"""The service's own settings (``SMARTMARKET_SERVICE_*``); the platform's come from
``orchestration.settings.Settings`` (app home, candle store, symbols, timeframes, Redis)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 3080
"""Not 3000: BentoML's default port is Dagster's too."""


class ServiceSettings(BaseSettings):
    """How the signal service runs; every field has a ``SMARTMARKET_SERVICE_`` variable."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTMARKET_SERVICE_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    grace_seconds: float = Field(default=60.0, ge=0)
    history_bars: int = Field(default=3000, ge=1)
    analysis_bars: int = Field(default=2000, ge=1)
    poll_seconds: float = Field(default=5.0, ge=0)
    model_poll_seconds: float = Field(default=60.0, ge=0)
    rate_burst_seconds: float = Field(default=1.0, gt=0)
    access_log: bool = False
    journal_signals: bool = True
