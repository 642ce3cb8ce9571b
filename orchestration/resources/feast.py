"""The feature-store resource: the Feast repo, the offline tables and the stream snapshots.

``build_feature_resources`` is the one place where the feature-store resource is chosen per
environment; ``orchestration.definitions`` merges it with ``build_resources``. Feast and the
feature code are imported inside the methods (Feast takes ~5 s to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from orchestration.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

    from features.feature_repo import FeatureSet
    from features.feature_store import FeatureStoreConfig
    from features.snapshots import StreamSnapshots
    from features.tables import FeatureTables


class FeatureStoreResource(dg.ConfigurableResource):
    """Feast repo under the app home: offline Parquet tables, online SQLite/Redis/PostgreSQL."""

    repo_dir: str = ".smartmarket/feast"
    state_dir: str = ".smartmarket/features"
    project: str = "smartmarket"
    online_store: str = "sqlite"
    offline_store: str = "asof"
    redis_url: str | None = None
    pg_dsn: str | None = None
    timeframes: list[str] = ["5m", "15m", "1h", "4h", "1d"]
    trading_timeframe: str = "5m"
    training_days: int = 30
    label_horizon_bars: int = 12

    def config(self) -> FeatureStoreConfig:
        """Return the domain config of the feature store."""
        from features.feature_store import FeatureStoreConfig

        return FeatureStoreConfig(
            repo_dir=Path(self.repo_dir),
            project=self.project,
            online_store=self.online_store,  # type: ignore[arg-type]
            offline_store=self.offline_store,  # type: ignore[arg-type]
            redis_url=self.redis_url,
            pg_dsn=self.pg_dsn,
        )

    def feature_set(self) -> FeatureSet:
        """Return what the repo declares for these timeframes."""
        from features.feature_repo import feature_set

        return feature_set(self.timeframes, self.trading_timeframe)

    def store(self) -> FeatureStore:
        """Open the Feast feature store (writes the repo's ``feature_store.yaml``)."""
        from features.feature_store import open_store

        return open_store(self.config())

    def tables(self) -> FeatureTables:
        """The offline feature tables."""
        return self.config().tables

    def snapshots(self) -> StreamSnapshots:
        """End-of-day ``SMCStream`` snapshots per timeframe and symbol."""
        from features.snapshots import StreamSnapshots

        return StreamSnapshots(Path(self.state_dir) / "smc_state")

    @property
    def training_dir(self) -> Path:
        """Where training datasets are written."""
        return Path(self.state_dir) / "training"


def build_feature_resources(settings: Settings) -> dict[str, Any]:
    """Return the feature-store resource for ``settings.env`` (``local`` or ``prod``)."""
    common: dict[str, Any] = {
        "repo_dir": str(settings.feast_dir),
        "state_dir": str(settings.features_dir),
        "project": settings.feast_project,
        "online_store": settings.online_store,
        "offline_store": settings.offline_store,
        "timeframes": sorted(
            set(settings.timeframes) | {settings.base_timeframe, settings.trading_timeframe},
            key=_seconds,
        ),
        "trading_timeframe": settings.trading_timeframe,
        "training_days": settings.training_days,
        "label_horizon_bars": settings.label_horizon_bars,
    }
    if settings.env == "prod":
        # Endpoints with credentials stay in the environment; the UI shows the variable name.
        return {
            "feature_store": FeatureStoreResource(
                **common,
                redis_url=dg.EnvVar("SMARTMARKET_REDIS_URL") if settings.redis_url else None,
                pg_dsn=dg.EnvVar("SMARTMARKET_FEAST_PG_DSN") if settings.feast_pg_dsn else None,
            )
        }
    return {
        "feature_store": FeatureStoreResource(
            **common,
            redis_url=settings.redis_url.get_secret_value() if settings.redis_url else None,
            pg_dsn=settings.feast_pg_dsn.get_secret_value() if settings.feast_pg_dsn else None,
        )
    }


def _seconds(label: str) -> int:
    from features.candles.schema import Timeframe

    return Timeframe.parse(label).seconds
