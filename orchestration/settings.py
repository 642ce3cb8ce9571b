"""The one settings object, read at the edges (CLI, Dagster definitions, services).

Every field can be set by an environment variable with the ``SMARTMARKET_`` prefix (lists as
JSON or comma-separated), or in a ``.env`` file in the working directory. Domain code never
reads settings: the edges build frozen domain configs from them.

Settings are validated when loaded: each bad value is reported as one pydantic error located
at its field (so the CLI names ``SMARTMARKET_<FIELD>``), before anything runs. What cannot be
known without trying (is PostgreSQL reachable?) is checked by ``connection_problems`` where a
command needs it.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from features.candles.schema import Timeframe
    from serving.ledger.config import LedgerConfig
    from training.registry import RegistryConfig

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


DAY_SECONDS = 86_400
LADDER: tuple[str, ...] = ("5m", "15m", "1h", "4h", "1d")
SYMBOL_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(:[A-Za-z0-9][\w.-]*)?$")
CONNECT_TIMEOUT_S = 3


class SettingsError(ValueError):
    """A setting that loads but does not work (e.g. an unreachable server); names the setting."""


def _bad(message: str) -> PydanticCustomError:
    """Return a validation error whose message is ``message`` as is (no "Value error," prefix)."""
    return PydanticCustomError("setting", "{detail}", {"detail": message})


def _timeframe(value: str, name: str) -> Timeframe:
    """Parse a timeframe that divides a UTC day (candles are partitioned by day)."""
    from features.candles.schema import CandleDataError, Timeframe

    try:
        tf = Timeframe.parse(value)
    except CandleDataError as exc:
        raise _bad(str(exc)) from None
    if DAY_SECONDS % tf.seconds:
        raise _bad(f"{name} {tf.label} does not divide a day (candles are partitioned by UTC day)")
    return tf


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
    file_path: Path | None = Field(default=None, validate_default=True)
    file_timezone: str = "UTC"
    exchange: str = "binance"
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None

    # storage
    store: Literal["parquet", "postgres"] = "parquet"
    pg_dsn: SecretStr | None = Field(default=None, validate_default=True)

    # features and the Feast feature store (docs/features.md)
    trading_timeframe: str = "5m"
    online_store: Literal["sqlite", "redis", "postgres"] = "sqlite"
    offline_store: Literal["asof", "file"] = "asof"
    redis_url: SecretStr | None = Field(default=None, validate_default=True)
    feast_pg_dsn: SecretStr | None = Field(default=None, validate_default=True)
    feast_project: str = "smartmarket"
    training_days: int = Field(default=30, ge=0)
    label_horizon_bars: int = Field(default=12, ge=1)

    # the model registry (docs/models.md): SQLite under the app home when unset
    mlflow_uri: SecretStr | None = None

    # trading (docs/trading.md): the ledger (SQLite under the app home when unset) and the key
    # that encrypts exchange credentials (a 0600 file under the app home when unset)
    ledger_dsn: SecretStr | None = None
    credentials_key: SecretStr | None = None
    # a live run re-arms the venue's dead-man's switch (Delta's cancel_after) for this long at
    # every poll; 0: off. The venue then cancels our working orders, stops included, if the
    # loop goes quiet: set it well above one bar plus the poll's time
    trade_dead_man_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_base(cls, data: Any) -> Any:
        """Derive unset timeframes from the base: the standard ladder up, trading on the base."""
        if not isinstance(data, dict):
            return data
        from features.candles.schema import CandleDataError, Timeframe

        try:
            base = Timeframe.parse(data.get("base_timeframe", "5m"))
        except CandleDataError:
            return data  # the base timeframe's own validator reports it
        if DAY_SECONDS % base.seconds:
            return data
        out = dict(data)
        if out.get("timeframes") is None:
            ladder = [Timeframe.parse(tf) for tf in LADDER]
            above = [tf.label for tf in ladder if tf > base and tf.seconds % base.seconds == 0]
            out["timeframes"] = [base.label, *above]
        if out.get("trading_timeframe") is None:
            out["trading_timeframe"] = base.label
        return out

    @field_validator("symbols", "timeframes", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        try:
            return _split_csv(value)
        except ValueError as exc:  # a JSON list that does not parse
            raise _bad(f"not a JSON list nor comma-separated values: {exc}") from None

    @field_validator("symbols")
    @classmethod
    def _valid_symbols(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value:
            raise _bad("no symbols: list at least one, e.g. BTC/USDT,ETH/USDT")
        bad = [s for s in value if not SYMBOL_RE.match(s)]
        if bad:
            raise _bad(
                f"{', '.join(map(repr, bad))} not shaped like BASE/QUOTE or BASE/QUOTE:SETTLE "
                "(e.g. BTC/USDT, BTC/USDT:USDT)"
            )
        twice = sorted({s for s in value if value.count(s) > 1})
        if twice:
            raise _bad(f"listed more than once: {', '.join(twice)}")
        if info.data.get("source") == "file" and len(value) > 1:
            raise _bad(
                f"a file holds one symbol, got {', '.join(value)}: "
                "set SMARTMARKET_SYMBOLS (or --symbol) to the file's symbol"
            )
        return value

    @field_validator("base_timeframe")
    @classmethod
    def _valid_base(cls, value: str) -> str:
        return _timeframe(value, "base timeframe").label

    @field_validator("timeframes")
    @classmethod
    def _valid_timeframes(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value:
            raise _bad("no timeframes: list at least one, e.g. 5m,15m,1h,4h,1d")
        tfs = [_timeframe(v, "timeframe") for v in value]
        base = info.data.get("base_timeframe")
        if base is not None:
            seconds = _timeframe(base, "base timeframe").seconds
            off = [tf.label for tf in tfs if tf.seconds % seconds]
            if off:
                raise _bad(
                    f"{', '.join(off)} not a multiple of the base timeframe {base} "
                    "(SMARTMARKET_BASE_TIMEFRAME): higher timeframes are resampled from it"
                )
        return [tf.label for tf in tfs]

    @field_validator("trading_timeframe")
    @classmethod
    def _valid_trading_timeframe(cls, value: str, info: ValidationInfo) -> str:
        from features.candles.schema import Timeframe

        label = _timeframe(value, "trading timeframe").label
        known = {info.data.get("base_timeframe"), *info.data.get("timeframes", ())} - {None}
        if known and label not in known:
            listed = ", ".join(sorted(known, key=lambda tf: Timeframe.parse(tf).seconds))
            raise _bad(
                f"{label} is not one of the candle timeframes {listed} (SMARTMARKET_TIMEFRAMES)"
            )
        return label

    @field_validator("file_path", mode="after")
    @classmethod
    def _file_for_file_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if info.data.get("source") != "file":
            return value
        if value is None:
            raise _bad("SMARTMARKET_SOURCE=file needs the path of a CSV or Parquet file")
        if not value.expanduser().is_file():
            raise _bad(f"candle file not found: {value}")
        return value

    @field_validator("file_timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _bad(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Berlin"
            ) from None
        return value

    @field_validator("pg_dsn", mode="after")
    @classmethod
    def _dsn_for_postgres(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("store") == "postgres" or info.data.get("env") == "prod":
            why = (
                "SMARTMARKET_ENV=prod"
                if info.data.get("env") == "prod"
                else "SMARTMARKET_STORE=postgres"
            )
            return _need_dsn(value, why)
        return value

    @field_validator("redis_url", mode="after")
    @classmethod
    def _url_for_redis(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("online_store") == "redis" and value is None:
            raise _bad("SMARTMARKET_ONLINE_STORE=redis needs a URL, e.g. redis://127.0.0.1:6379/0")
        return value

    @field_validator("feast_pg_dsn", mode="after")
    @classmethod
    def _dsn_for_feast(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("online_store") == "postgres":
            return _need_dsn(value, "SMARTMARKET_ONLINE_STORE=postgres")
        return value

    @field_validator("ledger_dsn", mode="after")
    @classmethod
    def _valid_ledger_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return _need_dsn(value, "SMARTMARKET_LEDGER_DSN")

    @field_validator("mlflow_uri", mode="after")
    @classmethod
    def _valid_mlflow_uri(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        uri = value.get_secret_value().strip()
        schemes = ("sqlite:///", "http://", "https://", "postgresql://", "postgresql+", "file:")
        if not uri.startswith(schemes):
            raise _bad(
                "not an MLflow tracking URI: expected http(s)://host:port (a tracking server), "
                "postgresql://user:password@host:port/db or sqlite:///path"
            )
        return SecretStr(uri)

    @property
    def base(self) -> Timeframe:
        """The base timeframe, parsed."""
        from features.candles.schema import Timeframe

        return Timeframe.parse(self.base_timeframe)

    @property
    def candle_timeframes(self) -> list[Timeframe]:
        """Every stored timeframe, base included, ascending."""
        from features.candles.schema import Timeframe

        return sorted({Timeframe.parse(tf) for tf in self.timeframes} | {self.base})

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


def ledger_config(settings: Settings) -> LedgerConfig:
    """Return the trading ledger's settings: PostgreSQL at the DSN when set, else SQLite.

    ``SMARTMARKET_LEDGER_DSN`` unset gives ``<home>/ledger/ledger.sqlite``; the service and
    the trading loop both open the ledger this returns.
    """
    from serving.ledger.config import LedgerConfig

    dsn = settings.ledger_dsn.get_secret_value() if settings.ledger_dsn else None
    return LedgerConfig.build(settings.home_dir, dsn)


def _need_dsn(value: SecretStr | None, why: str) -> SecretStr:
    """Return a PostgreSQL DSN that parses; ``why`` says which setting needs it."""
    if value is None or not value.get_secret_value().strip():
        raise _bad(f"{why} needs a DSN, e.g. postgresql://user:password@127.0.0.1:5432/db")
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(value.get_secret_value())
    except Exception:  # psycopg.ProgrammingError; its message may quote the password
        raise _bad(
            "not a PostgreSQL DSN: expected postgresql://user:password@host:port/db "
            "or key=value pairs"
        ) from None
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _where(dsn: str) -> str:
    """Return ``host:port/dbname`` of a DSN (never its password)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}".rstrip("/")


def postgres_problem(dsn: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Try to connect to PostgreSQL; return why it failed, or ``None`` when it answered."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, round(timeout_s))) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to PostgreSQL at {_where(dsn)}: {_first_line(exc)}"
    return None


def redis_problem(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Try to reach Redis; return why it failed, or ``None`` when it answered."""
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        client.ping()
        client.close()
    except (redis.RedisError, ValueError) as exc:
        return f"cannot reach Redis: {_first_line(exc)}"
    return None


def connection_problems(
    settings: Settings,
    needs: Collection[str] = ("candles",),
    *,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> list[str]:
    """Check the servers that ``needs`` depend on; return one line per problem, naming its setting.

    Args:
        settings: Validated settings.
        needs: ``"candles"`` (the candle store), ``"online_store"`` (Feast's online store)
            and/or ``"ledger"`` (the trading ledger on PostgreSQL).
        timeout_s: Connect timeout per server.

    Returns:
        Lines such as ``SMARTMARKET_PG_DSN: cannot connect to PostgreSQL at host:5432/db: ...``;
        empty when every needed server answered (or none is needed: embedded defaults).
    """
    problems: list[str] = []
    if (
        "candles" in needs
        and settings.pg_dsn is not None
        and (settings.store == "postgres" or settings.env == "prod")
    ):
        problem = postgres_problem(settings.pg_dsn.get_secret_value(), timeout_s)
        if problem:
            problems.append(f"SMARTMARKET_PG_DSN: {problem}")
    if "online_store" in needs:
        if settings.online_store == "redis" and settings.redis_url is not None:
            problem = redis_problem(settings.redis_url.get_secret_value(), timeout_s)
            if problem:
                problems.append(f"SMARTMARKET_REDIS_URL: {problem}")
        if settings.online_store == "postgres" and settings.feast_pg_dsn is not None:
            problem = postgres_problem(settings.feast_pg_dsn.get_secret_value(), timeout_s)
            if problem:
                problems.append(f"SMARTMARKET_FEAST_PG_DSN: {problem}")
    if "ledger" in needs and settings.ledger_dsn is not None:
        problem = postgres_problem(settings.ledger_dsn.get_secret_value(), timeout_s)
        if problem:
            problems.append(f"SMARTMARKET_LEDGER_DSN: {problem}")
    return problems


def check_connections(settings: Settings, needs: Collection[str] = ("candles",)) -> None:
    """Raise ``SettingsError`` (one line) when a server that ``needs`` depend on does not answer."""
    problems = connection_problems(settings, needs)
    if problems:
        raise SettingsError("; ".join(problems))


def apply_offline_env() -> None:
    """Switch every component's telemetry off for this process and its children."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def registry_config(settings: Settings) -> RegistryConfig:
    """The MLflow registry of ``settings``: SQLite under the app home, or SMARTMARKET_MLFLOW_URI.

    Raises:
        SettingsError: The configured tracking server or database does not answer.
    """
    from training.registry import RegistryConfig

    local = RegistryConfig.local(settings.home_dir)
    if settings.mlflow_uri is None:
        return local
    uri = settings.mlflow_uri.get_secret_value()
    problem = mlflow_problem(uri)
    if problem:
        raise SettingsError(f"SMARTMARKET_MLFLOW_URI: {problem}")
    return RegistryConfig(uri, local.artifact_root)


def mlflow_problem(uri: str, timeout_s: float = 3.0) -> str | None:
    """Try to reach an MLflow tracking URI; return why it failed, or ``None``."""
    if uri.startswith("postgresql"):
        import re

        return postgres_problem(re.sub(r"^postgresql\+\w+://", "postgresql://", uri), timeout_s)
    if uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s):
                return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"cannot reach the MLflow tracking server at {uri}: {reason}"
    return None
