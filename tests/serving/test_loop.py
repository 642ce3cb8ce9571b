"""The trading loop: paper replay == backtest, every bar in the ledger, controls, sizer."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import Timeframe
from features.candles.store import ParquetCandleStore
from serving.backtest.fast import prepare, run_fast
from serving.backtest.main import synthetic_candles, with_sizes
from serving.control import request
from serving.engine.config import BacktestConfig
from serving.engine.risk import RiskConfig
from serving.ledger import Ledger, LedgerConfig, fold, open_ledger
from serving.runtime.clock import SimClock
from serving.runtime.loop import ControlFeed, LoopConfig, TradingLoop
from serving.runtime.parity import parity_report
from serving.runtime.sources import ReplaySource
from tests.serving import scripted as S
from tests.serving.test_live_broker import Scripted
from tests.serving.test_parity import LOGS, CoinFlip

SYMBOL = "ETH/USDT"
CFG = BacktestConfig(risk=RiskConfig(max_positions=2))


class FakeSizer:
    """A deterministic model: the score is drawn from the bar's close, size 0, 1 or 2."""

    version = "fake@3"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def update(self, ts_ns: int, ohlcv: np.ndarray) -> float:
        self.seen.append(ts_ns)
        return float(np.modf(ohlcv[3] * 31.0)[0])

    def size(self, p: float) -> float:
        return 0.0 if p < 0.3 else (1.0 if p < 0.7 else 2.0)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_candles(SYMBOL, "5m", "2024-03-01", 6, seed=11)


def replay(
    candles: pd.DataFrame,
    ledger: Ledger,
    sizer: FakeSizer | None = None,
    cfg: BacktestConfig = CFG,
    **loop_kw: object,
) -> TradingLoop:
    clock = SimClock()
    loop = TradingLoop(
        cfg, LoopConfig(SYMBOL, "5m", **loop_kw),  # type: ignore[arg-type]
        ledger, clock, sizer=sizer, strategy=CoinFlip(cfg.strategy),
    )  # fmt: skip
    loop.start()
    loop.run(ReplaySource(candles, "5m", clock).bars(loop.last_ts))
    return loop


@pytest.fixture(scope="module")
def paper_run(market: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    ledger = open_ledger(LedgerConfig.build(tmp_path_factory.mktemp("paper")))
    loop = replay(market, ledger)
    return loop, ledger


def test_a_paper_replay_gives_the_backtests_orders_and_fills_exactly(
    market: pd.DataFrame, paper_run: tuple
) -> None:
    # Arrange
    loop, _ = paper_run
    fast = run_fast(prepare(market, "5m", CFG, strategy=CoinFlip(CFG.strategy)))
    # Act
    logs = loop.runner.logs()
    # Assert
    assert len(fast.logs.fills) > 10
    for name in LOGS:
        assert np.array_equal(getattr(fast.logs, name), getattr(logs, name), equal_nan=True), name


def test_the_ledger_holds_the_paper_orders_and_fills_as_a_venue_would(
    market: pd.DataFrame, paper_run: tuple
) -> None:
    # Arrange
    loop, ledger = paper_run
    fills = loop.runner.result().fills
    # Act
    view = fold(ledger.events())
    # Assert: one fill event per engine fill, same prices; the ledger's position is the engine's
    ledger_fills = sorted(view.fills.values(), key=lambda f: (f.filled_at, f.venue_trade_id))
    assert len(ledger_fills) == len(fills)
    assert sorted(f.price for f in ledger_fills) == sorted(fills["price"].tolist())
    assert view.positions[SYMBOL].qty == pytest.approx(loop.runner.engine.position)
    assert {o.intent.leg for o in view.orders.values()} >= {"entry", "stop", "tp1"}
    assert all(o.fills_add_up for o in view.orders.values() if o.state == "filled")


def test_every_bar_has_a_signal_a_decision_and_a_balance(
    market: pd.DataFrame, paper_run: tuple
) -> None:
    # Arrange
    loop, ledger = paper_run
    # Act
    kinds = Counter(e.kind for e in ledger.events())
    decisions = ledger.events(kinds=("decision",))
    # Assert
    assert kinds["signal"] == kinds["decision"] == kinds["balance"] == len(market)
    body = decisions[-1].body
    assert body["model_version"] is None  # the rule alone
    assert body["feature_snapshot"].startswith("sha256:")
    assert body["bar"]["close"] == market["close"].iloc[-1]
    assert set(body["features"]) == set(CoinFlip(CFG.strategy).inputs().names)
    entered = [e for e in decisions if e.body["decision"] == "enter"]
    assert len(entered) == int((loop.runner.logs().orders[:, 4] == 0).sum())
    balance = ledger.events(kinds=("balance",))[-1].body
    assert balance["total"] == pytest.approx(loop.runner.engine.equity)


def test_a_sizer_sizes_entries_exactly_as_model_sizes_do_in_the_backtest(
    market: pd.DataFrame, tmp_path: Path
) -> None:
    # Arrange
    sizer = FakeSizer()
    probe = FakeSizer()
    closes = market.index + pd.Timedelta("5min")
    sizes = pd.Series(
        [probe.size(probe.update(int(t.value), r)) for t, r in
         zip(market.index, market.to_numpy(), strict=True)],
        index=closes,
    )  # fmt: skip
    fast = run_fast(with_sizes(prepare(market, "5m", CFG, strategy=CoinFlip(CFG.strategy)), sizes))
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    # Act
    loop = replay(market, ledger, sizer=sizer)
    # Assert
    assert sizer.seen == [int(t.value) for t in market.index]
    for name in LOGS:
        assert np.array_equal(getattr(fast.logs, name), getattr(loop.runner.logs(), name),
                              equal_nan=True), name  # fmt: skip
    decisions = ledger.events(kinds=("decision",))
    assert {e.body["model_version"] for e in decisions} == {"fake@3"}
    assert any(e.body["reason"] == "declined by the model" for e in decisions)
    signals = ledger.events(kinds=("signal",))
    assert all(0 <= e.body["confidence_score"] <= 100 for e in signals)


def test_the_parity_report_sets_each_trade_beside_the_backtests(paper_run: tuple) -> None:
    # Arrange
    loop, ledger = paper_run
    engine = loop.runner.result().trades
    # Act
    report = parity_report(ledger, "paper", SYMBOL, "5m", CFG, CoinFlip(CFG.strategy))
    # Assert: paper fills exactly as the backtest, with no delay; open trades are the session's
    both = report[report["in_backtest"] & report["in_session"]]
    assert len(both) == len(engine) > 5
    for a, b in (("backtest_entry", "session_entry"), ("backtest_exit", "session_exit"),
                 ("backtest_fees", "session_fees"), ("backtest_funding", "session_funding"),
                 ("backtest_slippage_bps", "session_slippage_bps")):  # fmt: skip
        assert np.allclose(both[a], both[b], rtol=1e-12, atol=1e-9), a
    assert (both["session_slippage_bps"] > 0).all()  # slippage costs, as configured
    assert (both["session_delay_s"] == 0.0).all()
    assert (both["session_funding"] != 0.0).any()  # the ledger's payments, split per trade
    assert not (report["in_backtest"] & ~report["in_session"]).any()


# -- controls, on scripted bars -----------------------------------------------------------------


def scripted_loop(tmp_path: Path, entries: dict[int, float], n: int = 30) -> tuple:
    bars = [S.FLAT_BAR] * n
    sig = S.intents(n, entries)
    candles = S.candles_from(bars)
    clock = SimClock()
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    loop = TradingLoop(S.config(), LoopConfig("BTC/USDT", "5m"), ledger, clock,
                       strategy=Scripted(sig))  # fmt: skip
    loop.start()
    return loop, ledger, ReplaySource(candles, "5m", clock).bars()


def test_stop_halts_new_entries_with_who_and_why_and_start_resumes(tmp_path: Path) -> None:
    # Arrange: the rule wants to enter at bars 5 and 15
    loop, ledger, bars = scripted_loop(tmp_path, {5: 1.0, 15: 1.0})
    at = pd.Timestamp("2024-01-01", tz="UTC")
    # Act
    loop.run(bars, limit=2)
    request(ledger, "stop", "alice", at, reason="news at 14:00")
    loop.run(bars, limit=8)
    halted = fold(ledger.events()).halted
    request(ledger, "start", "bob", at)
    loop.run(bars)
    # Assert
    assert halted == "stopped by alice: news at 14:00"
    decisions = {e.body["bar"]["ts"]: e.body for e in ledger.events(kinds=("decision",))
                 if "bar" in e.body}  # fmt: skip
    skipped = [d for d in decisions.values() if d["decision"] == "skip"]
    assert [d["reason"] for d in skipped] == ["trading halted: stopped by alice: news at 14:00"]
    assert [d["decision"] for d in decisions.values()].count("enter") == 1
    assert fold(ledger.events()).halted is None
    assert ledger.events(kinds=("resume",))[0].body["by"] == "bob"


def test_kill_with_flatten_closes_the_position_and_halts(tmp_path: Path) -> None:
    # Arrange: long at bar 2
    loop, ledger, bars = scripted_loop(tmp_path, {2: 1.0, 12: 1.0})
    loop.run(bars, limit=6)
    held = loop.runner.engine.position
    # Act
    request(ledger, "kill", "ops", pd.Timestamp("2024-01-01", tz="UTC"), flatten=True)
    loop.run(bars)
    # Assert
    view = fold(ledger.events())
    assert held > 0.0
    assert loop.runner.engine.position == 0.0
    assert view.positions["BTC/USDT"].qty == 0.0
    assert view.halted == "kill switch: by ops"
    assert not [o for o in view.open_orders()]
    assert [o.intent.leg for o in view.orders.values() if o.state == "filled"] == [
        "entry", "close",
    ]  # fmt: skip


def test_a_manual_order_goes_through_the_engine_or_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    # Arrange: no rule entries at all
    loop, ledger, bars = scripted_loop(tmp_path, {})
    at = pd.Timestamp("2024-01-01", tz="UTC")
    loop.run(bars, limit=3)
    # Act
    request(ledger, "order", "carol", at, action="enter", direction="long", symbol="BTC/USDT")
    request(ledger, "order", "carol", at, action="enter", direction="long", symbol="ETH/USDT")
    loop.run(bars, limit=3)
    request(ledger, "order", "carol", at, action="exit", direction="short", symbol="BTC/USDT")
    request(ledger, "order", "carol", at, action="exit", direction="long", symbol="BTC/USDT")
    loop.run(bars, limit=3)
    # Assert
    manual = [e for e in ledger.events(kinds=("decision",)) if e.ref.startswith("control-")]
    answers = [(e.body["decision"], e.body["reason"]) for e in manual]
    assert answers == [
        ("accepted", None),
        ("refused", "symbol 'ETH/USDT' is not traded here (BTC/USDT)"),
        ("refused", "no short position or pending entry to exit"),
        ("accepted", None),
    ]
    legs = [(o.intent.leg, o.state) for o in fold(ledger.events()).orders.values()
            if o.intent.leg in ("entry", "close")]  # fmt: skip
    assert legs == [("entry", "filled"), ("close", "filled")]
    assert loop.runner.engine.position == 0.0


def test_a_manual_entry_the_engine_refuses_is_recorded_with_the_engines_reason(
    tmp_path: Path,
) -> None:
    # Arrange: bar 3 is already long (max positions 1), so a second entry is refused
    loop, ledger, bars = scripted_loop(tmp_path, {2: 1.0})
    loop.run(bars, limit=5)
    # Act
    request(ledger, "order", "dan", pd.Timestamp("2024-01-01", tz="UTC"), action="enter",
            direction="long")  # fmt: skip
    loop.run(bars, limit=1)
    # Assert
    refused = [e.body for e in ledger.events(kinds=("decision",)) if e.ref.startswith("control-")]
    assert refused[-1]["decision"] == "refused"
    assert refused[-1]["reason"] == "the engine refused it: max concurrent positions"


def test_the_control_feed_hands_each_command_to_one_bar_in_order(tmp_path: Path) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    at = pd.Timestamp("2024-01-01", tz="UTC")
    first = request(ledger, "stop", "eve", at)
    feed = ControlFeed(ledger, (), 0.01)
    # Act
    got = feed.take()
    second = request(ledger, "start", "eve", at)
    later: list = []
    for _ in range(200):
        later += feed.take()
        if later:
            break
        time.sleep(0.01)
    feed.close()
    # Assert
    assert [c.seq for c in got] == [first]
    assert [(c.seq, c.command) for c in later] == [(second, "start")]
    assert feed.take() == []


def test_live_candles_are_appended_to_the_candle_store_as_they_are_handled(
    tmp_path: Path,
) -> None:
    # Arrange
    store = ParquetCandleStore(tmp_path / "candles")
    bars = S.candles_from([S.FLAT_BAR] * 6)
    clock = SimClock()
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    loop = TradingLoop(S.config(), LoopConfig("BTC/USDT", "5m"), ledger, clock,
                       strategy=Scripted(S.intents(6)), candle_store=store)  # fmt: skip
    loop.start()
    # Act
    loop.run(ReplaySource(bars, "5m", clock).bars(), limit=4)
    # Assert
    stored = store.read("BTC/USDT", Timeframe.parse("5m"))
    assert stored.index.tolist() == bars.index[:4].tolist()
    assert stored["close"].tolist() == [100.0] * 4


def test_the_hard_stop_halts_in_the_ledger_and_a_persons_start_re_arms_it(
    tmp_path: Path,
) -> None:
    # Arrange: long at bar 1 (stop 99), a 30% gap down at bar 4, entry intents at 6 and 10
    bars = [S.FLAT_BAR] * 4 + [(70.0, 70.0, 70.0, 70.0)] + [(70.0,) * 4] * 9
    sig = S.intents(len(bars), {1: 1.0, 6: 1.0, 10: 1.0},
                    closes=np.array([b[3] for b in bars]))  # fmt: skip
    clock = SimClock()
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    loop = TradingLoop(S.config(), LoopConfig("BTC/USDT", "5m"), ledger, clock,
                       strategy=Scripted(sig))  # fmt: skip
    loop.start()
    source = ReplaySource(S.candles_from(bars), "5m", clock).bars()
    # Act
    loop.run(source, limit=8)
    halted = fold(ledger.events()).halted
    request(ledger, "start", "frank", clock.now())
    loop.run(source)
    # Assert
    assert halted is not None
    assert halted.startswith("account hard stop")
    decisions = [e.body for e in ledger.events(kinds=("decision",)) if "bar" in e.body]
    assert decisions[6]["reason"] == "halted: account hard stop"
    assert decisions[10]["decision"] == "enter"
    resume = ledger.events(kinds=("resume",))[0].body
    assert resume["by"] == "frank"
    assert resume["hard_stop"].startswith("account hard stop re-armed")
    assert fold(ledger.events()).halted is None


def test_the_loop_writes_the_same_ledger_on_postgresql_as_on_sqlite(
    tmp_path: Path, pg_dsn: str
) -> None:
    # Arrange: entries, a manual order, a stop and a kill with flatten, on both stores
    def scenario(ledger: Ledger) -> list[tuple]:
        bars = S.candles_from([S.FLAT_BAR] * 24)
        clock = SimClock()
        loop = TradingLoop(S.config(), LoopConfig("BTC/USDT", "5m", checkpoint_every=1), ledger,
                           clock, strategy=Scripted(S.intents(24, {2: 1.0, 14: 1.0})),
                           checkpoint=tmp_path / f"{type(ledger).__name__}.pkl")  # fmt: skip
        loop.start()
        source = ReplaySource(bars, "5m", clock).bars()
        at = pd.Timestamp("2024-01-01", tz="UTC")
        loop.run(source, limit=6)
        request(ledger, "stop", "gus", at, reason="check")
        loop.run(source, limit=4)
        request(ledger, "start", "gus", at)
        request(ledger, "order", "gus", at, action="exit", direction="long")
        loop.run(source, limit=6)
        request(ledger, "kill", "gus", at, flatten=True)
        loop.run(source)
        return [(e.kind, e.ref, e.dedup, e.at, dict(e.body)) for e in ledger.events()]

    # Act
    on_sqlite = scenario(open_ledger(LedgerConfig.build(tmp_path / "lite")))
    on_postgres = scenario(open_ledger(LedgerConfig.build(tmp_path, dsn=pg_dsn)))
    # Assert
    assert on_postgres == on_sqlite
    kinds = Counter(k for k, *_ in on_sqlite)
    assert kinds["halt"] == 2
    assert kinds["resume"] == 1
    assert kinds["fill"] >= 4
