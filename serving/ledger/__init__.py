"""The append-only trading ledger: events, SQLite and PostgreSQL stores, the fold to now."""

from serving.ledger.config import LedgerConfig
from serving.ledger.events import (
    FillRecord,
    LedgerEvent,
    OrderIntent,
    correction_event,
    decision_event,
    fill_event,
    halt_event,
    intent_event,
    resume_event,
    signal_event,
    state_event,
)
from serving.ledger.fold import LedgerView, OrderView, PositionView, fold
from serving.ledger.store import Ledger, LedgerError, PostgresLedger, SqliteLedger, open_ledger

__all__ = [
    "FillRecord",
    "Ledger",
    "LedgerConfig",
    "LedgerError",
    "LedgerEvent",
    "LedgerView",
    "OrderIntent",
    "OrderView",
    "PositionView",
    "PostgresLedger",
    "SqliteLedger",
    "correction_event",
    "decision_event",
    "fill_event",
    "fold",
    "halt_event",
    "intent_event",
    "open_ledger",
    "resume_event",
    "signal_event",
    "state_event",
]
