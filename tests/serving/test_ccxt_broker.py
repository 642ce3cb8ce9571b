"""The ccxt broker against a fake Delta: submission discipline and every fault of issue 13.

After each fault: nothing lost (every order the venue holds is in the ledger, every fill
recorded once), nothing doubled (one create per client id, one order per intent), and the
ledger's position equals the venue's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import ccxt
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.brokers.ccxt import (
    CcxtBroker,
    CcxtBrokerConfig,
    TradingHalted,
    VenueUnavailable,
)
from serving.brokers.venues.base import WeightedWindow
from serving.ledger import LedgerConfig, fold, open_ledger
from serving.ledger.store import Ledger
from serving.orders import Ack, OrderRequest, Rejection
from serving.reconcile import ReconcileConfig
from serving.runtime.clock import SimClock
from tests.serving.fake_venue import Crash, FakeVenue

SYMBOL = "BTC/USDT:USDT"
T0 = pd.Timestamp("2026-01-01 00:05", tz="UTC")
BAR = {"ts": T0, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}


def entry(trade_id: int = 1, qty: float = 0.005, **kw: object) -> OrderRequest:
    values: dict = {
        "request_id": trade_id, "trade_id": trade_id, "slot": 0, "action": "new",
        "direction": 1, "decided_at": T0, "order_type": "market", "qty": qty,
        "stop": 95_000.0, "tp1": 110_000.0, "tp1_fraction": 0.6, "tp3": 120_000.0,
    }  # fmt: skip
    values.update(kw)
    return OrderRequest(**values)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Ledger]]:
    """Open the ledger of the test (the same one each call), on each backend; close them all."""
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else None
    config = LedgerConfig.build(tmp_path, dsn=dsn)
    opened: list[Ledger] = []

    def open_() -> Ledger:
        opened.append(open_ledger(config))
        return opened[-1]

    yield open_
    for ledger in opened:
        ledger.close()


def make(
    store: Callable[[], Ledger], venue: FakeVenue | None = None, **config: object
) -> CcxtBroker:
    venue = venue or FakeVenue()
    ledger = store()
    clock = SimClock(T0 + pd.Timedelta("10s"))
    broker = CcxtBroker(venue, ledger, clock, CcxtBrokerConfig(SYMBOL, **config))
    broker.start()
    return broker


def assert_books_agree(broker: CcxtBroker) -> None:
    venue: FakeVenue = broker.x
    view = fold(broker.ledger.events())
    cids = [c["params"].get("clientOrderId") for c in venue.creates]
    assert len(cids) == len(set(cids)), "a client id was sent twice"
    for o in venue.orders.values():
        cid = o["clientOrderId"]
        if cid and cid.startswith("sm"):
            assert cid in view.orders, f"venue order {cid} missing from the ledger"
            assert view.orders[cid].exchange_order_id == o["id"]
    assert sorted(view.fills) == sorted(t["id"] for t in venue.trades)
    ours = view.positions.get(SYMBOL)
    assert (ours.qty if ours else 0.0) == pytest.approx(venue.position * venue.contract_size)


def test_an_entry_is_stored_before_it_is_sent_and_filled_once(store: Callable[[], Ledger]) -> None:
    broker = make(store)
    started = broker.view.last_seq
    [ack] = broker.submit([entry()])
    assert isinstance(ack, Ack)
    events = broker.ledger.events(since=started)
    assert [e.kind for e in events[:2]] == ["intent", "state"]  # written before the create
    assert broker.x.creates[0]["amount"] == 5.0  # whole contracts of 0.001 BTC
    fills = broker.poll(BAR)
    assert [(f.kind, f.qty, f.leaves_qty) for f in fills] == [("entry", 0.005, 0.0)]
    legs = sorted((o["clientOrderId"][-3:], o["amount"], o["reduce_only"])
                  for o in broker.x.orders.values())  # fmt: skip
    assert legs == [("-e0", 5.0, False), ("-s0", 5.0, True), ("t10", 3.0, True), ("t30", 2.0, True)]
    protective = [c for c in broker.x.creates if c["params"].get("reduceOnly")]
    assert {c["params"].get("stop_order_type") for c in protective} == {"stop_loss_order", None}
    assert broker.poll(BAR) == []  # nothing new: nothing emitted twice
    assert_books_agree(broker)


def test_the_same_request_after_a_restart_is_not_sent_again(store: Callable[[], Ledger]) -> None:
    broker = make(store)
    broker.submit([entry()])
    again = CcxtBroker(broker.x, broker.ledger, broker.clock, broker.config)
    [answer] = again.submit([entry()])
    assert isinstance(answer, Ack)
    assert len(broker.x.creates) == 1


def test_timeout_after_the_exchange_accepted_is_resolved_by_client_id(
    store: Callable[[], Ledger],
) -> None:
    venue = FakeVenue()
    venue.fail("create_order", "timeout_after")
    broker = make(store, venue)
    assert broker.submit([entry()]) == []  # no answer: unresolved, not a rejection
    cid = venue.creates[0]["params"]["clientOrderId"]
    assert broker.view.orders[cid].state == "unresolved"
    fills = broker.poll(BAR)
    assert [f.kind for f in fills] == ["entry"]
    assert broker.view.orders[cid].state == "filled"
    assert [c["what"] for c in broker.view.corrections][:1] == ["resolved"]
    assert_books_agree(broker)


def test_a_timeout_before_sending_is_rejected_after_lookups_and_resubmitted(
    store: Callable[[], Ledger],
) -> None:
    venue = FakeVenue()
    venue.fail("create_order", "timeout_before")
    broker = make(store, venue, reconcile=ReconcileConfig(misses_to_reject=2))
    broker.submit([entry()])
    first = broker.view.in_state("unresolved")[0].client_order_id
    assert broker.poll(BAR) == []  # one miss
    fills = broker.poll(BAR)  # second miss: rejected, sent again as attempt 1
    assert broker.view.orders[first].state == "rejected"
    second = first[:-1] + "1"
    assert broker.view.orders[second].intent.replaces == first
    assert [f.client_order_id for f in fills] + [f.client_order_id for f in broker.poll(BAR)] == [
        second
    ]
    assert_books_agree(broker)


def test_rate_limit_on_create_is_unresolved_then_resubmitted_once(
    store: Callable[[], Ledger],
) -> None:
    venue = FakeVenue()
    venue.fail("create_order", "rate_limit")
    broker = make(store, venue, reconcile=ReconcileConfig(misses_to_reject=1))
    assert broker.submit([entry()]) == []
    broker.poll(BAR)
    broker.poll(BAR)
    assert len([o for o in venue.orders.values() if o["clientOrderId"].endswith("-e1")]) == 1
    assert venue.position == 5.0
    assert_books_agree(broker)


def test_exchange_down_at_start_up_sends_nothing_and_says_so(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue(down=True)
    ledger = store()
    broker = CcxtBroker(venue, ledger, SimClock(T0), CcxtBrokerConfig(SYMBOL))
    with pytest.raises(VenueUnavailable, match=r"not answering.*nothing was sent"):
        broker.start()
    assert (venue.creates, ledger.events()) == ([], [])
    venue.down = False
    broker.start()
    assert isinstance(broker.submit([entry()])[0], Ack)


def test_a_crash_between_submit_and_ack_is_reconciled_after_restart(
    store: Callable[[], Ledger],
) -> None:
    venue = FakeVenue()
    venue.fail("create_order", "crash")
    broker = make(store, venue)
    with pytest.raises(Crash):
        broker.submit([entry()])
    del broker  # kill -9: the process state is gone, the ledger stays
    ledger = store()
    restarted = CcxtBroker(
        venue, ledger, SimClock(T0 + pd.Timedelta("1min")), CcxtBrokerConfig(SYMBOL)
    )
    restarted.start()
    [order] = [o for o in restarted.view.orders.values() if o.intent.leg == "entry"]
    assert (order.state, order.history[-2:]) == ("filled", ["unresolved", "filled"])
    restarted.submit([entry()])  # the engine replays the bar: not sent twice
    assert len([c for c in venue.creates if c["params"]["clientOrderId"].endswith("-e0")]) == 1
    assert_books_agree(restarted)


def test_partial_fills_fill_the_order_only_when_they_add_up(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue(partial_parts=3)
    broker = make(store, venue)
    broker.submit([entry(qty=0.006)])
    first = broker.poll(BAR)
    cid = first[0].client_order_id
    assert ([f.qty for f in first], broker.view.orders[cid].state) == ([0.002], "partially_filled")
    venue.tick()
    venue.tick()
    rest = broker.poll(BAR)
    assert [round(f.leaves_qty, 9) for f in first + rest] == [0.004, 0.002, 0.0]
    assert broker.view.orders[cid].state == "filled"
    assert_books_agree(broker)


def test_insufficient_margin_is_a_rejection_with_the_venues_reason(
    store: Callable[[], Ledger],
) -> None:
    broker = make(store, FakeVenue(margin=1.0))
    [answer] = broker.submit([entry()])
    assert isinstance(answer, Rejection)
    assert "InsufficientFunds" in answer.reason
    assert "insufficient_margin" in answer.reason
    assert broker.poll(BAR) == []  # not repeated as a late rejection
    assert_books_agree(broker)


def test_a_fill_before_the_ack_is_booked_once_with_its_order(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue()
    venue.fail("create_order", "timeout_after", "timeout_after")
    broker = make(store, venue)
    venue.fail("fetch_order", "down")  # the first lookup fails: the fill is seen first
    fills = broker.poll(BAR) if broker.submit([entry()]) == [] else []
    assert fills == []
    assert len(broker.view.unlinked) == 1  # the venue's fill, waiting for its order
    later = broker.poll(BAR)
    assert [(f.kind, f.qty) for f in later] == [("entry", 0.005)]
    assert broker.view.unlinked == []
    assert broker.poll(BAR) == []  # the stop's own timed-out create is found by its client id
    assert_books_agree(broker)


def test_clock_skew_is_resynchronized_and_the_order_resolved(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue()
    broker = make(store, venue, reconcile=ReconcileConfig(misses_to_reject=1))
    venue.clock_offset_s = 30.0  # the venue's clock runs ahead by more than 5 s
    assert broker.submit([entry()]) == []
    assert [c["what"] for c in broker.view.corrections] == ["clock"]
    fills = broker.poll(BAR)  # not at the venue: rejected, sent again with the synced clock
    fills += broker.poll(BAR)
    assert [f.client_order_id[-2:] for f in fills] == ["e1"]
    assert_books_agree(broker)


def test_bad_input_is_refused_naming_the_field_and_nothing_is_sent(
    store: Callable[[], Ledger],
) -> None:
    broker = make(store)
    small, wrong = broker.submit([
        entry(trade_id=1, qty=0.0004),
        entry(trade_id=2, order_type="limit", price=94_000.0),
    ])  # fmt: skip
    assert "qty 0.0004 is below delta's minimum" in small.reason
    assert "stop 95000 must be below the entry 94000" in wrong.reason
    assert broker.x.creates == []


def test_wrong_credentials_are_refused_and_never_shown(store: Callable[[], Ledger], caplog) -> None:
    venue = FakeVenue(apiKey="key-ZZZZ", secret="secret-YYYY")
    caplog.set_level(logging.DEBUG)
    broker = make(store, venue)
    [answer] = broker.submit([entry()])
    assert isinstance(answer, Rejection)
    assert "invalid_api_key" in answer.reason
    stored = " ".join(e.body_json() for e in broker.ledger.events())
    for secret in ("key-ZZZZ", "secret-YYYY"):
        assert secret not in caplog.text
        assert secret not in answer.reason
        assert secret not in stored


def test_an_external_order_is_tagged_and_left_alone(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue()
    xid = venue.place_external("buy", 1.0, 90_000.0)
    broker = make(store, venue)
    assert xid in broker.view.external
    broker.poll(BAR)
    assert venue.orders[xid]["status"] == "open"
    assert "cancel_order" not in venue.calls


def test_a_position_mismatch_halts_trading_with_the_reason(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue()
    broker = make(store, venue)
    venue.position = 3.0  # somebody traded outside the ledger's sight (no fills visible)
    broker.poll(BAR)
    assert broker.view.halted is not None
    assert "position mismatch on BTC/USDT:USDT: ledger 0, exchange 0.003" in broker.view.halted
    [answer] = broker.submit([entry(trade_id=9)])
    assert isinstance(answer, Rejection)
    assert answer.reason.startswith("trading halted")
    restarted = CcxtBroker(venue, broker.ledger, broker.clock, broker.config)
    with pytest.raises(TradingHalted):
        restarted.start()


def test_out_of_order_lists_give_fills_in_time_order(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue(partial_parts=3, reverse_lists=True)
    broker = make(store, venue)
    broker.submit([entry(qty=0.006)])
    venue.tick()
    venue.tick()
    fills = broker.poll(BAR)
    assert [f.filled_at for f in fills] == sorted(f.filled_at for f in fills)
    assert [round(f.leaves_qty, 9) for f in fills] == [0.004, 0.002, 0.0]
    assert_books_agree(broker)


def test_a_stop_fill_closes_the_trade_and_cancels_the_take_profits(
    store: Callable[[], Ledger],
) -> None:
    venue = FakeVenue()
    broker = make(store, venue)
    broker.submit([entry()])
    broker.poll(BAR)
    venue.set_price(94_000.0)
    [stop] = broker.poll(BAR)
    assert (stop.kind, stop.qty, stop.closes_position) == ("stop", 0.005, True)
    assert {o["status"] for o in venue.orders.values()} == {"closed", "canceled"}
    assert venue.position == 0.0
    assert_books_agree(broker)


def test_an_unmapped_error_is_unresolved_not_rejected(store: Callable[[], Ledger]) -> None:
    venue = FakeVenue()
    venue.fail("create_order", ccxt.ExchangeError('delta {"error":{"code":"mystery"}}'))
    broker = make(store, venue)
    assert broker.submit([entry()]) == []
    assert len(broker.view.in_state("unresolved")) == 1


def test_reads_that_are_rate_limited_prove_nothing_missing(store) -> None:
    venue = FakeVenue()
    broker = make(store, venue, reconcile=ReconcileConfig(misses_to_lost=1))
    broker.submit([entry(order_type="limit", price=99_000.0, stop=95_000.0)])
    venue.fail("fetch_open_orders", "rate_limit")
    venue.fail("fetch_my_trades", "rate_limit")
    assert broker.poll(BAR) == []
    [order] = broker.view.orders.values()
    assert (order.state, order.misses) == ("accepted", 0)
    assert_books_agree(broker)


def test_the_weighted_budget_delays_calls_instead_of_spending_past_it(store) -> None:
    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    budget = WeightedWindow(budget=12.0, window_s=300.0, weights={"create_order": 5.0})
    venue = FakeVenue()
    ledger = store()
    broker = CcxtBroker(
        venue, ledger, SimClock(T0), CcxtBrokerConfig(SYMBOL), limiter=budget,
        sleep=sleep,
        monotonic=lambda: now[0],
    )  # fmt: skip
    broker.submit([entry(trade_id=1, order_type="limit", price=99_000.0)])
    broker.submit([entry(trade_id=2, order_type="limit", price=99_000.0)])
    broker.submit([entry(trade_id=3, order_type="limit", price=99_000.0)])
    assert waits == [300.0]  # the third create waited for the first to leave the window
    assert len(venue.creates) == 3


def test_the_dead_mans_switch_is_armed_at_every_reconciliation(store) -> None:
    venue = FakeVenue()
    broker = make(store, venue, dead_man_s=60.0)
    broker.poll(BAR)
    assert venue.dead_man == ["60000", "60000"]  # at start-up and at the poll


class DownLedger:
    """A ledger whose database is down for writes."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner

    def append(self, events):
        raise OSError("database is down")

    def events(self, since=0, kinds=None):
        return self.inner.events(since, kinds)


def test_nothing_is_sent_when_the_intent_cannot_be_stored(store) -> None:
    venue = FakeVenue()
    broker = CcxtBroker(venue, DownLedger(store()), SimClock(T0), CcxtBrokerConfig(SYMBOL))
    broker._market = venue.market(SYMBOL)
    with pytest.raises(OSError, match="database is down"):
        broker.submit([entry()])
    assert venue.creates == []


def test_postgres_restarted_mid_run_loses_nothing(pg_dsn: str, tmp_path: Path) -> None:
    import psycopg

    ledger = open_ledger(LedgerConfig.build(tmp_path, dsn=pg_dsn))
    venue = FakeVenue()
    broker = CcxtBroker(venue, ledger, SimClock(T0 + pd.Timedelta("10s")), CcxtBrokerConfig(SYMBOL))
    broker.start()
    broker.submit([entry(trade_id=1)])
    dbname = psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]
    admin = pg_dsn.replace(f"dbname={dbname}", "dbname=postgres")
    with psycopg.connect(admin, autocommit=True) as conn:  # what a server restart does to us
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (dbname,),
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    assert [f.kind for f in broker.poll(BAR)] == ["entry"]
    broker.submit([entry(trade_id=2)])
    broker.poll(BAR)
    assert_books_agree(broker)
    ledger.close()


CREATE_FAULTS = [None, "timeout_after", "timeout_before", "rate_limit", "down", "crash"]
READ_FAULTS = [None, "down", "rate_limit", "timeout_before"]
READS = ["fetch_open_orders", "fetch_my_trades", "fetch_order", "fetch_positions"]


@settings(max_examples=int(os.environ.get("SMARTMARKET_FAULT_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["submit", "poll", "tick", "move"]),
            st.sampled_from(CREATE_FAULTS),
            st.sampled_from(READS),
            st.sampled_from(READ_FAULTS),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    parts=st.integers(1, 3),
    prices=st.lists(st.sampled_from([94_000.0, 100_000.0, 112_000.0, 125_000.0]), max_size=12),
)
def test_any_sequence_of_faults_loses_and_doubles_nothing(steps, parts, prices) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        venue = FakeVenue(partial_parts=parts)
        ledger = open_ledger(LedgerConfig.build(Path(tmp)))
        config = CcxtBrokerConfig(SYMBOL, reconcile=ReconcileConfig(misses_to_reject=2))
        clock = SimClock(T0 + pd.Timedelta("10s"))
        broker = CcxtBroker(venue, ledger, clock, config)
        broker.start()
        trade = halted = 0
        for action, create_fault, read, read_fault, refuse_exit in steps:
            try:
                if action == "submit":
                    trade += 1
                    if create_fault is not None:
                        venue.fail("create_order", create_fault)
                    answers = broker.submit([entry(trade_id=trade)])
                    venue.script.pop("create_order", None)  # not sent (halted): not the next's
                    halted += any(isinstance(a, Rejection) and "halted" in a.reason
                                  for a in answers)  # fmt: skip
                elif action == "poll":
                    if read_fault is not None:
                        venue.fail(read, read_fault)
                    venue.refuse_exits += refuse_exit  # a stop, take-profit or close refused
                    broker.poll(BAR)
                elif action == "move" and prices:
                    venue.set_price(prices.pop(0))  # stops and take-profits may fill
                else:
                    venue.tick()
            except Crash:  # kill -9: a new process on the same ledger
                venue.script.pop("create_order", None)
                broker = CcxtBroker(venue, ledger, clock, config)
                broker.start()
        venue.script.clear()
        venue.refuse_exits = 0
        for _ in range(4):  # the venue answers again: everything settles
            broker.poll(BAR)
        view = fold(ledger.events())
        assert [o.client_order_id for o in view.in_state("unresolved", "submitted", "lost")] == []
        entries: dict[str, int] = {}
        for o in venue.orders.values():
            if o["clientOrderId"].split("-")[1].startswith("e"):
                digest = o["clientOrderId"].split("-")[0]
                entries[digest] = entries.get(digest, 0) + 1
        assert all(n == 1 for n in entries.values()), entries  # no entry placed twice
        assert len(entries) == trade - halted  # no entry lost (none sent while halted)
        assert_books_agree(broker)
        ledger.close()


def test_a_new_trade_after_a_restart_reusing_an_engine_trade_id_is_protected(store) -> None:
    venue = FakeVenue()
    broker = make(store, venue)
    broker.submit([entry(trade_id=1)])
    broker.poll(BAR)
    venue.set_price(94_000.0)  # the stop closes trade 1
    broker.poll(BAR)
    restarted = CcxtBroker(venue, broker.ledger, broker.clock, broker.config)
    restarted.start()
    later = T0 + pd.Timedelta("1h")  # the new process's engine numbers its trades from 1 again
    venue.price = 100_000.0
    restarted.submit([entry(trade_id=1, decided_at=later)])
    [fill] = restarted.poll(BAR)
    assert (fill.kind, fill.trade_id) == ("entry", 1)
    stops = [o for o in venue.orders.values() if o["stop_price"] is not None]
    assert [o["status"] for o in stops] == ["closed", "open"]  # the new trade has its stop
    assert_books_agree(restarted)


def test_take_profits_filled_in_one_poll_close_the_trade_only_at_the_last(store) -> None:
    venue = FakeVenue()
    broker = make(store, venue)
    broker.submit([entry(tp1=101_000.0, tp3=102_000.0)])
    broker.poll(BAR)
    venue.set_price(102_500.0)  # both take-profits fill before the next poll
    fills = broker.poll(BAR)
    assert [(f.kind, f.closes_position) for f in fills] == [("tp1", False), ("tp3", True)]
    assert [round(f.qty, 9) for f in fills] == [0.003, 0.002]
    assert venue.position == 0.0
    assert [o["status"] for o in venue.orders.values() if o["stop_price"]] == ["canceled"]
    assert_books_agree(broker)


def test_the_kill_switch_cancels_flattens_halts_until_a_person_resumes(store) -> None:
    venue = FakeVenue()
    broker = make(store, venue)
    broker.submit([entry(trade_id=1)])
    broker.poll(BAR)  # filled and protected by a stop and take-profits
    venue.fail("create_order", "timeout_after")
    broker.submit([entry(trade_id=2, order_type="limit", price=99_000.0)])  # fate unknown
    broker.kill("operator pressed the button", flatten=True)
    assert venue.position == 0.0
    assert broker.view.halted == "kill switch: operator pressed the button"
    broker.poll(BAR)  # the unknown entry turns out to be working: cancelled now
    assert {o["status"] for o in venue.orders.values()} == {"closed", "canceled"}
    [refused] = broker.submit([entry(trade_id=3)])
    assert isinstance(refused, Rejection)
    assert refused.reason == "trading halted: kill switch: operator pressed the button"
    broker.resume("ops@desk")
    assert isinstance(broker.submit([entry(trade_id=4)])[0], Ack)
    broker.poll(BAR)
    assert_books_agree(broker)


def _stops(venue: FakeVenue) -> list[tuple[float, str]]:
    return [(o["amount"], o["status"]) for o in venue.orders.values() if o["stop_price"]]


def test_a_partly_filled_entry_is_protected_while_it_works(store) -> None:
    # Arrange: 6 contracts that fill 2 at a time, one part per venue step
    venue = FakeVenue(partial_parts=3)
    broker = make(store, venue)
    broker.submit([entry(qty=0.006)])
    covered = []
    # Act
    for _ in range(3):
        broker.poll(BAR)
        live = [amount for amount, status in _stops(venue) if status == "open"]
        covered.append((venue.position, live))
        venue.tick()
    # Assert: one live stop, always as big as the position; take-profits once it is done
    assert covered == [(2.0, [2.0]), (4.0, [4.0]), (6.0, [6.0])]
    assert _stops(venue) == [(2.0, "canceled"), (4.0, "canceled"), (6.0, "open")]
    tps = sorted(o["amount"] for o in venue.orders.values() if o["type"] == "limit")
    assert tps == [3.0, 3.0]  # 60% of 6 contracts rounded down, then the rest
    assert all(c["params"].get("reduceOnly") for c in venue.creates[1:])
    assert_books_agree(broker)


def test_a_refused_stop_closes_the_position_at_market(store) -> None:
    # Arrange: the venue refuses the protective stop (e.g. the price is through it already)
    venue = FakeVenue()
    venue.fail("create_order", None, ccxt.InvalidOrder('delta {"error":{"code":"bad_stop"}}'))
    broker = make(store, venue)
    broker.submit([entry()])
    # Act
    first = broker.poll(BAR)
    second = broker.poll(BAR)
    # Assert
    assert [f.kind for f in first] == ["entry"]
    assert [(f.kind, f.qty, f.closes_position) for f in second] == [("close", 0.005, True)]
    assert venue.position == 0.0
    assert not [o for o in venue.orders.values() if o["status"] == "open"]
    [why] = [e.body for e in broker.ledger.events(kinds=("correction",))
             if e.body["what"] == "protective stop refused"]  # fmt: skip
    assert "bad_stop" in why["detail"]
    assert broker.view.halted is None
    assert_books_agree(broker)


def test_a_refused_stop_and_a_refused_close_halt_trading_with_the_reason(store) -> None:
    venue = FakeVenue()
    refusal = ccxt.InvalidOrder('delta {"error":{"code":"bad_stop"}}')
    venue.fail("create_order", None, refusal, ccxt.InvalidOrder("delta reduce_only refused"))
    broker = make(store, venue)
    broker.submit([entry()])
    broker.poll(BAR)
    assert broker.view.halted is not None
    assert broker.view.halted.startswith("position unprotected")
    assert "close it by hand" in broker.view.halted
    assert venue.position == 5.0  # still open: a person must act
    [answer] = broker.submit([entry(trade_id=2)])
    assert isinstance(answer, Rejection)  # nothing new while halted
    assert_books_agree(broker)


def test_funding_payments_are_recorded_once_and_the_balance_when_it_changes(store) -> None:
    # Arrange: long 5 contracts; the venue charges funding twice, once on another contract
    venue = FakeVenue()
    broker = make(store, venue)
    broker.submit([entry()])
    broker.poll(BAR)
    # Act
    paid = [venue.pay_funding(0.0001), venue.pay_funding(0.0002)]
    venue.pay_funding(0.0003, product="ETHUSDT")
    venue.fail("fetch_ledger", "down")
    broker.poll(BAR)  # the funding read fails: nothing recorded, nothing skipped
    missed = len(broker.ledger.events(kinds=("funding",)))
    broker.poll(BAR)
    broker.poll(BAR)  # read again: stored once
    # Assert
    funding = [e.body for e in broker.ledger.events(kinds=("funding",))]
    assert missed == 0
    assert [(f["amount"], f["symbol"], f["currency"]) for f in funding] == [
        (paid[0], SYMBOL, "USDT"), (paid[1], SYMBOL, "USDT"),
    ]  # fmt: skip
    assert paid[0] == pytest.approx(-5 * 0.001 * 100_000.0 * 0.0001)  # a long pays
    assert broker.view.positions[SYMBOL].funding == pytest.approx(sum(paid))
    totals = [e.body["total"] for e in broker.ledger.events(kinds=("balance",))]
    assert totals == [10_000.0, venue.margin]  # at start, then once after the payments
    assert_books_agree(broker)


def test_a_binance_style_funding_history_is_read_per_symbol() -> None:
    class History:
        has: ClassVar[dict[str, bool]] = {"fetchFundingHistory": True}

        def fetch_funding_history(self, symbol: str, since: int) -> list[dict]:
            rows = [
                {"id": "8811", "symbol": SYMBOL, "amount": -0.42, "code": "USDT", "timestamp": 5},
                {"id": "8812", "symbol": "ETH/USDT:USDT", "amount": 1.0, "timestamp": 6},
            ]
            return [r for r in rows if r["timestamp"] >= since]

    from serving.brokers.venues.base import FundingPayment, quirks_for

    market = {"symbol": SYMBOL, "settle": "USDT"}
    got = quirks_for("binanceusdm").funding(History(), market, 0)
    assert got == [FundingPayment("8811", -0.42, "USDT", 5)]
    assert quirks_for("kraken").funding(object(), market, 0) == []  # no history: none


def test_a_growing_stop_keeps_the_amended_price_across_a_restart(store) -> None:
    # Arrange: 6 contracts filling 2 at a time; the engine moves the stop up after the first
    venue = FakeVenue(partial_parts=3)
    broker = make(store, venue)
    broker.submit([entry(qty=0.006)])
    broker.poll(BAR)
    broker.submit([entry(action="amend_stop", stop=97_000.0, tp1=None, tp3=None)])
    # Act: a new process takes over; the rest fills
    restarted = CcxtBroker(venue, broker.ledger, broker.clock, broker.config)
    restarted.start()
    for _ in range(2):
        venue.tick()
        restarted.poll(BAR)
    # Assert
    live = [(o["amount"], o["stop_price"]) for o in venue.orders.values()
            if o["stop_price"] and o["status"] == "open"]  # fmt: skip
    assert live == [(6.0, 97_000.0)]
    assert_books_agree(restarted)


def test_a_crash_between_a_fill_and_its_stop_is_repaired_at_the_next_poll(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: the entry fills and is booked; the process dies before the stop goes out
    venue = FakeVenue()
    broker = make(store, venue)
    broker.submit([entry()])

    def die(_: object) -> None:
        raise Crash("killed after the fill was booked")

    monkeypatch.setattr(broker, "_protect", die)
    with pytest.raises(Crash):
        broker.poll(BAR)
    unprotected = [o for o in venue.orders.values() if o["stop_price"]]
    # Act: a new process on the same ledger
    restarted = CcxtBroker(venue, broker.ledger, broker.clock, broker.config)
    restarted.start()
    restarted.poll(BAR)
    # Assert
    assert unprotected == []
    assert venue.position == 5.0
    live = [(o["amount"], o["stop_price"]) for o in venue.orders.values()
            if o["stop_price"] and o["status"] == "open"]  # fmt: skip
    assert live == [(5.0, 95_000.0)]
    assert_books_agree(restarted)
