"""Commands to the trading loop travel through the ledger, in order, naming who asked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from serving.control import pending, request
from serving.ledger import LedgerConfig, halt_event, open_ledger
from serving.orders import OrderError

T0 = pd.Timestamp("2026-01-15 10:30", tz="UTC")


def test_commands_are_read_back_in_order_after_a_sequence_number(tmp_path: Path) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    first = request(ledger, "stop", "api:alice", T0, reason="news")
    ledger.append([halt_event("stopped by api:alice", T0)])
    request(ledger, "kill", "dashboard", T0, flatten=True)
    # Act
    after_first = pending(ledger, first)
    everything = pending(ledger)
    # Assert
    assert [c.command for c in everything] == ["stop", "kill"]
    assert everything[0].by == "api:alice"
    assert everything[0].detail == {"reason": "news"}
    assert [c.command for c in after_first] == ["kill"]
    assert after_first[0].detail == {"flatten": True}
    assert after_first[0].seq > first
    ledger.close()


@pytest.mark.parametrize(("command", "by"), [("explode", "cli"), ("stop", "")])
def test_an_unknown_command_or_an_anonymous_one_is_refused(
    tmp_path: Path, command: str, by: str
) -> None:
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    with pytest.raises(OrderError, match="control"):
        request(ledger, command, by, T0)
    assert pending(ledger) == []
    ledger.close()


def test_pending_leaves_out_the_commands_already_handled_whatever_their_number(
    tmp_path: Path,
) -> None:
    # Arrange
    ledger = open_ledger(LedgerConfig.build(tmp_path))
    low = request(ledger, "stop", "api", T0)
    high = request(ledger, "start", "dashboard", T0)
    # Act
    after_high = pending(ledger, done={high})
    after_both = pending(ledger, done={low, high})
    # Assert
    assert [c.seq for c in after_high] == [low]  # below a handled one, still pending
    assert after_both == []
    ledger.close()
