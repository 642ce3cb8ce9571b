"""Loaders: one function per source, pure (no Streamlit), each returning data or a ``Missing``.

The pages only draw what these return. A source that is absent (an empty app home, a service
that does not answer, a module not built yet, a corrupt file) gives a :class:`Missing` whose
``message`` says what to run; it never raises into the page, so the other pages keep working.

Sources and where they live:

- candles: the candle store of the settings (Parquet under ``<home>/candles`` or PostgreSQL);
- SMC overlays: ``features.smc.detect_zones`` / ``compute_smc`` on the loaded candles;
- MTF bias and confluence: ``serving.analysis.analyze_multi_timeframe``;
- backtests: ``<home>/backtests/summary.json`` and every folder holding a ``metrics.json``
  under ``<home>/backtests`` and ``<home>/backtest`` (``make run``'s synthetic report);
- signals: the signal service's ``GET /api/signals`` (``DashboardSettings.service_url``);
- service health: its ``GET /metrics`` (Prometheus text);
- trading: the ledger (``<home>/ledger/ledger.sqlite`` or PostgreSQL), folded by
  ``dashboards.trading``;
- models: the MLflow store ``<home>/mlflow/mlflow.db`` (issue 11);
- drift: ``<home>/monitoring/drift/<day>/summary.json`` + ``report.html`` and the model-health
  flag, written by the ``drift_snapshot`` asset and the drift sensor;
- GX results and freshness: the Dagster instance under ``<home>/dagster``.

To plug a new source in, add a loader here returning ``T | Missing`` and draw it in a page.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from dashboards.trading import Trading
    from features.candles.store.base import CandleStore
    from orchestration.settings import Settings
    from serving.desk import TradingDesk
    from serving.ledger import LedgerConfig

T = TypeVar("T")
DEFAULT_PORT = 3090
RUN_FIRST = "nothing yet: run `smartmarket run` (or `make run`) to fill the app home"


@dataclass(frozen=True)
class Missing:
    """A source with nothing to show, and what to do about it."""

    message: str


class DashboardSettings(BaseSettings):
    """The dashboard's own settings (``SMARTMARKET_DASHBOARD_*``; the app home is ``Settings``)."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTMARKET_DASHBOARD_", env_file=".env", extra="ignore", frozen=True
    )

    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    service_url: str = "http://127.0.0.1:3080"
    service_api_key: SecretStr | None = None
    refresh_seconds: float = Field(default=30.0, ge=1.0)
    max_bars: int = Field(default=3000, ge=100)
    request_timeout_s: float = Field(default=2.0, gt=0)
    mlflow_url: str = "http://127.0.0.1:3100"
    login: bool = False  # Streamlit's OIDC login on every page (docs/dashboard.md)


def load_settings() -> Settings | Missing:
    """Return the platform settings, or why they do not load (one line)."""
    from pydantic import ValidationError

    from orchestration.cli.errors import settings_message
    from orchestration.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        return Missing(f"the settings do not load: {settings_message(exc)}")


# -- candles ------------------------------------------------------------------------------------


def candle_store(settings: Settings) -> CandleStore:
    """Build the candle store the settings name."""
    from features.candles.store import make_store

    if settings.store == "postgres" and settings.pg_dsn is not None:
        return make_store("postgres", dsn=settings.pg_dsn.get_secret_value())
    return make_store("parquet", root=settings.candles_dir)


def candle_series(store: CandleStore) -> dict[str, list[str]] | Missing:
    """Return the stored timeframes per symbol (ascending), or ``Missing`` when none."""
    from features.candles.schema import Timeframe

    try:
        pairs = store.symbols()
    except Exception as exc:  # an unreachable PostgreSQL, a broken folder
        return Missing(f"cannot read the candle store: {_first_line(exc)}")
    if not pairs:
        return Missing(f"no candles stored; {RUN_FIRST}")
    out: dict[str, list[str]] = {}
    for symbol, label in pairs:
        out.setdefault(symbol, []).append(label)
    return {
        s: sorted(tfs, key=lambda t: Timeframe.parse(t).seconds) for s, tfs in sorted(out.items())
    }


def load_candles(
    store: CandleStore,
    symbol: str,
    timeframe: str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame | Missing:
    """Read candles ``[start, end)`` of one series; ``Missing`` when there are none."""
    from features.candles.schema import Timeframe

    try:
        frame = store.read(symbol, Timeframe.parse(timeframe), start, end)
    except Exception as exc:
        return Missing(f"cannot read {symbol} {timeframe}: {_first_line(exc)}")
    if frame.empty:
        return Missing(f"no {timeframe} candles of {symbol} in that range")
    return frame


def analysis_context(
    store: CandleStore, symbol: str, timeframes: Sequence[str], end: pd.Timestamp, bars: int = 600
) -> dict[str, pd.DataFrame]:
    """Return the last ``bars`` candles before ``end`` of each timeframe (for the MTF panel)."""
    from features.candles.schema import Timeframe

    out: dict[str, pd.DataFrame] = {}
    for label in timeframes:
        tf = Timeframe.parse(label)
        frame = store.read(symbol, tf, end - tf.delta * bars, end)
        if len(frame):
            out[tf.label] = frame
    return out


def mtf_reading(
    candles_by_tf: dict[str, pd.DataFrame], symbol: str, primary: str
) -> dict[str, Any] | Missing:
    """Return the MTF reading (``serving.analysis.analyze_multi_timeframe``) of ``primary``."""
    from features.candles.schema import Timeframe

    if primary not in candles_by_tf:
        return Missing(f"no {primary} candles of {symbol} for the MTF panel")
    higher = [tf for tf in candles_by_tf if Timeframe.parse(tf) > Timeframe.parse(primary)]
    if not higher:
        return Missing(f"no timeframe above {primary} stored: the MTF panel needs one")
    from serving.analysis import analyze_multi_timeframe

    try:
        return analyze_multi_timeframe(candles_by_tf, symbol, primary, higher)
    except ValueError as exc:
        return Missing(f"MTF reading failed: {_first_line(exc)}")


# -- backtests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestFiles:
    """One backtest folder on disk."""

    name: str
    folder: Path
    metrics: dict[str, Any]


def backtest_runs(home: Path) -> list[BacktestFiles] | Missing:
    """Return every backtest folder (with a readable ``metrics.json``) under the app home."""
    folders = sorted({p.parent for base in ("backtests", "backtest") for p in _glob(home / base)})
    runs, bad = [], []
    for folder in folders:
        try:
            metrics = json.loads((folder / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError):
            bad.append(folder.name)
            continue
        runs.append(BacktestFiles(_run_name(home, folder), folder, metrics))
    if not runs:
        hint = f" ({', '.join(bad)}: unreadable metrics.json)" if bad else ""
        return Missing(f"no backtest on disk{hint}; {RUN_FIRST}")
    return runs


def _glob(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return [*base.glob("metrics.json"), *base.glob("*/metrics.json")]


def _run_name(home: Path, folder: Path) -> str:
    return str(folder.relative_to(home))


def backtest_summary(home: Path) -> list[dict[str, Any]] | Missing:
    """Return ``<home>/backtests/summary.json`` (the headline backtest asset's records)."""
    path = home / "backtests" / "summary.json"
    if not path.is_file():
        return Missing(f"no headline backtest yet; {RUN_FIRST}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        return Missing(f"{path} is corrupt ({exc.msg}); rerun the headline_backtest asset")
    return list(data)


def metrics_table(runs: Sequence[BacktestFiles], names: Sequence[str]) -> pd.DataFrame:
    """Return the metrics ``names`` of each run side by side (one column per run)."""
    data = {r.name: [_scalar(r.metrics.get(n)) for n in names] for r in runs}
    return pd.DataFrame(data, index=list(names))


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float, str)) or value is None else str(value)


def load_equity(folder: Path) -> pd.DataFrame | Missing:
    """Return ``equity.csv`` indexed by bar close time."""
    path = folder / "equity.csv"
    try:
        frame = pd.read_csv(path, index_col="close_time", parse_dates=["close_time"])
    except (OSError, ValueError) as exc:
        return Missing(f"cannot read {path}: {_first_line(exc)}")
    return frame


def load_trades(folder: Path) -> pd.DataFrame | Missing:
    """Return ``trades.csv`` with its times (``decided_at``, ``entry_bar``, ``exit_bar``) parsed."""
    path = folder / "trades.csv"
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as exc:
        return Missing(f"cannot read {path}: {_first_line(exc)}")
    for column in ("decided_at", "entry_bar", "exit_bar"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


# -- signals, service, trading, models ------------------------------------------------------------


def _get(url: str, api_key: str | None, timeout: float) -> bytes:
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
    return body


def load_signals(settings: DashboardSettings, limit: int = 200) -> pd.DataFrame | Missing:
    """Return the service's recent signals (``GET /api/signals``), newest first."""
    key = settings.service_api_key.get_secret_value() if settings.service_api_key else None
    url = f"{settings.service_url.rstrip('/')}/api/signals?limit={limit}"
    try:
        data = json.loads(_get(url, key, settings.request_timeout_s))
    except urllib.error.HTTPError as exc:
        hint = " (set SMARTMARKET_DASHBOARD_SERVICE_API_KEY)" if exc.code in (401, 403) else ""
        return Missing(
            f"the signal service at {settings.service_url} refused the request: "
            f"HTTP {exc.code}{hint}"
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Missing(
            f"the signal service at {settings.service_url} does not answer "
            f"({_first_line(exc)}): start it with `smartmarket up`"
        )
    signals = data.get("signals", []) if isinstance(data, dict) else []
    if not signals:
        return Missing("no signals yet: the service answers but has computed none")
    return pd.json_normalize(signals)


def load_service_metrics(settings: DashboardSettings) -> pd.DataFrame | Missing:
    """Return the service's Prometheus samples (``GET /metrics``): name, labels, value."""
    url = f"{settings.service_url.rstrip('/')}/metrics"
    try:
        text = _get(url, None, settings.request_timeout_s).decode()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Missing(f"the signal service at {settings.service_url} does not answer "
                       f"({_first_line(exc)})")  # fmt: skip
    return parse_prometheus(text)


def parse_prometheus(text: str) -> pd.DataFrame:
    """Return the samples of a Prometheus text exposition: ``name``, ``labels``, ``value``."""
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        try:
            rows.append({"name": name, "labels": labels.rstrip("}"), "value": float(value)})
        except ValueError:
            continue
    return pd.DataFrame(rows, columns=["name", "labels", "value"])


TRADE_FIRST = "run `smartmarket trade --mode paper --synthetic`"


def ledger_path(home: Path) -> Path:
    """The embedded trading ledger (SQLite) under the app home."""
    return home / "ledger" / "ledger.sqlite"


def trading_desk(config: LedgerConfig, symbols: Sequence[str], start_cash: float) -> TradingDesk:
    """The desk over the ledger (``serving.desk``, as the service builds it); opens nothing."""
    from serving.desk import DeskConfig, TradingDesk

    return TradingDesk(config, DeskConfig(tuple(symbols), start_cash))


def _absent(config: LedgerConfig) -> Missing | None:
    if config.backend == "sqlite" and not (config.path and config.path.is_file()):
        return Missing(f"no trading yet: no ledger at {config.path}; {TRADE_FIRST}")
    return None


def load_trading(config: LedgerConfig, desk: TradingDesk) -> Trading | Missing:
    """Read the ledger ``config`` names through ``desk`` (its fold continues from the last read).

    Also reads the halt, resume, control, correction and funding events, which the desk's
    fold does not keep. ``Missing`` for a ledger that is absent (SQLite: never created here),
    empty, or cannot be read.
    """
    from dashboards.trading import SIDE_KINDS, Trading

    absent = _absent(config)
    if absent is not None:
        return absent
    try:
        snap = desk.snapshot()
        events = desk.ledger().events(kinds=SIDE_KINDS)
    except Exception as exc:  # a corrupt file, a dropped connection: never a traceback
        return Missing(f"cannot read the trading ledger ({config!r}): {_first_line(exc)}")
    if snap.view.last_seq == 0:
        return Missing(f"no trading yet: the ledger is empty; {TRADE_FIRST}")
    return Trading(desk, snap, events)


def send_command(config: LedgerConfig, desk: TradingDesk, command: str,
                 **detail: Any) -> int | Missing:  # fmt: skip
    """Append a command for the trading loop through the desk (``by="dashboard"``).

    Returns the command's sequence number in the ledger; never creates a SQLite ledger.
    """
    from serving.desk import DeskInputError
    from serving.ledger import LedgerError

    absent = _absent(config)
    if absent is not None:
        return absent
    try:
        return int(desk.command(command, "dashboard", **detail)["seq"])
    except (DeskInputError, LedgerError) as exc:
        return Missing(f"the {command} command was not recorded: {_first_line(exc)}")


def load_ledger(home: Path) -> Path | Missing:
    """Return the SQLite ledger file when there is one (the entry page's availability line)."""
    path = ledger_path(home)
    if not path.is_file():
        return Missing(f"no trading yet: no ledger at {path}; {TRADE_FIRST}")
    return path


def mlflow_db(home: Path) -> Path:
    """The embedded MLflow store of the training issue."""
    return home / "mlflow" / "mlflow.db"


def load_models(home: Path) -> pd.DataFrame | Missing:
    """Return the registered model versions of the app home's MLflow store (newest first)."""
    db = mlflow_db(home)
    if not db.is_file():
        return Missing(
            f"nothing yet: no MLflow store at {db}; train a model with `smartmarket train`"
        )
    from dashboards.models import versions
    from training.registry import RegistryConfig

    return versions(RegistryConfig.local(home))


# -- monitoring ---------------------------------------------------------------------------------


def monitoring_dir(home: Path) -> Path:
    """Drift snapshots and the model-health flag."""
    return home / "monitoring"


@dataclass(frozen=True)
class DriftSnapshotFiles:
    """One daily drift snapshot on disk."""

    day: str
    folder: Path
    summary: dict[str, Any]


def drift_snapshots(home: Path) -> list[DriftSnapshotFiles] | Missing:
    """Return the drift snapshots, newest day first."""
    base = monitoring_dir(home) / "drift"
    out = []
    for path in sorted(base.glob("*/summary.json"), reverse=True) if base.is_dir() else []:
        try:
            out.append(
                DriftSnapshotFiles(path.parent.name, path.parent, json.loads(path.read_text()))
            )
        except (OSError, json.JSONDecodeError):
            continue
    if not out:
        return Missing(
            "nothing yet: no drift snapshot; materialize `drift_snapshot` in Dagster "
            "(`smartmarket up`, then the monitoring group) after the training dataset exists"
        )
    return out


def load_health(home: Path) -> dict[str, Any] | Missing:
    """Return the model-health flag written by the drift sensor."""
    from dashboards.drift import HEALTH_FILE, read_model_health

    path = monitoring_dir(home) / HEALTH_FILE
    try:
        health = read_model_health(path)
    except ValueError as exc:
        return Missing(str(exc))
    if health is None:
        return Missing("no model-health flag yet: the drift sensor writes it (`smartmarket up`)")
    return health.to_dict()


def dagster_instance(home: Path) -> Any | Missing:
    """Open the Dagster instance of the app home (``<home>/dagster``)."""
    folder = home / "dagster"
    if not (folder / "dagster.yaml").is_file():
        return Missing(f"no Dagster instance at {folder} yet; {RUN_FIRST}")
    from dagster import DagsterInstance

    try:
        return DagsterInstance.from_config(str(folder))
    except Exception as exc:
        return Missing(f"cannot open the Dagster instance at {folder}: {_first_line(exc)}")


def freshness(instance: Any, now: pd.Timestamp) -> pd.DataFrame | Missing:
    """Return each asset's last materialization and its age at ``now``."""
    rows = []
    for record in instance.get_asset_records():
        entry = record.asset_entry
        event = entry.last_materialization
        if event is None:
            continue
        at = pd.Timestamp(event.timestamp, unit="s", tz="UTC")
        rows.append(
            {
                "asset": entry.asset_key.to_user_string(),
                "last materialized": at,
                "age (hours)": (now - at).total_seconds() / 3600.0,
                "partition": getattr(event.dagster_event, "partition", None) or "",
            }
        )
    if not rows:
        return Missing(f"no asset materialized yet; {RUN_FIRST}")
    return pd.DataFrame(rows).sort_values("age (hours)").reset_index(drop=True)


def check_results(instance: Any, limit: int = 500) -> pd.DataFrame | Missing:
    """Return the latest evaluation of each asset check (the GX suites among them)."""
    from dagster import DagsterEventType, EventRecordsFilter

    with warnings.catch_warnings():  # deprecated for Dagster 2.0, no replacement by type yet
        warnings.simplefilter("ignore", DeprecationWarning)
        records = instance.get_event_records(
            EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION),
            limit=limit,
            ascending=False,
        )
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
        if key in seen:
            continue
        seen[key] = {
            "asset": key[0],
            "check": key[1],
            "passed": bool(evaluation.passed),
            "severity": str(getattr(evaluation.severity, "value", evaluation.severity)),
            "partition": evaluation.partition or "",
            "at": pd.Timestamp(record.timestamp, unit="s", tz="UTC"),
        }
    if not seen:
        return Missing(f"no asset check has run yet; {RUN_FIRST}")
    return pd.DataFrame(list(seen.values()))


# -- helpers --------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "BacktestFiles",
    "DashboardSettings",
    "DriftSnapshotFiles",
    "Missing",
    "analysis_context",
    "backtest_runs",
    "backtest_summary",
    "candle_series",
    "candle_store",
    "check_results",
    "dagster_instance",
    "drift_snapshots",
    "freshness",
    "load_candles",
    "load_equity",
    "load_health",
    "load_ledger",
    "load_models",
    "load_service_metrics",
    "load_settings",
    "load_signals",
    "load_trades",
    "load_trading",
    "metrics_table",
    "mtf_reading",
    "parse_prometheus",
    "send_command",
    "trading_desk",
]
