"""The order state machine, client order ids and fill sums."""

from __future__ import annotations

import pytest

from serving.order_state import (
    FINAL,
    MAX_CLIENT_ID_LEN,
    STATES,
    TRANSITIONS,
    IllegalTransition,
    check_transition,
    client_order_id,
    is_ours,
    parse_client_order_id,
    state_after_fills,
)
from serving.orders import OrderError

SIGNAL = "0b6e8f1c-3c43-5d3a-9a51-3f0c2b1de001"


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("new", "submitted"),
        ("submitted", "unresolved"),
        ("submitted", "filled"),  # a fill seen before the acknowledgement
        ("unresolved", "accepted"),
        ("unresolved", "rejected"),
        ("accepted", "partially_filled"),
        ("partially_filled", "partially_filled"),
        ("partially_filled", "filled"),
        ("accepted", "lost"),
        ("lost", "cancelled"),
    ],
)
def test_allowed_transitions_pass(current: str, to: str) -> None:
    check_transition("x", current, to)  # type: ignore[arg-type]
    assert to in TRANSITIONS[current]  # type: ignore[index]


@pytest.mark.parametrize(
    ("current", "to"),
    [("filled", "accepted"), ("new", "filled"), ("rejected", "submitted"), ("lost", "unresolved")],
)
def test_an_illegal_transition_names_both_states(current: str, to: str) -> None:
    with pytest.raises(IllegalTransition, match=f"order cid-1: cannot go from {current} to {to}"):
        check_transition("cid-1", current, to)  # type: ignore[arg-type]


def test_final_states_lead_nowhere_and_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(STATES)
    assert all(TRANSITIONS[s] == frozenset() for s in FINAL)
    assert "lost" not in FINAL
    assert "unresolved" not in FINAL


def test_client_ids_are_deterministic_short_and_distinct_per_leg_and_attempt() -> None:
    a = client_order_id(SIGNAL, "entry", 0)
    assert a == client_order_id(SIGNAL, "entry", 0)
    ids = {client_order_id(SIGNAL, leg, n) for leg in ("entry", "stop", "tp1") for n in (0, 1)}
    assert len(ids) == 6
    longest = client_order_id(SIGNAL, "tp3", 999)
    assert len(longest) <= MAX_CLIENT_ID_LEN
    assert longest.replace("-", "").isalnum()
    assert longest == longest.lower()


def test_a_client_id_parses_back_and_its_next_attempt_differs_only_in_the_number() -> None:
    cid = client_order_id(SIGNAL, "stop", 2)
    parts = parse_client_order_id(cid)
    assert parts is not None
    assert (parts.leg, parts.attempt) == ("stop", 2)
    nxt = parts.next_attempt()
    assert nxt == client_order_id(SIGNAL, "stop", 3)
    assert is_ours(cid)
    assert not is_ours("web_3f6286480b194b079870ac75fb6978b7")
    assert not is_ours(None)


@pytest.mark.parametrize(
    ("origin", "leg", "attempt", "field"),
    [("", "entry", 0, "origin"), ("s", "bogus", 0, "leg"), ("s", "entry", 1000, "attempt")],
)
def test_bad_client_id_parts_name_the_field(
    origin: str, leg: str, attempt: int, field: str
) -> None:
    with pytest.raises(OrderError, match=f"client_order_id.{field}"):
        client_order_id(origin, leg, attempt)  # type: ignore[arg-type]


def test_an_order_is_filled_only_when_its_fills_add_up() -> None:
    assert state_after_fills(3.0, [1.0, 1.0]) == "partially_filled"
    assert state_after_fills(3.0, [1.0, 1.0, 1.0]) == "filled"
    assert state_after_fills(0.3, [0.1, 0.1, 0.1]) == "filled"  # float sums within tolerance
    with pytest.raises(OrderError, match="more than the order's quantity"):
        state_after_fills(1.0, [1.0, 1.0])
