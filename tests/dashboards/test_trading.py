"""The Trading page on a seeded ledger: tables, account, equity curve, and the kill switch."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import loaders
from dashboards import trading as tr
from features.candles.schema import Timeframe
from features.candles.store import make_store
from serving.control import pending
from serving.desk import TradingDesk, snapshot
from serving.ledger import FillRecord, LedgerConfig, fill_event, open_ledger

PAGE = str(Path(__file__).resolve().parents[2] / "dashboards" / "pages" / "4_Trading.py")
SYMBOL = "BTC/USDT"
TF = Timeframe.parse("5m")
HALT = "daily loss limit reached: -3.1% (limit -3.0%)"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, float]]]:
    """Ten days of BTC/USDT candles and a ledger: three closed trades, one open, a halt."""
    from dashboards.seed import seed_home, seed_ledger

    home = tmp_path_factory.mktemp("trading") / "home"
    seed_home(home, (SYMBOL,), days=10, backtest=False)
    return home, seed_ledger(home, SYMBOL, trades=3, halt=HALT)


@pytest.fixture
def home(
    seeded: tuple[Path, list[dict[str, float]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of the seeded home (the kill switch writes to its ledger)."""
    copy = tmp_path / "home"
    shutil.copytree(seeded[0], copy)
    monkeypatch.setenv("SMARTMARKET_HOME", str(copy))
    monkeypatch.setenv("SMARTMARKET_SYMBOLS", SYMBOL)
    monkeypatch.setenv("SMARTMARKET_DASHBOARD_SERVICE_URL", "http://127.0.0.1:9")
    return copy


def _trading(home: Path, desk: TradingDesk | None = None) -> tr.Trading:
    config = LedgerConfig.build(home)
    desk = desk or loaders.trading_desk(config, (SYMBOL,), 10_000.0)
    out = loaders.load_trading(config, desk)
    assert isinstance(out, tr.Trading)
    return out


def _closes(home: Path) -> dict[str, pd.Series]:
    return {SYMBOL: make_store("parquet", root=home / "candles").read(SYMBOL, TF)["close"]}


def test_trades_carry_the_engines_r_multiple(
    seeded: tuple[Path, list[dict[str, float]]],
) -> None:
    home, expected = seeded

    trades = tr.trades_table(_trading(home).view)

    closed = trades[trades["status"] == "closed"].iloc[::-1]  # oldest first, as seeded
    assert len(closed) == 3
    assert (trades["status"] == "open").sum() == 1
    assert closed["net_pnl"].tolist() == pytest.approx([e["net_pnl"] for e in expected])
    assert closed["r_multiple"].tolist() == pytest.approx([e["r_multiple"] for e in expected])
    assert closed["r_multiple"].iloc[1] == pytest.approx(-1.1005)  # a stop: -1R less the fees
    assert math.isnan(trades.loc[trades["status"] == "open", "r_multiple"].iloc[0])


def test_the_open_trade_its_working_order_and_the_account_come_from_the_desk(
    seeded: tuple[Path, list[dict[str, float]]],
) -> None:
    home = seeded[0]
    trading = _trading(home)
    marks = tr.marks_of(_closes(home))
    trading.desk.marks = marks.get

    working = tr.orders_table(trading)
    account = trading.desk.account()
    [position] = trading.desk.positions()["positions"]

    assert (position["symbol"], position["side"], position["qty"]) == (SYMBOL, "short", -0.1)
    assert working[["leg", "state", "reduce_only"]].values.tolist() == [["tp1", "accepted", True]]
    assert account["equity"] == pytest.approx(trading.view.equity(10_000.0, marks))
    assert set(tr.protections(trading.events)["event"]) == {"halt"}


def test_the_equity_curve_ends_at_the_accounts_equity_and_starts_at_the_first_fill(
    seeded: tuple[Path, list[dict[str, float]]],
) -> None:
    home = seeded[0]
    trading = _trading(home)
    closes = _closes(home)

    curve = tr.equity_curve(trading, closes, TF.delta)

    first_fill = min(f.filled_at for f in trading.view.fills.values())
    assert curve.index[0] == first_fill
    assert curve["equity"].iloc[-1] == pytest.approx(
        trading.view.equity(10_000.0, tr.marks_of(closes))
    )
    assert curve["buy_and_hold"].iloc[0] == pytest.approx(10_000.0)
    assert (curve["drawdown"] >= 0).all()
    assert curve["drawdown"].max() > 0
    flat = curve.loc[: curve.index[0] + TF.delta * 23, "equity"]  # the first trade is open
    assert flat.nunique() > 1  # marked to the closes while held


def test_a_fill_counts_in_the_curve_only_from_its_bar_on(
    seeded: tuple[Path, list[dict[str, float]]],
) -> None:
    home = seeded[0]
    trading = _trading(home)
    closes = _closes(home)
    before = tr.equity_curve(trading, closes, TF.delta)
    t = before.index[len(before) // 2]
    extra = FillRecord("late", None, None, SYMBOL, "buy", 1.0, 0.1, 0.0, False, t)
    ledger = open_ledger(LedgerConfig.build(home))
    events = [*ledger.events(), fill_event(extra, t)]
    ledger.close()
    more = tr.Trading(trading.desk, snapshot(events), trading.events)

    after = tr.equity_curve(more, closes, TF.delta)

    pd.testing.assert_series_equal(after["equity"][:t].iloc[:-1], before["equity"][:t].iloc[:-1])
    assert not math.isclose(after["equity"].iloc[-1], before["equity"].iloc[-1])


def test_the_page_shows_the_halt_the_tables_and_the_equity(home: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()

    assert not at.exception, [e.value for e in at.exception]
    assert any(HALT in e.value for e in at.error)
    tables = {tuple(d.value.columns[:2]): d.value for d in at.dataframe}  # no keys kept
    assert set(tables) == {("symbol", "side"), ("client_order_id", "exchange_order_id"),
                           ("value",), ("symbol", "direction"), ("at", "seq")}  # fmt: skip
    assert tables[("symbol", "direction")]["r_multiple"].notna().sum() == 3
    assert tables[("at", "seq")]["event"].tolist() == ["halt"]
    assert len(at.get("plotly_chart")) == 2  # equity vs buy-and-hold, R multiples
    assert {m.label for m in at.metric} >= {"Equity", "Unrealized PnL", "Realized PnL"}


def test_the_kill_switch_needs_the_typed_confirmation(home: Path) -> None:
    ledger = open_ledger(LedgerConfig.build(home))
    at = AppTest.from_file(PAGE, default_timeout=120).run()

    at.button(key="kill").click().run()
    assert pending(ledger) == []
    assert any("not sent" in w.value for w in at.warning)

    at.checkbox(key="flatten").uncheck()
    at.text_input(key="reason").input("stop it")
    at.text_input(key="confirm").input("KILL")
    at.button(key="kill").click().run()

    assert not at.exception
    [command] = pending(ledger)
    assert (command.command, command.by) == ("kill", "dashboard")
    assert dict(command.detail) == {"flatten": False, "reason": "stop it"}
    ledger.close()


def test_stop_and_start_go_into_the_ledger(home: Path) -> None:
    ledger = open_ledger(LedgerConfig.build(home))
    at = AppTest.from_file(PAGE, default_timeout=120).run()

    at.button(key="stop").click().run()
    at.button(key="start").click().run()

    assert [c.command for c in pending(ledger)] == ["stop", "start"]
    ledger.close()


def test_an_empty_ledger_says_how_to_start_trading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_ledger(LedgerConfig.build(tmp_path)).close()  # created, nothing in it
    monkeypatch.setenv("SMARTMARKET_HOME", str(tmp_path))

    at = AppTest.from_file(PAGE, default_timeout=120).run()

    assert not at.exception
    assert any("smartmarket trade --mode paper --synthetic" in i.value for i in at.info)


def test_a_corrupt_ledger_is_one_line(tmp_path: Path) -> None:
    path = loaders.ledger_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    config = LedgerConfig.build(tmp_path)

    out = loaders.load_trading(config, loaders.trading_desk(config, (SYMBOL,), 10_000.0))

    assert isinstance(out, loaders.Missing)
    assert "cannot read the trading ledger" in out.message


def test_a_refresh_continues_the_desks_fold_and_agrees_with_a_fresh_one(home: Path) -> None:
    config = LedgerConfig.build(home)
    desk = loaders.trading_desk(config, (SYMBOL,), 10_000.0)
    first = _trading(home, desk)
    seq, qty = first.view.last_seq, first.view.positions[SYMBOL].qty
    ledger = open_ledger(config)
    t = pd.Timestamp("2024-01-09", tz="UTC")
    ledger.append([fill_event(FillRecord("more", None, None, SYMBOL, "buy", 1.0, 0.2, 0.1,
                                         False, t), t)])  # fmt: skip
    ledger.close()

    again = _trading(home, desk)
    fresh = _trading(home)

    assert again.view.last_seq == fresh.view.last_seq == seq + 1
    assert again.view.positions[SYMBOL] == fresh.view.positions[SYMBOL]
    assert again.view.positions[SYMBOL].qty == pytest.approx(qty + 0.2)
