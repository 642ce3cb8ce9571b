"""The loop on live candles: polling closed candles (fake exchange) and a venue broker."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.candles.schema import Timeframe
from features.candles.sources import CcxtSource
from serving.brokers.ccxt import CcxtBroker, CcxtBrokerConfig
from serving.control import request
from serving.ledger import LedgerConfig, fold, open_ledger
from serving.runtime.clock import SimClock
from serving.runtime.loop import LoopConfig, TradingLoop
from serving.runtime.parity import funding_payments, session_trades
from serving.runtime.sources import PollingSource
from tests.features.candles.fake_exchange import MINUTE_MS, FakeExchange, candles
from tests.serving import scripted as S
from tests.serving.fake_venue import FakeVenue
from tests.serving.test_live_broker import Scripted

T0 = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta("5min")


class AdvancingClock(SimClock):
    """A clock that moves forward by what the source sleeps."""

    def __init__(self, start: pd.Timestamp) -> None:
        super().__init__(start)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.set(self.now() + pd.Timedelta(seconds=seconds))


def polling(book: list[list], clock: AdvancingClock, symbol: str = "BTC/USDT") -> tuple:
    exchange = FakeExchange({symbol: book}, page_size=50)
    reasons: list[str] = []
    source = PollingSource(
        CcxtSource(exchange, clock=clock.now, sleep=lambda s: None), symbol, "5m", clock, T0,
        sleep=clock.sleep, grace_s=2.0, on_quarantine=reasons.append,
    )  # fmt: skip
    return source, reasons


SYMBOL = "BTC/USDT:USDT"


def flat_live_loop(tmp_path: Path, n: int, session: str, strategy: Scripted) -> tuple:
    """A live loop on ``n`` flat 5m candles, polled from a fake exchange, trading a fake venue.

    The venue's clock is the test's; return the loop, its polled bars, the venue and the ledger.
    """
    rows = [[int((T0 + k * STEP).value // 1_000_000), 100.0, 100.0, 100.0, 100.0, 1.0]
            for k in range(n)]  # fmt: skip
    clock = AdvancingClock(T0 + STEP)
    source, _ = polling(rows, clock, SYMBOL)
    venue = FakeVenue(contract_size=0.01, price=100.0, margin=1e9)
    venue.now_ms = int(clock.now().value // 1_000_000)
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    broker = CcxtBroker(venue, ledger, clock, CcxtBrokerConfig(SYMBOL))
    broker.start()
    loop = TradingLoop(
        S.config(), LoopConfig(SYMBOL, "5m", session=session, checkpoint_every=1), ledger,
        clock, broker=broker, strategy=strategy,
    )  # fmt: skip
    loop.start()
    return loop, source.bars(loop.last_ts), venue, ledger


def test_polling_yields_closed_candles_only_waits_for_the_next_and_skips_bad_rows() -> None:
    # Arrange: 10 candles in the book; at 00:27 the 00:25 candle is still in progress
    book = candles("2024-01-01", 10, 5 * MINUTE_MS)
    book[3][2] = book[3][3] - 5.0  # high below low: quarantined, never traded on
    clock = AdvancingClock(T0 + pd.Timedelta("27min"))
    source, reasons = polling(book, clock)
    # Act
    got = []
    for bar in source.bars():
        got.append((bar["ts"], clock.now()))
        if len(got) == 7:
            break
    # Assert
    stamps = [ts for ts, _ in got]
    assert stamps == [T0 + k * STEP for k in (0, 1, 2, 4, 5, 6, 7)]
    assert all(now >= ts + STEP for ts, now in got)  # each one closed when it came
    assert got[4][1] == T0 + pd.Timedelta("30min") + pd.Timedelta(seconds=2)
    assert clock.slept[0] == pytest.approx(3 * 60 + 2)  # until 00:30 plus the grace
    assert len(reasons) == 1
    assert "high" in reasons[0]


def test_polling_resumes_after_the_last_candle_handled() -> None:
    # Arrange
    clock = AdvancingClock(T0 + pd.Timedelta("1h"))
    source, _ = polling(candles("2024-01-01", 12, 5 * MINUTE_MS), clock)
    # Act
    first = next(iter(source.bars(after=T0 + 5 * STEP)))
    # Assert
    assert first["ts"] == T0 + 6 * STEP


def test_live_loop_sends_to_the_venue_and_the_kill_switch_cancels_and_flattens(
    tmp_path: Path,
) -> None:
    # Arrange: long at bar 0's close on the venue; a person kills with flatten at bar 4
    loop, bars, venue, ledger = flat_live_loop(
        tmp_path, 10, "live-test", Scripted(S.intents(10, {0: 1.0}))
    )
    clock = loop.clock
    # Act
    loop.run(bars, limit=4)
    held = (loop.runner.engine.position, venue.position * venue.contract_size)
    request(ledger, "kill", "ops", clock.now(), flatten=True, reason="drill")
    loop.run(bars, limit=4)
    # Assert
    assert held[0] > 0.0
    assert held[1] == pytest.approx(held[0])
    assert venue.position == 0
    assert loop.runner.engine.position == 0.0
    view = fold(ledger.events())
    assert view.halted == "kill switch: by ops: drill"
    assert not view.open_orders()
    assert sorted(o.intent.leg for o in view.orders.values() if o.state == "filled") == [
        "close", "entry",
    ]  # fmt: skip
    decisions = [e.body for e in ledger.events(kinds=("decision",)) if "bar" in e.body]
    assert len(decisions) == 8
    assert {d["session"] for d in decisions} == {"live-test"}
    balances = [e.body for e in ledger.events(kinds=("balance",))]
    assert [(b["source"], b["total"]) for b in balances] == [("delta", 1e9)]  # the venue's, once


@pytest.mark.parametrize("checkpoint_kept", [True, False])
@pytest.mark.parametrize("died_after", [3, 4])
def test_a_live_restart_hands_the_engine_the_fills_booked_after_its_checkpoint(
    tmp_path: Path, died_after: int, checkpoint_kept: bool
) -> None:
    # Arrange: a market entry at bar 3 fills at once on the venue; the process dies after
    # bar 3 (the fill not booked yet) or bar 4 (booked, handed, not checkpointed), its last
    # checkpoint from the bar before, or none at all (the engine is rebuilt from the ledger's
    # bars); the scripted exit at bar 9 closes the trade
    symbol = "BTC/USDT:USDT"
    n = 14
    rows = [[int((T0 + k * STEP).value // 1_000_000), 100.0, 100.0, 100.0, 100.0, 1.0]
            for k in range(n)]  # fmt: skip
    clock = AdvancingClock(T0 + STEP)
    source, _ = polling(rows, clock, symbol)
    venue = FakeVenue(contract_size=0.01, price=100.0, margin=1e9)
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    checkpoint = tmp_path / "checkpoint.pkl"

    def process() -> tuple[TradingLoop, CcxtBroker]:
        broker = CcxtBroker(venue, ledger, clock, CcxtBrokerConfig(symbol))
        broker.start()
        loop = TradingLoop(
            S.config(), LoopConfig(symbol, "5m", session="live", checkpoint_every=1), ledger,
            clock, broker=broker, strategy=Scripted(S.intents(n, {3: 1.0}, exits={9: "long"})),
            checkpoint=checkpoint,
        )  # fmt: skip
        loop.start()
        return loop, broker

    first, _ = process()
    before = source.bars(first.last_ts)
    first.run(before, limit=died_after)
    saved = checkpoint.read_bytes()
    first.run(before, limit=1)
    checkpoint.write_bytes(saved)  # died before this bar's checkpoint
    if not checkpoint_kept:
        checkpoint.unlink()
    # Act
    loop, _ = process()  # the re-run moves the test's clock back to the bar it re-runs
    clock.sleep(STEP.total_seconds())  # down for a bar
    bars = source.bars(loop.last_ts)
    loop.run(bars, limit=8 - died_after)
    held = (loop.runner.engine.position, venue.position * venue.contract_size)
    loop.run(bars, limit=3)
    # Assert
    assert held[0] > 0.0
    assert held[0] == pytest.approx(held[1])
    assert venue.position == 0
    assert loop.runner.engine.position == 0.0
    view = fold(ledger.events())
    assert view.positions[symbol].qty == 0.0
    assert sorted(f.venue_trade_id for f in view.fills.values()) == sorted(
        t["id"] for t in venue.trades
    )
    entries = [c for c in venue.creates if not c["params"].get("reduceOnly")]
    assert len(entries) == 1
    trades = loop.runner.result().trades
    assert len(trades) == 1
    assert {o.intent.leg for o in view.orders.values()} >= {"entry", "stop", "close"}
    assert not view.open_orders()


def test_a_live_trade_carries_the_funding_the_venue_charged_while_it_was_open(
    tmp_path: Path,
) -> None:
    # Arrange: long from bar 0 to the scripted exit at bar 6; the venue charges funding after
    # bar 3, while the trade is open
    n = 10
    loop, bars, venue, ledger = flat_live_loop(
        tmp_path, n, "live-funding", Scripted(S.intents(n, {0: 1.0}, exits={6: "long"}))
    )
    clock = loop.clock
    # Act
    loop.run(bars, limit=4)
    venue.now_ms = int(clock.now().value // 1_000_000)
    paid = venue.pay_funding(0.001)
    loop.run(bars, limit=6)
    # Assert
    events = ledger.events()
    closes = pd.Series(100.0, index=[T0 + k * STEP for k in range(1, n + 1)])
    trades = session_trades(fold(events), SYMBOL, Timeframe.parse("5m"), closes,
                            funding_payments(events, SYMBOL))  # fmt: skip
    assert paid < 0.0
    assert len(trades) == 1
    assert trades["session_funding"].iloc[0] == pytest.approx(-paid)  # paid, as the backtest says
    assert venue.position == 0
