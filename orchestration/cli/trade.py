"""Trading commands: ``smartmarket trade`` runs the live loop; ``trade report`` its parity.

``trade --mode paper --synthetic`` (or ``--replay FILE``) replays candles through the whole
loop offline (``--speed N``: N times real time, 0 as fast as it can); ``--mode paper``
without either trades on paper on the exchange's live candles; ``--mode live`` sends orders
to the configured venue (``SMARTMARKET_EXCHANGE``, its credentials). The same command after a
crash resumes where the ledger ends: nothing is lost or doubled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console

if TYPE_CHECKING:
    import pandas as pd

    from orchestration.settings import Settings
    from serving.ledger.store import Ledger
    from serving.runtime.loop import LoopSummary

app = typer.Typer()
trade_app = typer.Typer(
    help="The trading loop: paper or live, replays, the parity report.",
    invoke_without_command=True,
)
app.add_typer(trade_app, name="trade")

MODES = ("paper", "live")


def session_name(mode: str, source: str, symbol: str, timeframe: str) -> str:
    """Return the default session of a run: mode, source, symbol and timeframe."""
    raw = f"{mode}-{source}-{symbol}-{timeframe}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-")


def trading_dir(settings: Settings, session: str) -> Path:
    """Return the folder of a session's checkpoint and reports."""
    return settings.home_dir / "trading" / session


def open_trading_ledger(settings: Settings) -> Ledger:
    """Open the ledger the settings name (SQLite under the home unless a DSN is set)."""
    from orchestration.settings import ledger_config
    from serving.ledger import open_ledger

    return open_ledger(ledger_config(settings))


def live_credentials(settings: Settings) -> tuple[str, str]:
    """Return the venue's API key and secret, decrypted here for the broker only.

    The encrypted store (``smartmarket credentials set``) comes first; the
    ``SMARTMARKET_EXCHANGE_API_KEY``/``_SECRET`` settings are the fallback. Neither: refuse,
    naming both ways and never a value.
    """
    from serving.credentials import CredentialsError, broker_credentials, store_file

    venue = settings.exchange
    if store_file(settings.home_dir).exists():
        try:
            found = broker_credentials(settings.home_dir, venue, settings.credentials_key)
            return found["api_key"], found["secret"]
        except CredentialsError as exc:
            if "no credentials stored" not in str(exc):
                raise
    key, secret = settings.exchange_api_key, settings.exchange_secret
    if key is None or secret is None or not key.get_secret_value() or not secret.get_secret_value():
        raise ValueError(
            f"live trading on {venue} needs its API credentials: `smartmarket credentials set "
            f"--venue {venue}` (encrypted at rest) or SMARTMARKET_EXCHANGE_API_KEY and "
            "SMARTMARKET_EXCHANGE_SECRET; nothing was sent"
        )
    return key.get_secret_value(), secret.get_secret_value()


def load_model(ref: str, settings: Settings, timeframe: str) -> tuple[Any, dict[str, Any]]:
    """Return the online scorer of a model and its risk setup (``meta.setup``).

    ``ref`` is ``champion`` (or another alias), a registry version number or a bundle folder;
    the scorer's version in the ledger is the registry's version number (the folder's name
    for a folder). The setup replaces the engine's risk settings, as in ``backtest --model``.
    """
    import logging

    from features.candles.schema import Timeframe
    from orchestration.settings import registry_config
    from training.online import OnlineModel
    from training.registry import bundle_path, version_by_alias

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines are not ours
    if Path(ref).is_dir():
        folder, version = Path(ref), Path(ref).name
    else:
        config = registry_config(settings)
        folder = bundle_path(config, ref)
        found = None if ref.isdigit() else version_by_alias(config, ref)
        version = str(found.version) if found is not None else ref
    model = OnlineModel.from_path(folder, version=version)
    tf = Timeframe.parse(timeframe).label
    if model.timeframe != tf:
        raise ValueError(f"--model: trained on {model.timeframe} candles, not {tf}")
    return model.scorer(settings.timeframes), dict(model.bundle.meta.setup)


def _candles(
    settings: Settings, replay: Path | None, symbol: str, timeframe: str, days: int
) -> pd.DataFrame:
    from serving.backtest.data import load_candles
    from serving.backtest.main import synthetic_candles

    if replay is not None:
        return load_candles(replay, symbol, timeframe).candles
    return synthetic_candles(symbol, timeframe, settings.start_date, days, settings.seed)


def _show(summary: LoopSummary, paths: dict[str, Path]) -> None:
    s = summary.to_dict()

    def num(v: Any, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    console.print(
        f"trade {s['mode']} [bold]{s['session']}[/]: {s['bars']:,} bars "
        f"{s['first']} .. {s['last']}"
        + (f" ({s['resumed_bars']} re-run from the ledger)" if s["resumed_bars"] else ""),
        highlight=False,
    )
    console.print(
        f"  orders {s['orders']}, fills {s['fills']}, closed trades {s['trades']}, "
        f"equity {num(s['equity'], ',.2f')} (return {num(s['return'], '+.2%')}), "
        f"close->ack p50 {num(s['ack_ms_p50'], '.2f')} ms, p99 {num(s['ack_ms_p99'], '.2f')} ms"
        + (f"; HALTED: {s['halted']}" if s["halted"] else ""),
        highlight=False,
    )
    for name, path in paths.items():
        console.print(f"  {name}: {path}", highlight=False)


def run_paper_replay(
    settings: Settings,
    candles: pd.DataFrame,
    symbol: str,
    timeframe: str,
    session: str,
    *,
    speed: float = 0.0,
    bars: int | None = None,
    config: Path | None = None,
    sizer: Any = None,
    setup: dict[str, Any] | None = None,
    report: bool = True,
) -> tuple[LoopSummary, dict[str, Path]]:
    """Replay ``candles`` through the paper loop as session ``session`` (resuming it).

    ``sizer`` and ``setup`` are a model's (:func:`load_model`). Returns the summary and the
    files written (``summary.json``, ``parity.csv``).
    """
    from serving.runtime.clock import SimClock
    from serving.runtime.loop import LoopConfig, TradingLoop
    from serving.runtime.sources import ReplaySource

    cfg = engine_config(config, setup)
    folder = trading_dir(settings, session)
    batch = 50 if speed == 0 else 1  # as fast as it can: one transaction per 50 bars
    ledger = open_trading_ledger(settings)
    try:
        clock = SimClock()
        loop = TradingLoop(
            cfg, LoopConfig(symbol, timeframe, session=session, batch_bars=batch,
                            checkpoint_every=50, control_poll_s=0.0 if speed == 0 else 0.5),
            ledger, clock, sizer=sizer, checkpoint=folder / "checkpoint.pkl",
        )  # fmt: skip
        loop.start()
        summary = loop.run(ReplaySource(candles, timeframe, clock, speed).bars(loop.last_ts), bars)
        paths = _write_outputs(loop, ledger, folder, cfg, report)
    finally:
        ledger.close()
    return summary, paths


def _write_outputs(
    loop: Any, ledger: Ledger, folder: Path, cfg: Any, report: bool
) -> dict[str, Path]:

    from features.candles.schema import CandleDataError
    from serving.runtime.parity import parity_report

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"summary": folder / "summary.json"}
    paths["summary"].write_text(json.dumps(loop.summary.to_dict(), indent=2))
    if report:
        try:
            table = parity_report(
                ledger, loop.loop.session, loop.loop.symbol, loop.loop.timeframe, cfg
            )
        except CandleDataError as exc:  # too few bars for the backtest's warm-up
            console.print(f"  parity report skipped: {exc}", highlight=False)
        else:
            paths["parity"] = folder / "parity.csv"
            table.to_csv(paths["parity"], index=False)
    return paths


@trade_app.callback()
@user_errors
def trade(
    ctx: typer.Context,
    mode: str = typer.Option("paper", help="paper (simulated fills) or live (the venue)."),
    replay: Path = typer.Option(None, help="Replay a candle file (CSV/Parquet) on paper."),
    synthetic: bool = typer.Option(False, help="Replay the synthetic market on paper."),
    speed: float = typer.Option(0.0, help="Replay at N times real time (0: as fast as it can)."),
    bars: int = typer.Option(None, help="Stop after this many new bars."),
    days: int = typer.Option(7, help="Days of synthetic candles (--synthetic)."),
    symbol: str = typer.Option(None, help="Symbol (default: the first of SMARTMARKET_SYMBOLS)."),
    timeframe: str = typer.Option(None, help="Timeframe (default SMARTMARKET_TRADING_TIMEFRAME)."),
    model: str = typer.Option(
        None, help="Size entries with a model: champion, a version number or a bundle folder."
    ),
    config: Path = typer.Option(None, help="Engine config file (YAML or JSON)."),
    session: str = typer.Option(None, help="Session name (default: mode, source, symbol)."),
    home: Path = typer.Option(None, help="App home (default ./.smartmarket)."),
) -> None:
    """Run the trading loop: candles -> engine -> broker -> ledger (resumes after a crash)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"home": home, "session": session, "symbol": symbol, "timeframe": timeframe,
                   "config": config, "mode": mode, "model": model}  # fmt: skip
        return
    from orchestration.cli.context import load_settings

    if mode not in MODES:
        raise ValueError(f"--mode: {mode!r} is not one of {', '.join(MODES)}")
    if replay is not None and synthetic:
        raise ValueError("--replay and --synthetic: choose one source")
    if bars is not None and bars < 1:
        raise ValueError(f"--bars: expected at least 1, got {bars}")
    if not speed >= 0.0:
        raise ValueError(f"--speed: expected 0 or more, got {speed}")
    if replay is not None and not replay.is_file():
        raise FileNotFoundError(f"--replay: no candle file at {replay}")
    settings = load_settings(home=home)
    if mode == "live":
        if replay is not None or synthetic:
            raise ValueError("--mode live trades the venue's live candles; replays are paper only")
        live_credentials(settings)
    sym = symbol or settings.symbols[0]
    tf = timeframe or settings.trading_timeframe
    sizer, setup = load_model(model, settings, tf) if model is not None else (None, {})
    if replay is not None or synthetic:
        source = "replay-" + replay.stem if replay is not None else f"synthetic{settings.seed}"
        summary, paths = run_paper_replay(
            settings, _candles(settings, replay, sym, tf, days), sym, tf,
            session or session_name("paper", source, sym, tf), speed=speed, bars=bars,
            config=config, sizer=sizer, setup=setup,
        )  # fmt: skip
        _show(summary, paths)
        return
    summary, paths = _run_polling(settings, mode, sym, tf, bars, session, config, sizer, setup)
    _show(summary, paths)


def engine_config(config: Path | None, setup: dict[str, Any] | None = None) -> Any:
    """Return the engine's config from a file (or the defaults) with a model's risk setup."""
    import dataclasses

    from serving.backtest.config_file import load_config

    cfg = load_config(config)
    if setup:
        cfg = dataclasses.replace(cfg, risk=dataclasses.replace(cfg.risk, **setup))
    return cfg


def _run_polling(
    settings: Settings,
    mode: str,
    symbol: str,
    timeframe: str,
    bars: int | None,
    session: str | None,
    config: Path | None,
    sizer: Any,
    setup: dict[str, Any],
) -> tuple[LoopSummary, dict[str, Path]]:
    """Trade the venue's live candles, on paper or live (network: not run by the tests)."""
    import pandas as pd

    from features.candles.schema import Timeframe
    from features.candles.sources.ccxt_source import CcxtSource
    from orchestration.resources import build_resources
    from serving.brokers.ccxt import CcxtBroker, CcxtBrokerConfig, make_exchange
    from serving.engine.features import FeatureSpec
    from serving.runtime.clock import WallClock
    from serving.runtime.loop import LoopConfig, TradingLoop
    from serving.runtime.sources import PollingSource
    from serving.signals import SMCConfluence

    cfg = engine_config(config, setup)
    tf = Timeframe.parse(timeframe)
    session = session or session_name(mode, settings.exchange, symbol, timeframe)
    clock = WallClock()
    ledger = open_trading_ledger(settings)
    broker = None
    if mode == "live":
        key, secret = live_credentials(settings)
        exchange = make_exchange(settings.exchange, key, secret)
        venue = CcxtBrokerConfig(symbol, dead_man_s=settings.trade_dead_man_s)
        broker = CcxtBroker(exchange, ledger, clock, venue)
        broker.start()
        data = CcxtSource(exchange)
    else:
        data = CcxtSource.from_id(settings.exchange)
    warm = FeatureSpec.build(tf, SMCConfluence(cfg.strategy).inputs()).warmup_bars
    start = clock.now().floor(f"{tf.seconds}s") - (warm + 1) * tf.delta
    folder = trading_dir(settings, session)
    loop = TradingLoop(
        cfg, LoopConfig(symbol, timeframe, session=session, checkpoint_every=1,
                        control_poll_s=0.5), ledger, clock,
        broker=broker, sizer=sizer, checkpoint=folder / "checkpoint.pkl",
        candle_store=build_resources(settings)["candle_store"].store(),
    )  # fmt: skip
    loop.start()
    source = PollingSource(data, symbol, tf, clock, start)
    try:
        loop.run(source.bars(loop.last_ts), bars, trade_after=pd.Timestamp(clock.now()))
    finally:
        paths = _write_outputs(loop, ledger, folder, cfg, report=False)
        ledger.close()
    return loop.summary, paths


@trade_app.command("report")
@user_errors
def report(ctx: typer.Context) -> None:
    """Write the parity report of a session: each trade beside the backtest of its bars.

    Give the session's ``--model`` too when it had one (its risk setup is the engine's).
    """
    from orchestration.cli.context import load_settings
    from serving.runtime.parity import parity_report

    opts = ctx.obj or {}
    settings = load_settings(home=opts.get("home"))
    if not opts.get("session"):
        raise ValueError("--session: name the session (smartmarket trade --session NAME report)")
    symbol = opts.get("symbol") or settings.symbols[0]
    timeframe = opts.get("timeframe") or settings.trading_timeframe
    setup = load_model(opts["model"], settings, timeframe)[1] if opts.get("model") else None
    ledger = open_trading_ledger(settings)
    try:
        table = parity_report(ledger, opts["session"], symbol, timeframe,
                              engine_config(opts.get("config"), setup))  # fmt: skip
    finally:
        ledger.close()
    folder = trading_dir(settings, opts["session"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "parity.csv"
    table.to_csv(path, index=False)
    both = table[table["in_backtest"] & table["in_session"]]
    console.print(
        f"{len(table)} trades: {len(both)} in both, "
        f"{int((table['in_backtest'] & ~table['in_session']).sum())} only in the backtest, "
        f"{int((~table['in_backtest'] & table['in_session']).sum())} only in the session; "
        f"mean entry slippage {both['session_slippage_bps'].mean():.2f} bps "
        f"(backtest {both['backtest_slippage_bps'].mean():.2f} bps)",
        highlight=False,
    )
    console.print(f"parity report: {path}", highlight=False)


DEMO_BARS = 300
"""Bars the demo replay of ``smartmarket run`` trades, after the strategy's warm-up."""


def demo_replay(settings: Settings) -> tuple[LoopSummary, dict[str, Path]]:
    """Replay the newest stored candles of the first symbol on paper (``make run``'s end).

    The strategy's warm-up plus :data:`DEMO_BARS` bars of the trading timeframe, read from
    the candle store the main job filled; the session is named after the window, so running
    it again resumes it (nothing is doubled).
    """
    from features.candles.schema import Timeframe
    from orchestration.resources import build_resources
    from serving.backtest.config_file import load_config
    from serving.engine.features import FeatureSpec
    from serving.signals import SMCConfluence

    symbol, tf = settings.symbols[0], settings.trading_timeframe
    store = build_resources(settings)["candle_store"].store()
    warm = FeatureSpec.build(tf, SMCConfluence(load_config(None).strategy).inputs()).warmup_bars
    candles = store.read(symbol, Timeframe.parse(tf)).iloc[-(warm + DEMO_BARS) :]
    if candles.empty:
        raise ValueError(f"no stored {tf} candles of {symbol} to replay")
    window = f"demo{candles.index[0]:%Y%m%d%H%M}-{candles.index[-1]:%Y%m%d%H%M}"
    return run_paper_replay(
        settings, candles, symbol, tf, session_name("paper", window, symbol, tf)
    )


def show_replay(summary: LoopSummary, paths: dict[str, Path]) -> None:
    """Print a replay's summary and the files it wrote."""
    _show(summary, paths)
