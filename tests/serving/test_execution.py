"""The simulated exchange: order types, fees, slippage, intrabar policy, no impossible fills."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.execution import ExecutionConfig, accept, funding_rates, match_bar, new_book
from tests.serving.conftest import new_request

T0 = 1_700_000_000_000_000_000  # a bar open time (ns)
TF = 300_000_000_000
NO_SUB = np.zeros(0)


def _params(**execution: object) -> np.ndarray:
    return BacktestConfig(execution=ExecutionConfig(**execution)).params("5m")  # type: ignore[arg-type]


def _bar(book: np.ndarray, p: np.ndarray, o: float, h: float, lo: float, k: int = 1) -> np.ndarray:
    fills = np.empty((L.MAX_FILLS_PER_BAR, L.NF))
    n = match_bar(book, float(T0 + k * TF), o, h, lo, NO_SUB, NO_SUB, NO_SUB, 0, 0, fills, p)
    return fills[:n].copy()


def _placed(p: np.ndarray, **request: object) -> np.ndarray:
    book = new_book()
    accept(book, new_request(**request), 1, float(T0 + TF))  # type: ignore[arg-type]
    return book


def test_market_entry_waits_for_the_next_bar_and_fills_at_its_open_plus_slippage() -> None:
    # Arrange
    p = _params(slippage_bps=1.0, slippage_range=0.05)
    book = _placed(p)
    # Act
    same_bar = _bar(book, p, 100.0, 101.0, 99.0, k=0)
    next_bar = _bar(book, p, 100.0, 101.0, 99.0, k=1)
    # Assert
    assert len(same_bar) == 0
    assert next_bar[0, L.F_KIND] == L.K_ENTRY
    assert next_bar[0, L.F_PRICE] == pytest.approx(100.0 * 1.0001 + 0.05 * 2.0)
    assert next_bar[0, L.F_FEE] == pytest.approx(next_bar[0, L.F_PRICE] * 0.0005)
    assert next_bar[0, L.F_MAKER] == 0.0


def test_slippage_never_pushes_a_fill_beyond_the_bars_range() -> None:
    # Arrange
    p = _params(slippage_bps=500.0)
    book = _placed(p)
    # Act
    fills = _bar(book, p, 100.0, 100.5, 99.0)
    # Assert
    assert fills[0, L.F_PRICE] == 100.5


@pytest.mark.parametrize(
    ("limit_fill", "low", "open_", "expected"),
    [
        ("touch", 99.0, 100.0, 99.0),  # touched: fills at the limit
        ("through", 99.0, 100.0, None),  # only touched: no fill
        ("through", 98.9, 100.0, 99.0),  # traded through: fills at the limit
        ("through", 98.0, 98.5, 98.5),  # opened below the limit: fills at the better open
    ],
)
def test_buy_limit_fills_by_the_configured_rule_at_the_limit_or_a_better_open(
    limit_fill: str, low: float, open_: float, expected: float | None
) -> None:
    # Arrange
    p = _params(limit_fill=limit_fill)
    book = _placed(p, order_type=L.ORDER_LIMIT, price=99.0, stop=80.0)
    # Act
    fills = _bar(book, p, open_, 101.0, low)
    # Assert
    if expected is None:
        assert len(fills) == 0
    else:
        assert fills[0, L.F_PRICE] == expected
        assert fills[0, L.F_MAKER] == 1.0


@pytest.mark.parametrize(("open_", "high", "base"), [(100.0, 103.0, 102.0), (103.0, 104.0, 103.0)])
def test_buy_stop_entry_triggers_at_its_price_or_the_gap_open(
    open_: float, high: float, base: float
) -> None:
    # Arrange
    p = _params(slippage_bps=0.0, slippage_range=0.0)
    book = _placed(p, order_type=L.ORDER_STOP, price=102.0, stop=95.0)
    # Act
    fills = _bar(book, p, open_, high, 99.0)
    # Assert
    assert fills[0, L.F_KIND] == L.K_ENTRY
    assert fills[0, L.F_PRICE] == base


def test_bar_reaching_stop_and_target_takes_the_stop_first() -> None:
    # Arrange: long from the open at 100, stop 95, first target 105; the bar spans 94..106
    p = _params(slippage_bps=0.0, slippage_range=0.0)
    book = _placed(p, stop=95.0, tps=(105.0, 110.0, 115.0))
    # Act
    fills = _bar(book, p, 100.0, 106.0, 94.0)
    # Assert
    kinds = fills[:, L.F_KIND].tolist()
    assert kinds == [L.K_ENTRY, L.K_STOP]
    assert fills[1, L.F_PRICE] == 95.0
    assert fills[1, L.F_QTY] == 1.0
    assert fills[1, L.F_CLOSED] == 1.0


def test_replay_on_lower_timeframe_bars_resolves_the_order_inside_the_bar() -> None:
    # Arrange: the first 1m bar reaches the target, the next one the stop
    p = _params(slippage_bps=0.0, slippage_range=0.0, intrabar="replay")
    book = _placed(p, stop=95.0, tps=(105.0, 110.0, 115.0))
    sub_o, sub_h, sub_l = np.array([100.0, 105.0]), np.array([106.0, 105.5]), np.array([99.5, 94.0])
    fills = np.empty((L.MAX_FILLS_PER_BAR, L.NF))
    # Act
    n = match_bar(book, float(T0 + TF), 100.0, 106.0, 94.0, sub_o, sub_h, sub_l, 0, 2, fills, p)
    # Assert
    assert fills[:n, L.F_KIND].tolist() == [L.K_ENTRY, L.K_TP1, L.K_STOP]
    assert fills[1, L.F_QTY] == 0.5
    assert fills[2, L.F_QTY] == 0.5


def test_opening_through_the_stop_fills_at_the_open_not_at_the_stop() -> None:
    # Arrange
    p = _params(slippage_bps=0.0, slippage_range=0.0)
    book = _placed(p, stop=95.0)
    _bar(book, p, 100.0, 101.0, 99.0, k=1)
    # Act
    fills = _bar(book, p, 90.0, 91.0, 89.0, k=2)
    # Assert
    assert fills[0, L.F_KIND] == L.K_STOP
    assert fills[0, L.F_PRICE] == 90.0


def test_take_profit_ladder_fills_in_parts_and_the_last_level_closes() -> None:
    # Arrange
    p = _params(slippage_bps=0.0, slippage_range=0.0)
    book = _placed(p, qty=2.0, stop=95.0, tps=(110.0, 120.0, 130.0))
    _bar(book, p, 100.0, 101.0, 99.0, k=1)
    # Act
    first = _bar(book, p, 101.0, 121.0, 100.0, k=2)
    last = _bar(book, p, 121.0, 131.0, 120.0, k=3)
    # Assert
    assert first[:, L.F_KIND].tolist() == [L.K_TP1, L.K_TP2]
    assert first[:, L.F_QTY].tolist() == [1.0, 0.5]
    assert first[:, L.F_PRICE].tolist() == [110.0, 120.0]
    assert last[0, L.F_KIND] == L.K_TP3
    assert last[0, L.F_QTY] == 0.5
    assert last[0, L.F_CLOSED] == 1.0


def test_limit_entry_filled_inside_a_bar_does_not_take_profit_in_that_bar() -> None:
    # Arrange: the limit fills on the way down; the high (before or after?) is unknown
    p = _params()
    book = _placed(p, order_type=L.ORDER_LIMIT, price=99.0, stop=90.0, tps=(101.0, 102.0, 103.0))
    # Act
    fills = _bar(book, p, 100.0, 104.0, 98.0)
    # Assert
    assert fills[:, L.F_KIND].tolist() == [L.K_ENTRY]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(90, 110), st.floats(0, 5), st.floats(0, 5), st.floats(0, 1)),
        min_size=2,
        max_size=30,
    ),
    st.sampled_from([L.ORDER_MARKET, L.ORDER_LIMIT, L.ORDER_STOP]),
    st.floats(0.5, 8.0),
    st.floats(0.0, 200.0),
)
def test_no_fill_is_ever_at_a_price_the_bar_never_traded(
    bars: list[tuple[float, float, float, float]], order_type: int, stop_gap: float, slip: float
) -> None:
    # Arrange
    p = _params(slippage_bps=slip, slippage_range=0.2)
    book = new_book()
    entry = bars[0][0]
    request = new_request(
        order_type=order_type,
        price=entry - 1.0 if order_type == L.ORDER_LIMIT else entry + 1.0,
        stop=entry - stop_gap,
        tps=(entry + stop_gap, entry + 2 * stop_gap, entry + 3 * stop_gap),
    )
    accept(book, request, 1, float(T0))
    # Act / Assert
    for k, (mid, up, down, frac) in enumerate(bars):
        high, low = mid + up, mid - down
        open_ = low + frac * (high - low)
        fills = _bar(book, p, open_, high, low, k=k)
        assert np.all(fills[:, L.F_PRICE] <= high)
        assert np.all(fills[:, L.F_PRICE] >= low)


def test_funding_is_charged_at_the_bars_that_close_on_the_8h_grid() -> None:
    # Arrange
    ts = pd.date_range("2024-01-01", periods=24 * 12, freq="5min", tz="UTC").asi8
    # Act
    perp = funding_rates(ts, TF, ExecutionConfig(funding_rate=0.0001))
    spot = funding_rates(ts, TF, ExecutionConfig(market="spot"))
    # Assert
    closes = pd.to_datetime(ts[perp != 0] + TF, utc=True)
    assert [t.strftime("%H:%M") for t in closes] == ["08:00", "16:00", "00:00"]
    assert perp[perp != 0].tolist() == [0.0001] * 3
    assert not spot.any()
