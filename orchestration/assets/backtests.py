"""The headline backtest: the ``smc_confluence`` strategy on the candles the pipeline stored.

Thin: read each configured symbol's stored candles of the trading timeframe (the window of the
run config, or all that is stored), call ``serving.backtest.main.backtest_frame``, attach the
headline metrics and where the data came from as metadata, and write ``summary.json`` beside
the per-symbol reports under ``<app home>/backtests``.
"""

import json
from typing import Any

import dagster as dg
import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from orchestration.assets.candles import candles_key
from orchestration.resources import CandleStoreResource
from orchestration.settings import Settings

HEADLINE_BACKTEST = dg.AssetKey("headline_backtest")
SUMMARY_FILE = "summary.json"


class BacktestWindow(dg.Config):
    """The candles to backtest: ``[start, end)`` as UTC dates; empty means everything stored."""

    start: str | None = None
    end: str | None = None


def backtest_folder(symbol: str, timeframe: Timeframe) -> str:
    """Folder name of one symbol's backtest under ``<app home>/backtests``."""
    return f"{symbol.replace('/', '-').replace(':', '_')}_{timeframe.label}"


def backtest_symbol(
    candles: pd.DataFrame, symbol: str, timeframe: Timeframe, settings: Settings
) -> dict[str, Any]:
    """Backtest one symbol's stored candles; return the record shown in the UI and the CLI."""
    from serving.backtest.main import backtest_frame
    from serving.engine.config import BacktestConfig

    data = {
        "symbol": symbol,
        "timeframe": timeframe.label,
        "source": f"{settings.store} candle store ({settings.source} data)",
        "bars": len(candles),
        "first": None if candles.empty else candles.index[0].isoformat(),
        "last": None if candles.empty else candles.index[-1].isoformat(),
        "last_close": None if candles.empty else float(candles["close"].iloc[-1]),
    }
    if candles.empty:
        return {**data, "skipped": f"no stored {timeframe.label} candles of {symbol}"}
    out = settings.home_dir / "backtests" / backtest_folder(symbol, timeframe)
    try:
        run = backtest_frame(candles, timeframe, BacktestConfig(), out, symbol)
    except CandleDataError as exc:  # e.g. a window shorter than the strategy's warm-up
        return {**data, "skipped": str(exc)}
    metrics = {k: (None if v is None else float(v)) for k, v in run.headline().items()}
    return {**data, "metrics": metrics, "report": str(run.paths["report"])}


def build_backtest_asset(settings: Settings) -> dg.AssetsDefinition:
    """Return the ``headline_backtest`` asset on the trading timeframe's stored candles."""
    trading = Timeframe.parse(settings.trading_timeframe)

    @dg.asset(
        key=HEADLINE_BACKTEST,
        deps=[candles_key(trading)],
        group_name="backtests",
        kinds={"numba"},
        description="The smc_confluence strategy on the stored candles, net of costs, "
        "against buy-and-hold and random entries.",
    )
    def headline_backtest(
        context: dg.AssetExecutionContext,
        config: BacktestWindow,
        candle_store: CandleStoreResource,
    ) -> dg.MaterializeResult:
        store = candle_store.store()
        start = pd.Timestamp(config.start, tz="UTC") if config.start else None
        end = pd.Timestamp(config.end, tz="UTC") if config.end else None
        records = []
        for symbol in settings.symbols:
            candles = store.read(symbol, trading, start, end)
            context.log.info(f"backtesting {symbol}: {len(candles):,} stored {trading} candles")
            records.append(backtest_symbol(candles, symbol, trading, settings))
        folder = settings.home_dir / "backtests"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SUMMARY_FILE).write_text(json.dumps(records, indent=2))
        metadata: dict[str, Any] = {"summary": dg.MetadataValue.path(str(folder / SUMMARY_FILE))}
        for record in records:
            key = record["symbol"]
            metadata[f"{key} data"] = (
                f"{record['bars']:,} bars {record['first']} .. {record['last']} "
                f"from the {record['source']}"
            )
            if "skipped" in record:
                metadata[f"{key} skipped"] = record["skipped"]
                continue
            for name, value in record["metrics"].items():
                if value is not None:
                    metadata[f"{key} {name}"] = dg.MetadataValue.float(value)
            metadata[f"{key} report"] = dg.MetadataValue.path(record["report"])
        return dg.MaterializeResult(metadata=metadata)

    return headline_backtest
