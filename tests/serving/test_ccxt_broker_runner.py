"""The live runner through the ccxt broker: the engine's book equals the venue's."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.brokers.ccxt import CcxtBroker, CcxtBrokerConfig
from serving.ledger import LedgerConfig, fold, open_ledger
from serving.runtime.clock import SimClock
from serving.runtime.runner import LiveRunner
from tests.serving import scripted as S
from tests.serving.fake_venue import FakeVenue
from tests.serving.test_live_broker import Scripted

SYMBOL = "BTC/USDT:USDT"


def test_an_entry_and_a_close_reach_the_venue_and_come_back_to_the_engine(tmp_path: Path) -> None:
    # Arrange: long at bar 0's close (stop 99), exit intent at bar 3
    bars = [S.FLAT_BAR, S.FLAT_BAR, (100.5, 100.6, 100.4, 100.5), S.FLAT_BAR, S.FLAT_BAR,
            S.FLAT_BAR]  # fmt: skip
    sig = S.intents(len(bars), {0: 1.0}, exits={3: "long"})
    candles = S.candles_from(bars)
    clock = SimClock()
    venue = FakeVenue(contract_size=0.01, price=100.0, margin=1e9)
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    broker = CcxtBroker(venue, ledger, clock, CcxtBrokerConfig(SYMBOL))
    broker.start()
    runner = LiveRunner(S.config(), S.TF, broker, clock, strategy=Scripted(sig), symbol=SYMBOL)
    opens = candles["open"].tolist()
    positions = []
    # Act: a market order sent at a close fills at once, at what becomes the next bar's open
    for i, (ts, row) in enumerate(candles.iterrows()):
        clock.set(ts + S.TF.delta)
        report = runner.on_bar({"ts": ts, **row.to_dict()})
        venue.price = opens[i + 1] if i + 1 < len(opens) else opens[-1]
        positions.append((report.position, venue.position * venue.contract_size))
    # Assert
    fills = runner.result().fills
    assert fills["kind"].tolist() == ["entry", "close"]
    assert fills["qty"].iloc[0] == pytest.approx(fills["qty"].iloc[1])
    engine = [round(a, 9) for a, _ in positions]
    at_venue = [round(b, 9) for _, b in positions]
    assert engine[1:] == at_venue[:-1]  # the engine books a fill at the next bar's poll
    assert engine[1] > 0.0
    assert positions[-1] == (0.0, 0.0)
    view = fold(ledger.events())
    states = {o.intent.leg: o.state for o in view.orders.values()}
    assert states == {"entry": "filled", "close": "filled", "stop": "cancelled",
                      "tp1": "cancelled", "tp2": "cancelled", "tp3": "cancelled"}  # fmt: skip
    assert {o["status"] for o in venue.orders.values() if o["reduce_only"]} == {
        "canceled",
        "closed",
    }
