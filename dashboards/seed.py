"""Fill an app home from the seeded synthetic market (tests, benchmarks, a first look).

The same code paths as the pipeline: the synthetic source (``SMARTMARKET_SOURCE=synthetic``,
the default), the candle store, ``resample_all`` and the headline backtest of
``orchestration.assets.backtests`` (``serving.backtest.main.backtest_frame``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from features.candles.schema import Timeframe


def seed_home(
    home: Path,
    symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"),
    days: int = 10,
    timeframes: Sequence[str] = ("5m", "15m", "1h", "4h"),
    start: str = "2024-01-01",
    backtest: bool = True,
    seed: int = 7,
) -> Path:
    """Write candles of ``symbols`` (base = the first timeframe) and their headline backtest.

    Returns ``home``. The backtest writes ``<home>/backtests/summary.json`` and one folder per
    symbol, as the ``headline_backtest`` asset does.
    """
    from features.candles.resample import resample_all
    from features.candles.store import make_store
    from orchestration.assets.backtests import SUMMARY_FILE, backtest_symbol
    from orchestration.settings import Settings
    from serving.backtest.main import synthetic_candles

    base, *higher = (Timeframe.parse(tf) for tf in timeframes)
    store = make_store("parquet", root=home / "candles")
    settings = Settings(home=home, symbols=list(symbols), base_timeframe=base.label,
                        timeframes=[base.label, *(t.label for t in higher)])  # fmt: skip
    records = []
    for symbol in symbols:
        candles = synthetic_candles(symbol, base.label, start, days, seed)
        store.write(symbol, base, candles)
        for label, frame in resample_all(candles, base, higher).items():
            store.write(symbol, Timeframe.parse(label), frame)
        if backtest:
            records.append(backtest_symbol(candles, symbol, base, settings))
    if backtest:
        folder = home / "backtests"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SUMMARY_FILE).write_text(json.dumps(records, indent=2))
    return home


def seed_ledger(
    home: Path,
    symbol: str = "BTC/USDT",
    timeframe: str = "5m",
    trades: int = 3,
    every: int = 200,
    hold: int = 24,
    halt: str | None = "daily loss limit reached: -3.1% (limit -3.0%)",
) -> list[dict[str, float]]:
    """Append a paper-trading history to ``<home>/ledger/ledger.sqlite`` on the stored candles.

    ``trades`` round trips on ``symbol``, alternating long and short: entry at a bar's close
    with a 1% stop, exit ``hold`` bars later (take-profit when in profit, else the stop), each
    order through ``new -> submitted -> accepted -> filled`` with one fill (fee 0.05%). Then a
    last entry left open with a working take-profit order, and a halt with ``halt`` as the
    reason (None: no halt). The events are those the brokers write (``serving.ledger``
    builders). Returns each closed trade's expected figures (``net_pnl``, ``r_multiple``).
    """
    import pandas as pd

    from features.candles.store import make_store
    from serving.ledger import (
        FillRecord,
        LedgerConfig,
        OrderIntent,
        fill_event,
        halt_event,
        intent_event,
        open_ledger,
        state_event,
    )
    from serving.ledger.events import LedgerEvent
    from serving.order_state import client_order_id

    tf = Timeframe.parse(timeframe)
    candles = make_store("parquet", root=home / "candles").read(symbol, tf)
    ledger = open_ledger(LedgerConfig.build(home))
    expected: list[dict[str, float]] = []
    fee_rate, qty = 0.0005, 0.1

    def order(origin: str, leg: str, side: str, kind: str, at: pd.Timestamp, fill_price: float,
              fill: bool, **kw: Any) -> list[LedgerEvent]:  # fmt: skip
        cid = client_order_id(origin, leg, 0)  # type: ignore[arg-type]
        intent = OrderIntent(cid, origin, leg, 0, symbol, side, kind, qty, qty,  # type: ignore[arg-type]
                             trade_key=origin, decided_at=int(at.value), **kw)  # fmt: skip
        events = [
            intent_event(intent, at),
            state_event(cid, "new", "submitted", at),
            state_event(cid, "submitted", "accepted", at, exchange_order_id=f"x-{cid}"),
        ]
        if fill:
            record = FillRecord(f"t-{cid}", f"x-{cid}", cid, symbol, side, fill_price, qty,
                                fill_price * qty * fee_rate, False, at)  # fmt: skip
            events += [
                fill_event(record, at),
                state_event(cid, "accepted", "filled", at, reason="filled"),
            ]
        return events

    closes = candles["close"]
    close_at = candles.index + tf.delta
    for k in range(trades + 1):
        i = every * (k + 1)
        origin, long = f"sig-{symbol}-{i}", k % 2 == 0
        entry, at = float(closes.iloc[i]), close_at[i]
        stop = entry * (0.99 if long else 1.01)
        side, back = ("buy", "sell") if long else ("sell", "buy")
        events = order(origin, "entry", side, "market", at, entry, True, stop_loss=stop)
        if k == trades:  # the open trade: a working take-profit
            target = entry * (1.02 if long else 0.98)
            events += order(origin, "tp1", back, "limit", at, target, False, price=target,
                            reduce_only=True)  # fmt: skip
            ledger.append(events)
            break
        j = i + hold
        exit_price = float(closes.iloc[j])
        won = (exit_price - entry) * (1 if long else -1) > 0
        leg = "tp1" if won else "stop"
        price = exit_price if won else stop
        kind = {"price": price} if won else {"stop_price": price}
        events += order(origin, leg, back, "limit" if won else "stop", close_at[j], price, True,
                        reduce_only=True, **kind)  # fmt: skip
        ledger.append(events)
        gross = (price - entry) * qty * (1 if long else -1)
        net = gross - (entry + price) * qty * fee_rate
        expected.append({"net_pnl": net, "r_multiple": net / (qty * abs(entry - stop))})
    if halt:
        ledger.append([halt_event(halt, close_at[every * (trades + 1) + 1])])
    ledger.close()
    return expected


def seed_registry(home: Path, days: int = 30, start: str = "2024-01-01", seed: int = 7) -> None:
    """Register two versions of a tiny model in ``<home>/mlflow`` through the training pipeline.

    v1 is what ``train_register`` trains, logs and decides (gbm of 20 iterations, three
    purged folds, ``days`` of 5m synthetic BTC/USDT and ETH/USDT with their SMC features), then
    made champion by hand; v2 logs the same bundle and evaluation tables again as the
    challenger, refused by the gate ("does not beat the champion").
    """
    import numpy as np
    import pandas as pd

    from features.smc import SMCConfig, compute_smc
    from orchestration.assets.training import train_register
    from serving.backtest.main import synthetic_candles
    from training.bundle import load_bundle
    from training.config import SplitConfig
    from training.models import ModelConfig
    from training.pipeline import TrainConfig, prepare_market
    from training.promotion import Decision, Evidence, PromotionConfig
    from training.registry import RegistryConfig, log_training, record_decision, set_champion

    tf = Timeframe.parse("5m")
    config = TrainConfig(
        kind="gbm",
        model=ModelConfig(gbm_max_iter=20),
        splits=SplitConfig(n_folds=3, min_train=120, valid_fraction=0.25, embargo_bars=12,
                           horizon_bars=12),
    )  # fmt: skip
    registry = RegistryConfig.local(home)

    def features_of(symbol: str, candles: pd.DataFrame) -> pd.DataFrame:
        smc = compute_smc(candles, SMCConfig.for_timeframe(tf)).reset_index(drop=True)
        smc.insert(0, "event_timestamp", candles.index + tf.delta)
        return smc

    markets = {}
    for symbol in ("BTC/USDT", "ETH/USDT"):
        candles = synthetic_candles(symbol, tf.label, start, days, seed)
        markets[symbol] = prepare_market(symbol, candles, features_of(symbol, candles), tf,
                                         config)  # fmt: skip
    out = home / "models" / "seed"
    outcome = train_register(markets, tf, config, registry, PromotionConfig(), out,
                             features_of=features_of, random_seeds=2,
                             source="dashboards.seed")  # fmt: skip
    set_champion(registry, outcome.logged.version, reason="first model, set by hand")
    assert outcome.result.bundle is not None
    bundle = load_bundle(outcome.result.bundle)
    example = np.zeros((2, bundle.meta.lookback, len(bundle.preprocessor.output_names)), "f4")
    second = log_training(
        registry, experiment=outcome.logged.experiment, params=config.describe(),
        metrics={"oos_auc": 0.5}, fold_metrics=[], tags={"timeframe": tf.label},
        evidence=Evidence(0.1, 0.01, 0.2, 12, 0.3), artifacts=out / "evaluation",
        bundle=outcome.result.bundle, example=example,
    )  # fmt: skip
    record_decision(registry, second.version, Decision(False, "does not beat the champion"))
