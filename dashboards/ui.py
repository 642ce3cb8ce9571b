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
    """Configure the page and write its title; behind the login when it is on."""
    st.set_page_config(page_title=f"SmartMarket · {title}", layout="wide")
    st.title(title)
    if dashboard_settings().login and not logged_in():
        st.stop()


AUTH_KEYS = ("redirect_uri", "cookie_secret")


def login_problem() -> str | None:
    """Why Streamlit's OIDC login (``st.login``) cannot work here, or ``None``."""
    import importlib.util

    if importlib.util.find_spec("authlib") is None:
        return "Authlib (>= 1.3.2) is not installed: `pip install 'Authlib>=1.3.2'`"
    try:
        auth = st.secrets.get("auth")
    except Exception:  # no secrets file at all
        auth = None
    if not auth:
        return "no [auth] section in dashboards/.streamlit/secrets.toml (docs/dashboard.md)"
    missing = [k for k in AUTH_KEYS if k not in auth]
    if missing:
        return f"[auth] in secrets.toml lacks {', '.join(missing)}"
    return None


def logged_in() -> bool:
    """With ``SMARTMARKET_DASHBOARD_LOGIN`` on: whether a user is logged in (else ask).

    Fails closed: when the login cannot work (no Authlib, no ``[auth]`` secrets) the page says
    why and shows nothing else.
    """
    problem = login_problem()
    if problem:
        st.error(f"SMARTMARKET_DASHBOARD_LOGIN is on but the login cannot work: {problem}. "
                 "Nothing is shown until it does.")  # fmt: skip
        return False
    if not st.user.is_logged_in:
        st.info("Log in to see the dashboard.")
        st.button("Log in", on_click=st.login, key="login")
        return False
    st.sidebar.caption(f"logged in as {st.user.get('email') or st.user.get('name') or 'user'}")
    st.sidebar.button("Log out", on_click=st.logout, key="logout")
    return True


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


def ledger_key(config: Any) -> str:
    """A cache key of a ledger configuration (the DSN only as a hash)."""
    import hashlib

    secret = hashlib.sha256((config.dsn or "").encode()).hexdigest()[:12]
    return f"{config.backend}:{config.path}:{secret}"


@st.cache_resource(show_spinner=False)
def _desk(key: str, _config: Any, symbols: tuple[str, ...], start_cash: float) -> Any:
    return loaders.trading_desk(_config, symbols, start_cash)


def desk(config: Any, symbols: tuple[str, ...], start_cash: float) -> Any:
    """The trading desk over the ledger, one per ledger and process: its fold is kept between
    runs and continued with the events appended since (``serving.desk.TradingDesk``)."""
    return _desk(ledger_key(config), config, symbols, start_cash)


@st.cache_data(max_entries=4, show_spinner="computing the equity curve")
def trading_derived(
    key: str, last_seq: int, closes_key: tuple[Any, ...], timeframe: str,
    _trading: Any, _closes: dict[str, pd.Series],
) -> dict[str, Any]:  # fmt: skip
    """Trades, the equity curve (thinned for its chart), risk figures and both charts of a
    ledger state; recomputed only when the ledger (``last_seq``) or the closes change."""
    from dashboards import figures
    from dashboards import trading as tr
    from features.candles.schema import Timeframe

    trades = tr.trades_table(_trading.view)  # the desk's round trips
    curve = tr.equity_curve(_trading, _closes, Timeframe.parse(timeframe).delta)
    out: dict[str, Any] = {"trades": trades, "points": len(curve), "equity_fig": None,
                           "r_fig": None, "summary": {}}  # fmt: skip
    if len(curve):
        out["equity_fig"] = figures.equity_figure(
            figures.thin(curve, 4000), title="Equity vs buy-and-hold (ledger)"
        )
    if len(trades):
        out["summary"] = tr.summary(trades, curve, _trading.start_cash)
        out["r_fig"] = figures.r_multiples_figure(trades)
    return out


def closes_key(closes: dict[str, pd.Series]) -> tuple[Any, ...]:
    """What identifies a set of closes: per symbol its length and newest time."""
    return tuple((s, len(c), str(c.index[-1])) for s, c in sorted(closes.items()) if len(c))
