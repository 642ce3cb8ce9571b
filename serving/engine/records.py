"""Readable frames of the engine's log rows: times as UTC timestamps, codes as names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving.engine import layout as L
from serving.engine.protections import describe_event


def _times(values: pd.Series) -> pd.Series:
    out = pd.to_datetime(values.astype("Int64"), unit="ns", utc=True)
    return out


def _names(codes: pd.Series, names: tuple[str, ...]) -> pd.Series:
    return codes.map(lambda c: names[int(c)] if np.isfinite(c) and 0 <= c < len(names) else "")


def orders_frame(rows: np.ndarray) -> pd.DataFrame:
    """Return the order requests as a frame (``decided_at``: close time of the deciding bar)."""
    frame = pd.DataFrame(rows.reshape(-1, L.NR), columns=list(L.REQUEST_FIELDS))
    frame["ts"] = _times(frame["ts"])
    frame = frame.rename(columns={"ts": "decided_at"})
    frame["action"] = _names(frame["action"], L.ACTIONS)
    frame["order_type"] = _names(frame["order_type"], L.ORDER_TYPES)
    for col in ("request_id", "trade_id", "slot", "direction"):
        frame[col] = frame[col].astype("int64")
    return frame


def fills_frame(rows: np.ndarray) -> pd.DataFrame:
    """Return the fills as a frame (``bar``: open time of the bar the fill happened in)."""
    frame = pd.DataFrame(rows.reshape(-1, L.NF), columns=list(L.FILL_FIELDS))
    frame["ts"] = _times(frame["ts"])
    frame = frame.rename(columns={"ts": "bar"})
    frame["kind"] = _names(frame["kind"], L.FILL_KINDS)
    for col in ("trade_id", "slot", "side"):
        frame[col] = frame[col].astype("int64")
    frame["maker"] = frame["maker"] > 0.5
    frame["closed"] = frame["closed"] > 0.5
    frame["notional"] = frame["price"] * frame["qty"]
    return frame


TRADE_TIMES = {"signal_ts": "decided_at", "entry_ts": "entry_bar", "exit_ts": "exit_bar"}
"""The closed-trade row's times and their names in the frame (and ``trades.csv``):

- ``decided_at``: close time of the signal bar, when the engine decided and sent the entry;
- ``entry_bar``: open time of the bar the entry filled in. A market entry fills at that bar's
  open, the very instant of ``decided_at`` (the next bar opens when the signal bar closes) but
  at the next bar's open price; a limit or stop entry fills later inside that bar or a later one;
- ``exit_bar``: open time of the bar the last exit filled in.
"""


def trades_frame(rows: np.ndarray) -> pd.DataFrame:
    """Return the closed trades as a frame, times named as in :data:`TRADE_TIMES`."""
    frame = pd.DataFrame(rows.reshape(-1, L.NTR), columns=list(L.TRADE_FIELDS))
    for col in TRADE_TIMES:
        frame[col] = _times(frame[col])
    frame = frame.rename(columns=TRADE_TIMES)
    frame["exit_kind"] = _names(frame["exit_kind"], L.FILL_KINDS)
    frame["direction"] = frame["direction"].astype("int64").map({1: "long", -1: "short"})
    for col in ("trade_id", "take_profits_hit", "factors"):
        frame[col] = frame[col].astype("int64")
    return frame


def events_frame(rows: np.ndarray) -> pd.DataFrame:
    """Return the protection events (``at``: close time of the bar that fired it), with why."""
    rows = rows.reshape(-1, L.NE)
    frame = pd.DataFrame(rows, columns=list(L.EVENT_FIELDS))
    frame["reason"] = [describe_event(r) for r in rows]
    frame["ts"] = _times(frame["ts"])
    frame["until"] = _times(frame["until"])
    frame["protection"] = _names(frame["code"], L.REASONS)
    return frame.drop(columns="code").rename(columns={"ts": "at"})


def blocked_counts(acct: np.ndarray) -> dict[str, int]:
    """Return how many entry intents each reason refused."""
    return {
        L.REASONS[k]: int(acct[L.A_BLOCKED + k])
        for k in range(1, len(L.REASONS))
        if acct[L.A_BLOCKED + k] > 0
    }


def account_totals(acct: np.ndarray) -> dict[str, float]:
    """Return the account's running totals: fees and funding paid, traded notional."""
    return {
        "fees_paid": float(acct[L.A_FEES]),
        "funding_paid": float(acct[L.A_FUNDING]),
        "turnover": float(acct[L.A_TURNOVER]),
    }


def hard_stop(acct: np.ndarray) -> dict[str, object]:
    """Return when the account hard stop last fired, the drawdown that fired it and the bars
    closed while it was in force (``hard_stop_at`` None: it never fired)."""
    fired = acct[L.A_HARD_AT] > 0.0
    at = pd.Timestamp(int(acct[L.A_HARD_AT]), tz="UTC") if fired else None
    return {
        "hard_stop_at": f"{at:%Y-%m-%d %H:%M}" if at is not None else None,
        "hard_stop_drawdown": float(acct[L.A_HARD_DD]) if fired else float("nan"),
        "bars_halted": int(acct[L.A_HARD_BARS]),
    }
