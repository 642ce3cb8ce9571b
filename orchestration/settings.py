"""The one settings object, read at the edges (CLI, Dagster definitions, services).

Every field can be set by an environment variable with the ``SMARTMARKET_`` prefix (lists as
JSON or comma-separated), or in a ``.env`` file in the working directory. Domain code never
reads settings: the edges build frozen domain configs from them.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Telemetry switches of every component (STACK.md); applied before any of them is imported.
OFFLINE_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "true",
    "FEAST_USAGE": "False",
    "GX_ANALYTICS_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Platform settings; defaults are the embedded, offline setup."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTMARKET_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["local", "prod"] = "local"
    home: Path = Path(".smartmarket")

    # market data
    source: Literal["synthetic", "file", "ccxt"] = "synthetic"
    symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTC/USDT", "ETH/USDT"]
    )
    base_timeframe: str = "5m"
    timeframes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["5m", "15m", "1h", "4h", "1d"]
    )
    start_date: date = date(2024, 1, 1)
    history_days: int = Field(default=180, ge=1)
    seed: int = 7
    file_path: Path | None = None
    file_timezone: str = "UTC"
    exchange: str = "binance"
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None

    # storage
    store: Literal["parquet", "postgres"] = "parquet"
    pg_dsn: SecretStr | None = None

    # features and the Feast feature store (docs/features.md)
    trading_timeframe: str = "5m"
    online_store: Literal["sqlite", "redis", "postgres"] = "sqlite"
    offline_store: Literal["asof", "file"] = "asof"
    redis_url: SecretStr | None = None
    feast_pg_dsn: SecretStr | None = None
    feast_project: str = "smartmarket"
    training_days: int = Field(default=30, ge=0)
    label_horizon_bars: int = Field(default=12, ge=1)

    @field_validator("symbols", "timeframes", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        from features.candles.schema import Timeframe

        return [Timeframe.parse(tf).label for tf in value]

    @field_validator("trading_timeframe")
    @classmethod
    def _known_trading_timeframe(cls, value: str) -> str:
        from features.candles.schema import Timeframe

        return Timeframe.parse(value).label

    @property
    def home_dir(self) -> Path:
        """The app home as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def candles_dir(self) -> Path:
        """Parquet candle store root."""
        return self.home_dir / "candles"

    @property
    def quarantine_dir(self) -> Path:
        """Quarantined rows, per source and partition."""
        return self.home_dir / "quarantine"

    @property
    def raw_dir(self) -> Path:
        """Raw input as received, per source and partition."""
        return self.home_dir / "raw"

    @property
    def feast_dir(self) -> Path:
        """Feast repo folder: generated config, registry, online SQLite, offline tables."""
        return self.home_dir / "feast"

    @property
    def features_dir(self) -> Path:
        """Feature state (SMC stream snapshots) and training datasets."""
        return self.home_dir / "features"

    @property
    def dagster_home(self) -> Path:
        """``DAGSTER_HOME`` for this app home."""
        return self.home_dir / "dagster"


def apply_offline_env() -> None:
    """Switch every component's telemetry off for this process and its children."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
