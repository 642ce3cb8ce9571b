"""Protections halt new entries for a configured time, and say why; the account hard stop
closes everything and halts until re-armed; the model-health flag de-risks or pauses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from serving.engine import layout as L
from serving.engine import records
from serving.engine.config import BacktestConfig
from serving.engine.execution import accept, match_bar, new_book
from serving.engine.protections import ProtectionsConfig
from serving.engine.stepper import Stepper
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


# -- the account hard stop -------------------------------------------------------------------------

HARD = ProtectionsConfig(
    hard_stop=0.005, max_drawdown=None, daily_loss_limit=None, cooldown_losses=None,
    stoploss_guard_trades=None,
)  # fmt: skip
CRASH_BAR = (100.0, 100.2, 99.55, 99.6)  # an open loss of ~0.75% at the close, above the stop
LOW_BAR = (99.6, 99.6, 99.6, 99.6)


def _crash() -> tuple[list[tuple[float, float, float, float]], np.ndarray]:
    """A long entered at bar 1, a crash at bar 3, entry intents before and after, a second crash."""
    bars = [S.FLAT_BAR] * 3 + [CRASH_BAR] + [LOW_BAR] * 5 + [(99.6, 99.6, 90.0, 90.0)] * 3
    bars += [(90.0, 90.0, 90.0, 90.0)] * 4
    closes = np.array([b[3] for b in bars])
    entries = {1: 1.0, 2: 1.0, 6: 1.0, 12: 1.0}
    return bars, S.intents(len(bars), entries, stop_distance=0.5, closes=closes)


def test_a_market_crash_fires_the_hard_stop_once_closes_everything_and_halts_to_the_end() -> None:
    # Arrange: 0.5% hard stop; two longs open when the market crashes
    bars, sig = _crash()
    cfg = S.config(protections=HARD, risk=dataclasses.replace(S.PLAIN_RISK, max_positions=2))
    # Act
    result = S.run(bars, sig, cfg)
    # Assert: one event, at the crash bar's close, saying why
    assert len(result.events) == 1
    event = result.events.iloc[0]
    assert event["at"] == result.close_times[3]
    assert event["protection"] == "halted: account hard stop"
    assert event["reason"].startswith("account hard stop: drawdown 1.3% ≥ 0.5%")
    # both longs closed at market at the next open, through the normal exit path
    assert list(result.trades["exit_kind"]) == ["close", "close"]
    assert (result.fills[result.fills["kind"] == "close"]["bar"] == result.index[4]).all()
    assert (result.position.iloc[4:] == 0.0).all()
    # no entry after it, whatever the market does; reported in the metrics
    assert result.blocked == {"halted: account hard stop": 2}
    assert result.hard_stop["hard_stop_at"] == f"{result.close_times[3]:%Y-%m-%d %H:%M}"
    assert result.hard_stop["hard_stop_drawdown"] == pytest.approx(0.013, abs=1e-3)
    assert result.hard_stop["bars_halted"] == len(bars) - 3


def test_the_hard_stop_cancels_a_working_entry_order() -> None:
    # Arrange: limit entries 0.2 ATR below the close; the first fills in bar 1 (stop 99.3), the
    # second (ATR 10: its limit at 98) still works when the crash bar closes
    risk = dataclasses.replace(
        S.PLAIN_RISK, max_positions=2, entry_order="limit", entry_offset_atr=0.2,
        entry_timeout="1d",
    )  # fmt: skip
    fill, crash, low = (100.0, 100.0, 99.6, 100.0), (100.0, 100.2, 99.35, 99.4), (99.4,) * 4
    bars = [S.FLAT_BAR, fill, S.FLAT_BAR, crash] + [low] * 4
    sig = S.intents(len(bars), {0: 1.0, 2: 1.0}, stop_distance=0.5)
    sig[2, L.SIG_ATR] = 10.0
    sig[2, L.SIG_LONG_STOP] = 90.0
    # Act
    result = S.run(bars, sig, S.config(protections=HARD, risk=risk))
    # Assert
    assert list(result.orders["action"]) == ["new", "new", "close", "cancel"]
    assert list(result.orders["decided_at"].iloc[2:]) == [result.close_times[3]] * 2
    assert len(result.trades) == 1
    assert (result.position.iloc[4:] == 0.0).all()


def test_hard_stop_off_leaves_the_account_trading() -> None:
    # Arrange
    bars, sig = _crash()
    off = dataclasses.replace(HARD, hard_stop=None)
    # Act
    result = S.run(bars, sig, S.config(protections=off))
    # Assert
    assert result.events.empty
    assert result.hard_stop == {
        "hard_stop_at": None, "hard_stop_drawdown": pytest.approx(np.nan, nan_ok=True),
        "bars_halted": 0,
    }  # fmt: skip
    assert "halted: account hard stop" not in result.blocked


def _step(
    stepper: Stepper, book: np.ndarray, bar: tuple[float, ...], ts: int, sig: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """One bar through the exchange simulation and the stepper, as ``machine.run`` does it."""
    fbuf = np.empty((L.MAX_FILLS_PER_BAR, L.NF))
    o, h, lo, c = bar
    p = stepper._p
    nf = match_bar(book, float(ts), o, h, lo, _NONE, _NONE, _NONE, 0, 0, fbuf, p)
    stepper.book(fbuf[:nf])
    rows, events = stepper.close(ts, c, 0.0, sig)
    accept(book, rows, rows.shape[0], float(ts + S.TF.ns))
    return rows, events


_NONE = np.zeros(0)


def _stepper(cfg: BacktestConfig) -> tuple[Stepper, np.ndarray]:
    return Stepper(cfg.params(S.TF), cfg.initial_cash), new_book()


def test_a_bar_by_bar_run_stays_halted_until_rearmed_and_rearming_resets_the_peak() -> None:
    # Arrange
    bars, sig = _crash()
    cfg = S.config(protections=HARD)
    stepper, book = _stepper(cfg)
    t0 = int(S.candles_from(bars).index[0].value)
    news: list[int] = []
    # Act: re-armed after bar 10 (equity then well below the old peak)
    for i, bar in enumerate(bars):
        rows, _ = _step(stepper, book, bar, t0 + i * S.TF.ns, sig[i])
        news += [i for r in rows if r[L.R_ACTION] == L.ACT_NEW]
        if i == 10:
            assert stepper.halted
            note = stepper.rearm()
    # Assert: the entry at bar 6 refused, the one at 12 placed; the new peak is the equity
    assert news == [1, 12]
    assert note.startswith("account hard stop re-armed at equity")
    assert not stepper.halted
    assert stepper.acct[L.A_HARD_PEAK] < cfg.initial_cash
    assert stepper.logs().events.shape[0] == 1


def test_model_health_pauses_new_entries_and_derisks_their_size() -> None:
    # Arrange: entries at bars 1 (paused), 4 (half size) and 7 (healthy again)
    bars = [S.FLAT_BAR] * 10
    sig = S.intents(len(bars), {1: 1.0, 4: 1.0, 7: 1.0}, exits={3: "long", 6: "long"})
    stepper, book = _stepper(S.config())
    t0 = int(S.candles_from(bars).index[0].value)
    health = {0: (0.0, "model health pause: 40% drifted"), 2: (0.5, "derisk"), 5: (1.0, "")}
    qty: dict[int, float] = {}
    notes: list[str] = []
    # Act
    for i, bar in enumerate(bars):
        if i in health:
            notes += stepper.set_health(*health[i])
        rows, _ = _step(stepper, book, bar, t0 + i * S.TF.ns, sig[i])
        qty.update((i, r[L.R_QTY]) for r in rows if r[L.R_ACTION] == L.ACT_NEW)
    # Assert
    assert records.blocked_counts(stepper.acct) == {"paused: model health": 1}
    assert sorted(qty) == [4, 7]
    assert qty[4] == pytest.approx(qty[7] / 2, rel=1e-3)  # equity moved by the fees between
    assert notes[0] == "model health pause: 40% drifted: new entries paused"
    assert notes[1] == "derisk: entry risk x0.5"
    assert notes[2] == "model health ok: entries at full size again"
    with pytest.raises(ValueError, match="health multiplier must be in"):
        stepper.set_health(1.5)


def test_bad_hard_stop_is_an_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="hard_stop must be in"):
        ProtectionsConfig(hard_stop=0.0)
