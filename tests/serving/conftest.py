"""Fixtures of the engine tests: synthetic markets and hand-built bars and orders."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from serving.backtest.main import synthetic_candles
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.signals import SMCConfluenceConfig

# A config that trades often on a few weeks of synthetic candles (no discount-zone requirement).
ACTIVE = BacktestConfig(strategy=SMCConfluenceConfig(min_score=3.0, require_zone=False))


def candles_from(
    rows: Sequence[tuple[float, float, float, float]], start: str = "2024-01-01", freq: str = "5min"
) -> pd.DataFrame:
    """Return a canonical frame from ``(open, high, low, close)`` rows (volume 1)."""
    index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="ts")
    data = np.asarray(rows, dtype=np.float64)
    return pd.DataFrame(
        {
            "open": data[:, 0],
            "high": data[:, 1],
            "low": data[:, 2],
            "close": data[:, 3],
            "volume": 1.0,
        },
        index=index,
    )


def new_request(
    trade_id: int = 1,
    direction: float = 1.0,
    order_type: int = L.ORDER_MARKET,
    price: float = np.nan,
    qty: float = 1.0,
    stop: float = 90.0,
    tps: tuple[float, float, float] = (110.0, 120.0, 130.0),
    fractions: tuple[float, float] = (0.5, 0.25),
    slot: int = 0,
) -> np.ndarray:
    """Return one NEW bracket request row."""
    row = np.full((1, L.NR), np.nan)
    r = row[0]
    r[L.R_TS] = 0.0
    r[L.R_REQ] = 1.0
    r[L.R_ID] = trade_id
    r[L.R_SLOT] = slot
    r[L.R_ACTION] = L.ACT_NEW
    r[L.R_DIR] = direction
    r[L.R_TYPE] = order_type
    r[L.R_PRICE] = price
    r[L.R_QTY] = qty
    r[L.R_STOP] = stop
    r[L.R_TP1], r[L.R_TP2], r[L.R_TP3] = tps
    r[L.R_F1], r[L.R_F2] = fractions
    return row


@pytest.fixture(scope="session")
def market() -> pd.DataFrame:
    """Three weeks of seeded synthetic BTC/USDT 5m candles."""
    return synthetic_candles("BTC/USDT", "5m", "2024-01-01", 21, seed=7)
