"""Portfolio accounting: equity is always cash plus the marked position, and adds up."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.execution import ExecutionConfig, accept, match_bar, new_book
from serving.engine.machine import on_close
from serving.engine.portfolio import apply_fills, new_account, new_trades
from serving.engine.risk import RiskConfig

TF = 300_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01
NO_SUB = np.zeros(0)


def _open_pnl(trades: np.ndarray, price: float) -> float:
    live = trades[:, L.T_STATE] >= L.STATE_OPEN
    t = trades[live]
    return float(np.sum(t[:, L.T_DIR] * (price - t[:, L.T_ENTRY_PRICE]) * t[:, L.T_QTY]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    positions=st.integers(1, 4),
    funding=st.sampled_from([0.0, 0.0001, -0.0003]),
    entry_order=st.sampled_from(["market", "limit", "stop"]),
)
def test_equity_is_cash_plus_marked_position_and_initial_plus_pnl_minus_costs(
    seed: int, positions: int, funding: float, entry_order: str
) -> None:
    # Arrange: a random walk, random entries with ATR stops, every cost switched on
    rng = np.random.default_rng(seed)
    cfg = BacktestConfig(
        risk=RiskConfig(
            max_positions=positions, entry_order=entry_order, entry_offset_atr=0.2,
            final_target="fixed", trailing="always", min_stop_costs=0.0,
        ),
        execution=ExecutionConfig(funding_rate=funding),
    )  # fmt: skip
    p = cfg.params("5m")
    acct, trades, book = new_account(cfg.initial_cash), new_trades(), new_book()
    closed = np.empty((L.MAX_SLOTS, L.NTR))
    events = np.empty((L.MAX_EVENTS_PER_BAR, L.NE))
    fills = np.empty((L.MAX_FILLS_PER_BAR, L.NF))
    requests = np.empty((L.MAX_REQUESTS_PER_BAR, L.NR))
    price = 100.0
    cash_flows = cfg.initial_cash
    for i in range(300):
        ts = float(T0 + i * TF)
        o = price
        c = max(1.0, o * np.exp(rng.normal(0, 0.004)))
        h, lo = max(o, c) * (1 + rng.uniform(0, 0.003)), min(o, c) * (1 - rng.uniform(0, 0.003))
        price = c
        # Act: the four steps of a bar
        nf = match_bar(book, ts, o, h, lo, NO_SUB, NO_SUB, NO_SUB, 0, 0, fills, p)
        acct[L.A_N_TRADES] = 0.0
        apply_fills(acct, trades, fills, nf, closed, p)
        for f in fills[:nf]:
            cash_flows -= f[L.F_SIDE] * f[L.F_QTY] * f[L.F_PRICE] + f[L.F_FEE]
        sig = np.full(L.NS, np.nan)
        sig[L.SIG_ATR] = 0.5
        sig[L.SIG_ENTRY] = rng.choice([0.0, 0.0, 0.0, 1.0, -1.0])
        sig[L.SIG_LONG_STOP], sig[L.SIG_SHORT_STOP] = c - 1.0, c + 1.0
        sig[L.SIG_TRAIL_LONG], sig[L.SIG_TRAIL_SHORT] = c - 0.8, c + 0.8
        sig[L.SIG_EXIT_LONG] = sig[L.SIG_EXIT_SHORT] = float(rng.random() < 0.02)
        rate = funding if i % 96 == 95 else 0.0
        nr = on_close(ts, c, rate, sig, acct, trades, p, requests, events)
        accept(book, requests, nr, ts + TF)
        # Assert
        equity = acct[L.A_EQUITY]
        assert equity == pytest.approx(acct[L.A_CASH] + acct[L.A_QTY] * c, rel=1e-12, abs=1e-9)
        assert acct[L.A_CASH] == pytest.approx(cash_flows - acct[L.A_FUNDING], rel=1e-9, abs=1e-6)
        expected = (
            cfg.initial_cash + acct[L.A_REALIZED] + _open_pnl(trades, c)
            - acct[L.A_FEES] - acct[L.A_FUNDING]
        )  # fmt: skip
        assert equity == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert acct[L.A_FEES] > 0.0  # the run traded: the identities were exercised


def test_funding_is_paid_by_longs_and_received_by_shorts() -> None:
    # Arrange
    for direction, sign in ((1.0, 1.0), (-1.0, -1.0)):
        acct, trades = new_account(10_000.0), new_trades()
        trades[0, [L.T_STATE, L.T_DIR, L.T_QTY, L.T_ENTRY_PRICE]] = [
            L.STATE_OPEN,
            direction,
            2.0,
            100.0,
        ]
        acct[L.A_QTY] = direction * 2.0
        # Act
        from serving.engine.portfolio import pay_funding

        pay_funding(acct, trades, 100.0, 0.001)
        # Assert
        assert acct[L.A_FUNDING] == pytest.approx(sign * 0.2)
        assert acct[L.A_CASH] == pytest.approx(10_000.0 - sign * 0.2)
        assert trades[0, L.T_FUNDING] == pytest.approx(sign * 0.2)
