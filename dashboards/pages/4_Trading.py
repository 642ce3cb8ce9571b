"""Trading: positions, orders, account, equity and protections from the ledger; the kill switch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import loaders, ui
from dashboards import trading as tr
from orchestration.settings import ledger_config
from serving.desk import bot_state
from serving.engine.config import BacktestConfig

KILL_WORD = "KILL"

ui.page("Trading")
loaded = ui.settings()
if loaded is None:
    st.stop()
assert loaded is not None
settings = loaded
config = ledger_config(settings)
desk = ui.desk(config, tuple(settings.symbols), BacktestConfig().initial_cash)
timeframe = settings.trading_timeframe


def health() -> None:
    """The model-health flag the drift sensor writes (the engine's protections read it)."""
    flag = loaders.load_health(settings.home_dir)
    if not ui.show_missing(flag):
        assert isinstance(flag, dict)
        box = st.error if flag["status"] != "ok" else st.success
        box(f"model health: {flag['status']} (action: {flag['action']}): {flag['reason']}")


def show(table: pd.DataFrame, key: str, empty: str) -> None:
    """A table, or what its absence means."""
    if len(table):
        st.dataframe(table, key=key)
    else:
        st.caption(empty)


def sent_line(command: str, sent: int | loaders.Missing) -> None:
    """Say whether a command reached the ledger."""
    if isinstance(sent, int):
        st.info(f"{command} sent (ledger seq {sent}); the trading loop executes it")
    else:
        st.error(sent.message)


@st.fragment(run_every=ui.dashboard_settings().refresh_seconds)
def state() -> None:
    """Draw the ledger's state; reruns every ``refresh_seconds``."""
    trading = loaders.load_trading(config, desk)
    if ui.show_missing(trading):
        health()
        return
    assert isinstance(trading, tr.Trading)
    view = trading.view
    bot = bot_state(trading.snap)
    if view.halted:
        st.error(f"trading halted: {view.halted}")
    else:
        st.success("trading armed: no halt in the ledger")
    if bot["awaiting_loop"]:
        st.warning(f"the last command ({bot['last_control']['command']}) waits for the trading "
                   "loop: nothing the loop wrote is newer")  # fmt: skip
    health()
    symbols = tuple(sorted(view.positions))
    closes = ui.closes(settings, symbols, timeframe)
    marks = tr.marks_of(closes)
    desk.marks = marks.get
    acct = desk.account()
    cols = st.columns(5)
    for col, (label, key) in zip(cols, [("Equity", "equity"), ("Realized PnL", "realized_pnl"),
                                        ("Unrealized PnL", "unrealized_pnl"), ("Fees", "fees"),
                                        ("Funding", "funding")], strict=True):  # fmt: skip
        value = acct[key]
        col.metric(label, "unknown" if value is None else f"{value:,.2f}")
    notes = [f"starting cash {acct['start_cash']:,.2f} (the engine's initial_cash, as the "
             f"service's desk counts it)", f"marks: last stored {timeframe} closes"]  # fmt: skip
    if acct["unpriced_symbols"]:
        notes.append(f"no stored candles of {', '.join(acct['unpriced_symbols'])}: equity and "
                     "unrealized PnL unknown")  # fmt: skip
    if acct["balances"]:
        notes.append(
            "exchange balance: " + ", ".join(f"{c} {v:,.2f}" for c, v in acct["balances"].items())
        )
    st.caption("; ".join(notes) + f" · ledger seq {view.last_seq}")

    st.subheader("Positions")
    positions = pd.DataFrame(desk.positions()["positions"])
    show(positions, "positions", "flat")
    st.subheader("Working orders")
    working = tr.orders_table(trading)
    show(working, "orders", "no working order")

    derived = ui.trading_derived(ui.ledger_key(config), view.last_seq, ui.closes_key(closes),
                                 timeframe, trading, closes)  # fmt: skip
    if derived["equity_fig"] is not None:
        st.plotly_chart(derived["equity_fig"], key="equity")
    else:
        st.caption(f"no equity curve: no fill yet, or no stored {timeframe} candles of "
                   f"{', '.join(symbols) or 'the traded symbols'}")  # fmt: skip
    st.subheader("Trades")
    trades = derived["trades"]
    if len(trades):
        st.dataframe(pd.Series(derived["summary"], name="value").to_frame(), key="risk")
        st.plotly_chart(derived["r_fig"], key="r_chart")
        st.dataframe(trades, key="trades")
    else:
        st.caption("no trade with a filled entry yet")
    st.subheader("Protections and commands")
    history = tr.protections(trading.events)
    show(history, "protections", "none yet")


state()

st.subheader("Controls")
st.caption("Commands go into the ledger (`serving.control`); the running trading loop reads and "
           "executes them and records what it did.")  # fmt: skip
reason = st.text_input("Reason (recorded with the command)", key="reason")
left, right = st.columns(2)
if left.button("Stop new entries", key="stop"):
    why = reason or "stopped from the dashboard"
    sent_line("stop", loaders.send_command(config, desk, "stop", reason=why))
if right.button("Start (re-arm trading)", key="start"):
    why = reason or "re-armed from the dashboard"
    sent_line("start", loaders.send_command(config, desk, "start", reason=why))

st.markdown("**Kill switch**: cancel every working order, close every position when *flatten* "
            "is ticked, and halt until someone re-arms trading.")  # fmt: skip
flatten = st.checkbox("Flatten: also close every position", value=True, key="flatten")
typed = st.text_input(f"Type {KILL_WORD} to confirm", key="confirm")
if st.button("Kill switch", type="primary", key="kill"):
    if typed.strip() != KILL_WORD:
        st.warning(f"not sent: type {KILL_WORD} in the confirmation box first")
    else:
        why = reason or "kill switch from the dashboard"
        sent = loaders.send_command(config, desk, "kill", flatten=flatten, reason=why)
        sent_line(f"kill (flatten={flatten})", sent)
