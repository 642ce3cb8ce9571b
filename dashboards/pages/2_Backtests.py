"""Backtests: the runs on disk, their metrics side by side, equity and trades on candles."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import figures, loaders, ui
from serving.backtest.evaluate import HEADLINE

ui.page("Backtests")
settings = ui.settings()
if settings is None:
    st.stop()
runs = loaders.backtest_runs(settings.home_dir)
if ui.show_missing(runs):
    st.stop()
assert isinstance(runs, list)
names = [r.name for r in runs]
chosen = st.multiselect("Runs", names, default=names[:4], key="runs")
selected = [r for r in runs if r.name in chosen]
if not selected:
    st.info("Pick at least one run.")
    st.stop()
st.subheader("Metrics side by side")
st.dataframe(loaders.metrics_table(selected, HEADLINE), key="metrics")
curves = {}
for run in selected:
    equity = ui.equity(run.folder)
    if not isinstance(equity, loaders.Missing):
        curves[run.name] = equity["equity"]
st.plotly_chart(figures.equity_comparison_figure(curves), key="comparison")

st.subheader("One run")
name = st.selectbox("Run", chosen, key="run")
run = next(r for r in selected if r.name == name)
equity = ui.equity(run.folder)
if not ui.show_missing(equity, level="warning"):
    assert isinstance(equity, pd.DataFrame)
    st.plotly_chart(figures.equity_figure(equity), key="equity")
trades = ui.trades(run.folder)
if ui.show_missing(trades, level="warning"):
    st.stop()
assert isinstance(trades, pd.DataFrame)
symbol, timeframe = run.metrics.get("symbol"), run.metrics.get("timeframe")
if len(trades) and symbol and timeframe:
    store = ui.store_of(settings)
    from features.candles.schema import Timeframe

    tf = Timeframe.parse(str(timeframe))
    last_exit = trades["exit_bar"].max()
    stored = loaders.load_candles(store, str(symbol), tf.label, last_exit - tf.delta * 400,
                                  last_exit + tf.delta * 50)  # fmt: skip
    if isinstance(stored, loaders.Missing):
        st.caption(f"trades on candles: {stored.message} (the candle store holds other data)")
    else:
        fig = figures.candles_figure(stored, timeframe=tf.label, trades=trades, overlays=(),
                                     title=f"Latest trades of {run.name}")  # fmt: skip
        st.plotly_chart(fig, key="trades_chart")
st.dataframe(trades.tail(200), key="trades")
st.caption(f"Full report: `{run.folder / 'report.html'}`")
