"""Streamlit helpers shared by the pages: settings, cached loaders, the empty states.

Only drawing and caching live here; what is read and computed is in ``dashboards.loaders``,
``dashboards.figures`` and ``dashboards.drift``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
import streamlit as st

from dashboards import loaders
from dashboards.loaders import DashboardSettings, Missing

if TYPE_CHECKING:
    from orchestration.settings import Settings

T = TypeVar("T")


def page(title: str) -> None:
    """Configure the page and write its title."""
    st.set_page_config(page_title=f"SmartMarket · {title}", layout="wide")
    st.title(title)


def settings() -> Settings | None:
    """Return the platform settings, or show why they do not load and return ``None``."""
    loaded = loaders.load_settings()
    if isinstance(loaded, Missing):
        st.error(loaded.message)
        return None
    return loaded


def dashboard_settings() -> DashboardSettings:
    """The dashboard's own settings (read on each run: changes apply without a restart)."""
    return DashboardSettings()


def show_missing(value: object, *, level: str = "info") -> bool:
    """Draw a ``Missing`` as a message; return whether ``value`` was one."""
    if isinstance(value, Missing):
        getattr(st, level)(value.message)
        return True
    return False


def store_of(settings: Settings) -> Any:
    """The candle store of the settings (one per server and store location)."""
    return _store(settings.store, str(settings.candles_dir), _dsn(settings))


def _dsn(settings: Settings) -> str | None:
    return settings.pg_dsn.get_secret_value() if settings.pg_dsn else None


@st.cache_resource(show_spinner=False)
def _store(kind: str, root: str, dsn: str | None) -> Any:
    from features.candles.store import make_store

    if kind == "postgres" and dsn:
        return make_store("postgres", dsn=dsn)
    return make_store("parquet", root=Path(root))


@st.cache_data(ttl=60, show_spinner=False)
def series(kind: str, root: str, dsn: str | None) -> dict[str, list[str]] | Missing:
    """Stored timeframes per symbol (cached for a minute)."""
    return loaders.candle_series(_store(kind, root, dsn))


@st.cache_data(max_entries=8, show_spinner="reading candles")
def candles(kind: str, root: str, dsn: str | None, symbol: str, timeframe: str,
            last: str) -> pd.DataFrame | Missing:  # fmt: skip
    """Every stored candle of a series; ``last`` (its newest time) invalidates the cache."""
    return loaders.load_candles(_store(kind, root, dsn), symbol, timeframe)


@st.cache_data(max_entries=8, show_spinner="finding SMC zones")
def smc(
    root: str, symbol: str, timeframe: str, last: str, _frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``detect_zones`` records and the overlay columns of ``compute_smc`` for a series.

    ``root`` (the store), ``symbol``, ``timeframe`` and ``last`` (the newest candle) key the
    cache; ``_frame`` is the series itself.
    """
    from features.smc import SMCConfig, compute_smc, detect_zones

    cfg = SMCConfig.for_timeframe(timeframe)
    zones = detect_zones(_frame, cfg)
    wanted = ["pd_high", "pd_low", "pd_eq", "sess_kz_asia", "sess_kz_london", "sess_kz_ny_am",
              "sess_kz_london_close", "sess_kz_ny_pm"]  # fmt: skip
    features = compute_smc(_frame, cfg)
    return zones, features[[c for c in wanted if c in features.columns]]


@st.cache_data(max_entries=8, show_spinner="reading the timeframes top-down")
def mtf(kind: str, root: str, dsn: str | None, symbol: str, primary: str,
        timeframes: tuple[str, ...], end: str) -> dict[str, Any] | Missing:  # fmt: skip
    """The MTF reading of ``primary`` at ``end`` (the close of the last bar shown)."""
    store = _store(kind, root, dsn)
    frames = loaders.analysis_context(store, symbol, timeframes, pd.Timestamp(end))
    return loaders.mtf_reading(frames, symbol, primary)


@st.cache_resource(ttl=300, show_spinner=False)
def dagster_instance(home: str) -> Any:
    """The Dagster instance of the app home, opened once per five minutes (or ``Missing``)."""
    return loaders.dagster_instance(Path(home))


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else -1.0


def equity(folder: Path, max_points: int = 4000) -> pd.DataFrame | Missing:
    """A run's ``equity.csv``, thinned to ``max_points`` (cached until the file changes)."""
    return _equity(str(folder), _mtime(folder / "equity.csv"), max_points)


@st.cache_data(max_entries=32, show_spinner="reading equity")
def _equity(folder: str, mtime: float, max_points: int) -> pd.DataFrame | Missing:
    from dashboards.figures import thin

    frame = loaders.load_equity(Path(folder))
    return frame if isinstance(frame, Missing) else thin(frame, max_points)


def trades(folder: Path) -> pd.DataFrame | Missing:
    """A run's ``trades.csv`` (cached until the file changes)."""
    return _trades(str(folder), _mtime(folder / "trades.csv"))


@st.cache_data(max_entries=32, show_spinner=False)
def _trades(folder: str, mtime: float) -> pd.DataFrame | Missing:
    return loaders.load_trades(Path(folder))


def closes(settings: Settings, symbols: tuple[str, ...], timeframe: str) -> dict[str, pd.Series]:
    """The stored closes of each ledger symbol (its market name in the store), by venue symbol."""
    return _closes(settings.store, str(settings.candles_dir), _dsn(settings), symbols, timeframe)


@st.cache_data(ttl=60, max_entries=8, show_spinner="reading closes")
def _closes(kind: str, root: str, dsn: str | None, symbols: tuple[str, ...],
            timeframe: str) -> dict[str, pd.Series]:  # fmt: skip
    from dashboards.trading import market_symbol

    out = {}
    for symbol in symbols:
        frame = loaders.load_candles(_store(kind, root, dsn), market_symbol(symbol), timeframe)
        if not isinstance(frame, Missing):
            out[symbol] = frame["close"]
    return out


@st.cache_data(ttl=60, show_spinner="reading the model registry")
def model_versions(config: Any) -> pd.DataFrame | Missing:
    """The registry's versions (``dashboards.models.versions``), cached for a minute."""
    from dashboards.models import versions

    return versions(config)


@st.cache_data(max_entries=16, show_spinner="reading the run's evaluation")
def run_detail(config: Any, run_id: str) -> Any:
    """What a run logged (a finished run does not change: cached by its id)."""
    from dashboards.models import run_detail as read

    return read(config, run_id)
