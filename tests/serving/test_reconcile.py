"""Reconciliation as pure decisions over a folded ledger and an exchange snapshot."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from serving.ledger import OrderIntent, fold, intent_event, state_event
from serving.ledger.events import FillRecord
from serving.order_state import client_order_id
from serving.reconcile import ReconcileConfig, VenueOrder, VenueSnapshot, reconcile

T0 = pd.Timestamp("2026-01-15 10:30", tz="UTC")
SYMBOL = "BTC/USDT:USDT"
CID = client_order_id("sig-1", "entry")


def order_in(*path: str) -> list:
    intent = OrderIntent(CID, "sig-1", "entry", 0, SYMBOL, "buy", "market", 0.002, 2.0)
    events = [intent_event(intent, T0)]
    states = ["new", *path]
    for a, b in itertools.pairwise(states):
        xid = "X1" if b == "accepted" else None
        events.append(state_event(CID, a, b, T0, exchange_order_id=xid))  # type: ignore[arg-type]
    return events


def snap(**kw: object) -> VenueSnapshot:
    return VenueSnapshot(at=T0, **kw)  # type: ignore[arg-type]


def venue(status: str, filled: float = 0.0, cid: str | None = CID) -> VenueOrder:
    return VenueOrder("X1", cid, status, 0.002, filled, SYMBOL)


def fill(tid: str, qty: float) -> FillRecord:
    return FillRecord(tid, "X1", None, SYMBOL, "buy", 100.0, qty, 0.0, False, T0)


@pytest.mark.parametrize(
    ("found", "fills", "to"),
    [
        (venue("open"), (), "accepted"),
        (venue("open", 0.001), (fill("a", 0.001),), "partially_filled"),
        (venue("closed", 0.002), (fill("a", 0.001),), "partially_filled"),  # fills short
        (venue("closed", 0.002), (fill("a", 0.001), fill("b", 0.001)), "filled"),
        (venue("canceled"), (), "cancelled"),
    ],
)
def test_an_unresolved_order_found_by_client_id_takes_the_exchanges_state(found, fills, to) -> None:
    view = fold(order_in("submitted", "unresolved"))
    rec = reconcile(view, snap(lookups={CID: found}, fills=fills))
    after = fold(rec.events, view)
    assert after.orders[CID].state == to
    assert after.orders[CID].exchange_order_id == "X1"
    assert after.orders[CID].filled_qty == pytest.approx(sum(f.qty for f in fills))
    assert "resolved" in [c["what"] for c in after.corrections]


def test_misses_then_rejection_and_one_resubmit_with_the_next_attempt() -> None:
    view = fold(order_in("submitted", "unresolved"))
    cfg = ReconcileConfig(misses_to_reject=3)
    for n in (1, 2):
        rec = reconcile(view, snap(lookups={CID: None}), cfg)
        assert (rec.resubmit, [e.body["what"] for e in rec.events]) == ([], ["miss"])
        view = fold(rec.events, view)
        assert view.orders[CID].misses == n
    rec = reconcile(view, snap(lookups={CID: None}), cfg)
    [again] = rec.resubmit
    assert (again.client_order_id, again.attempt, again.replaces) == (CID[:-1] + "1", 1, CID)
    assert fold(rec.events, view).orders[CID].state == "rejected"


def test_a_failed_lookup_decides_nothing() -> None:
    view = fold(order_in("submitted", "unresolved"))
    rec = reconcile(view, snap())  # the client id was not looked up (the call failed)
    assert (rec.events, rec.resubmit, rec.halt) == ([], [], None)


def test_a_submitted_order_after_a_restart_becomes_unresolved_first() -> None:
    view = fold(order_in("submitted"))
    rec = reconcile(view, snap(lookups={CID: venue("open")}))
    assert [e.body["to"] for e in rec.events if e.kind == "state"] == ["unresolved", "accepted"]


def test_a_working_order_missing_several_times_becomes_lost_then_is_chased() -> None:
    view = fold(order_in("submitted", "accepted"))
    cfg = ReconcileConfig(misses_to_lost=2)
    view = fold(reconcile(view, snap(), cfg).events, view)
    assert (view.orders[CID].state, view.orders[CID].misses) == ("accepted", 1)
    view = fold(reconcile(view, snap(), cfg).events, view)
    assert view.orders[CID].state == "lost"
    view = fold(reconcile(view, snap(lookups={CID: venue("canceled")}), cfg).events, view)
    assert view.orders[CID].state == "cancelled"


def test_missing_open_orders_prove_nothing_when_they_could_not_be_read() -> None:
    view = fold(order_in("submitted", "accepted"))
    rec = reconcile(view, snap(open_orders_read=False))
    assert rec.events == []


def test_unknown_exchange_orders_are_tagged_external_once() -> None:
    view = fold(order_in("submitted", "accepted"))
    other = VenueOrder("Z9", "web_123", "open", 1.0, 0.0, SYMBOL)
    rec = reconcile(view, snap(open_orders=(venue("open"), other)))
    assert [(e.kind, e.ref, e.body["note"]) for e in rec.events] == [("external", "Z9", "not ours")]
    again = reconcile(fold(rec.events, view), snap(open_orders=(venue("open"), other)))
    assert again.events == []


def test_a_position_mismatch_halts_with_the_reason_and_is_recorded() -> None:
    view = fold(order_in("submitted", "accepted"))
    rec = reconcile(view, snap(open_orders=(venue("open"),), positions={SYMBOL: 0.5}))
    assert rec.halt == (
        "position mismatch on BTC/USDT:USDT: ledger 0, exchange 0.5; "
        "trading halted until a person checks it"
    )
    assert [e.kind for e in rec.events] == ["position", "halt"]


def test_new_fills_are_recorded_once_and_count_toward_the_position() -> None:
    view = fold(order_in("submitted", "accepted"))
    fills = (fill("a", 0.002), fill("a", 0.002))  # the venue listed it twice
    rec = reconcile(view, snap(fills=fills, positions={SYMBOL: 0.002}))
    after = fold(rec.events, view)
    assert (list(after.fills), after.orders[CID].state, rec.halt) == (["a"], "filled", None)


def test_positions_are_not_compared_when_the_fills_could_not_be_read() -> None:
    view = fold(order_in("submitted", "accepted"))
    rec = reconcile(view, snap(open_orders=(venue("open"),), positions={SYMBOL: 0.5},
                               fills_read=False))  # fmt: skip
    assert rec.halt is None
    assert [e.kind for e in rec.events] == ["position"]
