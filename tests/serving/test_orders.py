"""Typed orders: validation, and the bridge to the engine's rows round-trips bit for bit."""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest

from serving import orders as O
from serving.backtest.fast import prepare, run_fast
from serving.backtest.main import synthetic_candles
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.risk import RiskConfig
from tests.serving.test_parity import CoinFlip

T0 = pd.Timestamp("2024-01-01 00:05", tz="UTC")


@pytest.fixture(scope="module")
def logs() -> list[Any]:
    market = synthetic_candles("ETH/USDT", "5m", "2024-03-01", 8, seed=11)
    out = []
    for risk in (
        RiskConfig(max_positions=3, trailing="always", min_stop_costs=0.0),
        RiskConfig(entry_order="limit", entry_offset_atr=0.3, entry_timeout="20min"),
        RiskConfig(entry_order="stop", entry_offset_atr=0.2),
    ):
        cfg = BacktestConfig(risk=risk)
        out.append(run_fast(prepare(market, "5m", cfg, strategy=CoinFlip(cfg.strategy))).logs)
    return out


def test_the_typed_names_are_the_engines_codes() -> None:
    assert get_args(O.Action) == L.ACTIONS
    assert get_args(O.OrderType) == L.ORDER_TYPES
    assert get_args(O.FillKind) == L.FILL_KINDS


def test_request_rows_round_trip_through_the_typed_requests(logs: list[Any]) -> None:
    # Arrange
    rows = np.concatenate([lg.orders for lg in logs])
    # Act
    requests = O.requests_from_rows(rows)
    back = O.request_rows(requests)
    # Assert: every action and entry type is covered, and nothing changed
    assert {q.action for q in requests} == {"new", "amend_stop", "cancel", "close"}
    assert {q.order_type for q in requests if q.action == "new"} == {"market", "limit", "stop"}
    assert back.tobytes() == rows.tobytes()


def test_fill_rows_round_trip_through_the_typed_fills(logs: list[Any]) -> None:
    # Arrange
    rows = np.concatenate([lg.fills for lg in logs])
    # Act: the runner converts a bar's fills with that bar's open time
    back = [O.fill_rows([f], f.filled_at) for f in O.fills_from_rows(rows)]  # each fill's own bar
    # Assert
    kinds = {f.kind for f in O.fills_from_rows(rows)}
    assert {"entry", "stop", "close"} <= kinds
    assert np.concatenate(back).tobytes() == rows.tobytes()


def test_a_fill_is_booked_in_the_bar_it_happened_during_whatever_its_own_time() -> None:
    # Arrange: a venue fill at 00:07:31 inside the bar opening at 00:05
    fill = O.Fill(
        trade_id=3, slot=1, kind="entry", side="sell", price=101.5, qty=0.25, fee=0.01,
        maker=False, closes_position=False, filled_at=pd.Timestamp("2024-01-01 00:07:31", tz="UTC"),
        exchange_order_id="8811", exchange_trade_id="t-1", client_order_id="sig-1-0",
    )  # fmt: skip
    # Act
    row = O.fill_rows([fill], T0)[0]
    # Assert
    assert row[L.F_TS] == T0.value
    assert (row[L.F_SIDE], row[L.F_QTY], row[L.F_SLOT]) == (-1.0, 0.25, 1.0)


def test_a_requests_side_is_the_entrys_for_new_and_the_exits_otherwise() -> None:
    new = O.OrderRequest(1, 1, 0, "new", -1, T0, order_type="market", qty=1.0, stop=101.0)
    close = O.OrderRequest(2, 1, 0, "close", -1, T0)
    assert (new.side, close.side) == ("sell", "buy")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: O.OrderRequest(1, 1, 0, "buy", 1, T0), "OrderRequest.action"),
        (lambda: O.OrderRequest(1, 1, 0, "close", 0, T0), "OrderRequest.direction"),
        (lambda: O.OrderRequest(1, 1, 0, "close", 1, pd.Timestamp("2024-01-01")), "decided_at"),
        (lambda: O.OrderRequest(1, 1, 0, "new", 1, T0, order_type="market"), "needs order_type"),
        (
            lambda: O.OrderRequest(1, 1, 0, "new", 1, T0, order_type="limit", qty=1.0, stop=9.0),
            "OrderRequest.price",
        ),
        (lambda: O.OrderRequest(1, 1, 0, "amend_stop", 1, T0), "OrderRequest.stop"),
        (
            lambda: O.Fill(1, 0, "entry", "buy", 10.0, -1.0, 0.0, False, False, T0),
            "Fill.qty",
        ),
        (
            lambda: O.Fill(1, 0, "stop", "sell", 10.0, 1.0, 0.0, False, True, T0, leaves_qty=1.0),
            "leaves nothing working",
        ),
        (
            lambda: O.Rejection(O.OrderRequest(1, 1, 0, "close", 1, T0), "", T0),
            "Rejection.reason",
        ),
        (
            lambda: O.Ack(
                O.OrderRequest(1, 1, 0, "close", 1, T0),
                "x",
                pd.Timestamp("2024-01-01 01:00", tz="Asia/Kolkata"),
            ),
            "Ack.at",
        ),
    ],
)
def test_impossible_orders_are_refused_naming_the_field(build: Any, message: str) -> None:
    with pytest.raises(O.OrderError, match=message):
        build()
