"""Dagster resources: thin configurable wrappers that build the domain objects.

``build_resources`` is the one place where the resource set is chosen per environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from features.candles.quarantine import QuarantineStore, RawArchive
from features.candles.sources import make_source
from features.candles.sources.base import MarketDataSource
from features.candles.store import make_store
from features.candles.store.base import CandleStore
from orchestration.settings import Settings


class MarketDataResource(dg.ConfigurableResource):
    """Where candles come from: ``synthetic`` (default), ``file`` or ``ccxt``."""

    kind: str = "synthetic"
    symbols: list[str] = []
    seed: int = 7
    base_timeframe: str = "5m"
    path: str | None = None
    timezone: str = "UTC"
    exchange: str = "binance"
    api_key: str | None = None
    secret: str | None = None

    def source(self) -> MarketDataSource:
        """Build the domain source."""
        options: dict[str, Any]
        if self.kind == "synthetic":
            options = {
                "seed": self.seed,
                "symbols": tuple(self.symbols),
                "base_timeframe": self.base_timeframe,
            }
        elif self.kind == "file":
            # a file holds one symbol (the settings insist); rows are labelled with it
            symbol = self.symbols[0] if len(self.symbols) == 1 else None
            options = {"path": self.path, "tz": self.timezone, "symbol": symbol}
        else:
            options = {"exchange": self.exchange, "api_key": self.api_key, "secret": self.secret}
        return make_source(self.kind, **options)


class CandleStoreResource(dg.ConfigurableResource):
    """Candle storage: ``parquet`` under the app home (default) or ``postgres``."""

    kind: str = "parquet"
    root: str = ".smartmarket/candles"
    dsn: str | None = None

    def store(self) -> CandleStore:
        """Build the domain store."""
        if self.kind == "postgres":
            return make_store("postgres", dsn=self.dsn)
        return make_store("parquet", root=Path(self.root))


class AppHomeResource(dg.ConfigurableResource):
    """The app home: raw archive and quarantine folders."""

    raw_root: str = ".smartmarket/raw"
    quarantine_root: str = ".smartmarket/quarantine"

    def raw_archive(self) -> RawArchive:
        """Raw input as received."""
        return RawArchive(Path(self.raw_root))

    def quarantine(self) -> QuarantineStore:
        """Rows that failed validation, with their reasons."""
        return QuarantineStore(Path(self.quarantine_root))


def market_data_resource(settings: Settings) -> MarketDataResource:
    """The market-data source that ``settings`` configure (embedded and local runs)."""
    return MarketDataResource(
        kind=settings.source,
        symbols=settings.symbols,
        seed=settings.seed,
        base_timeframe=settings.base_timeframe,
        path=str(settings.file_path) if settings.file_path else None,
        timezone=settings.file_timezone,
        exchange=settings.exchange,
    )


def build_resources(settings: Settings) -> dict[str, Any]:
    """Return the resource set for ``settings.env`` (``local`` or ``prod``)."""
    home = AppHomeResource(
        raw_root=str(settings.raw_dir), quarantine_root=str(settings.quarantine_dir)
    )
    if settings.env == "prod":
        return {
            "market_data": MarketDataResource(
                kind="ccxt",
                symbols=settings.symbols,
                base_timeframe=settings.base_timeframe,
                exchange=settings.exchange,
                # Secrets stay in the environment; the UI shows the variable's name only.
                api_key=dg.EnvVar("SMARTMARKET_EXCHANGE_API_KEY")
                if settings.exchange_api_key
                else None,
                secret=dg.EnvVar("SMARTMARKET_EXCHANGE_SECRET")
                if settings.exchange_secret
                else None,
            ),
            "candle_store": CandleStoreResource(
                kind="postgres", dsn=dg.EnvVar("SMARTMARKET_PG_DSN")
            ),
            "app_home": home,
        }
    return {
        "market_data": market_data_resource(settings),
        "candle_store": CandleStoreResource(
            kind=settings.store,
            root=str(settings.candles_dir),
            dsn=settings.pg_dsn.get_secret_value() if settings.pg_dsn else None,
        ),
        "app_home": home,
    }
