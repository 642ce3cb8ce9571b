"""The look-ahead audit passes the real pipeline and catches a strategy that peeks ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving.backtest.audit import audit
from serving.engine import layout as L
from serving.signals import SMCConfluence
from tests.serving.conftest import ACTIVE


class PeeksAhead(SMCConfluence):
    """Buys when the *next* close is higher: a vectorized look-ahead bug."""

    def signals(self, features: np.ndarray) -> np.ndarray:
        out = super().signals(features)
        nxt = np.roll(features[:, 3], -1)
        out[:, L.SIG_ENTRY] = np.where(nxt > features[:, 3] * 1.0005, 1.0, 0.0)
        return out


def test_audit_passes_the_smc_confluence_pipeline(market: pd.DataFrame) -> None:
    # Act
    report = audit(market, "5m", ACTIVE, max_trades=4, prefixes=2)
    # Assert
    assert report.n_trades_checked == 4
    assert len(report.checks) == 4 * 2 + 2
    assert report.passed, report.summary()
    assert report.summary().startswith("look-ahead audit PASSED: 10/10")


def test_audit_catches_a_signal_that_uses_the_next_bar(market: pd.DataFrame) -> None:
    # Act
    report = audit(
        market, "5m", ACTIVE, max_trades=4, prefixes=2, strategy=PeeksAhead(ACTIVE.strategy)
    )
    # Assert
    assert not report.passed
    failed = report.failures()
    assert any("signal.entry" in c.mismatches for c in failed)
    assert "FAILED" in report.summary()
