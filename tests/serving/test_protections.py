"""Protections halt new entries for a configured time, and say why."""

from __future__ import annotations

import pytest

from serving.engine.protections import ProtectionsConfig
from serving.engine.validation import ConfigError
from tests.serving import scripted as S


def _blocked_after_losses(
    protections: ProtectionsConfig, n_losses: int, extra_entry_at: int
) -> tuple:
    bars = S.losing_trades(n_losses, tail=400)
    entries = {k: 1.0 for k in S.entry_bars(n_losses)}
    entries[extra_entry_at] = 1.0
    result = S.run(bars, S.intents(len(bars), entries), S.config(protections=protections))
    return result, bars


@pytest.mark.parametrize(
    ("protections", "losses", "reason", "why"),
    [
        (ProtectionsConfig(max_drawdown=0.015, daily_loss_limit=None, cooldown_losses=None,
                           stoploss_guard_trades=None), 2,
         "halted: max drawdown", "reached the 1.5% limit"),
        (ProtectionsConfig(max_drawdown=None, daily_loss_limit=0.015, cooldown_losses=None,
                           stoploss_guard_trades=None), 2,
         "halted: daily loss limit", "daily loss"),
        (ProtectionsConfig(max_drawdown=None, daily_loss_limit=None, cooldown_losses=3,
                           stoploss_guard_trades=None), 3,
         "halted: cooldown after consecutive losses", "3 losing trades in a row"),
        (ProtectionsConfig(max_drawdown=None, daily_loss_limit=None, cooldown_losses=None,
                           stoploss_guard_trades=2), 2,
         "halted: stop-loss guard", "2 losing stop-outs"),
    ],
)  # fmt: skip
def test_each_protection_halts_new_entries_and_says_why(
    protections: ProtectionsConfig, losses: int, reason: str, why: str
) -> None:
    # Arrange: losing trades, then one more entry intent right after the last loss
    next_entry = S.entry_bars(losses)[-1] + 3
    # Act
    result, _ = _blocked_after_losses(protections, losses, next_entry)
    # Assert
    assert len(result.trades) == losses
    assert result.blocked == {reason: 1}
    assert len(result.events) == 1
    assert why in result.events["reason"].iloc[0]
    assert "new entries halted until" in result.events["reason"].iloc[0]


def test_cooldown_ends_after_its_duration_and_entries_resume() -> None:
    # Arrange: 12h cooldown = 144 bars of 5m
    protections = ProtectionsConfig(
        max_drawdown=None, daily_loss_limit=None, cooldown_losses=2, cooldown="12h",
        stoploss_guard_trades=None,
    )  # fmt: skip
    last_loss = S.entry_bars(2)[-1]
    bars = S.losing_trades(2, tail=400)
    entries = {k: 1.0 for k in S.entry_bars(2)}
    entries[last_loss + 100] = 1.0  # inside the cooldown
    entries[last_loss + 160] = 1.0  # after it
    # Act
    result = S.run(bars, S.intents(len(bars), entries), S.config(protections=protections))
    # Assert
    assert result.blocked == {"halted: cooldown after consecutive losses": 1}
    assert len(result.orders[result.orders["action"] == "new"]) == 3


def test_daily_loss_halt_lifts_at_the_next_utc_day() -> None:
    # Arrange: two losses before 23:00 lose 2% of the day's equity
    protections = ProtectionsConfig(
        max_drawdown=None, daily_loss_limit=0.015, cooldown_losses=None, stoploss_guard_trades=None
    )
    bars = S.losing_trades(2, tail=400)
    entries = {k: 1.0 for k in S.entry_bars(2)}
    entries[10] = 1.0  # 23:20, the same day: blocked
    entries[40] = 1.0  # 01:50, the next day: allowed
    # Act
    result = S.run(
        bars,
        S.intents(len(bars), entries),
        S.config(protections=protections),
        start="2024-01-01 22:30",
    )
    # Assert
    assert result.blocked == {"halted: daily loss limit": 1}
    news = result.orders[result.orders["action"] == "new"]
    assert news["decided_at"].iloc[-1].strftime("%Y-%m-%d") == "2024-01-02"


def test_halts_leave_open_positions_to_their_stops() -> None:
    # Arrange: an open loss of ~0.7% fires a 0.5% drawdown halt; the stop at 99.5 is not hit
    protections = ProtectionsConfig(
        max_drawdown=0.005, daily_loss_limit=None, cooldown_losses=None, stoploss_guard_trades=None
    )
    bars = [S.FLAT_BAR] * 3 + [(100.0, 100.2, 99.55, 99.6)] + [(99.6, 99.6, 99.6, 99.6)] * 5
    # Act
    result = S.run(
        bars, S.intents(len(bars), {1: 1.0}, stop_distance=0.5), S.config(protections=protections)
    )
    # Assert
    assert len(result.events) == 1
    assert result.position.iloc[-1] > 0.0  # still held, its stop untouched


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_drawdown", 1.5, "max_drawdown must be in"),
        ("cooldown_losses", 0, "cooldown_losses must be in"),
        ("cooldown", "soon", "cooldown must be a duration"),
        ("stoploss_guard_window", "-1h", "must be a positive duration"),
    ],
)
def test_bad_protection_settings_are_errors_naming_the_field(
    field: str, value: object, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        ProtectionsConfig(**{field: value})  # type: ignore[arg-type]
