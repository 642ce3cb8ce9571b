"""Market: candles of any stored symbol and timeframe with the SMC overlays and the MTF panel."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboards import figures, ui
from features.candles.schema import Timeframe

WINDOW_BARS = 1000  # bars shown by default (the newest)

ui.page("Market")
settings = ui.settings()
if settings is None:
    st.stop()
dsn = settings.pg_dsn.get_secret_value() if settings.pg_dsn else None
key = (settings.store, str(settings.candles_dir), dsn)
available = ui.series(*key)
if ui.show_missing(available):
    st.stop()
assert isinstance(available, dict)

left, middle, right = st.columns([1, 1, 2])
symbol = left.selectbox("Symbol", list(available), key="symbol")
timeframe = middle.selectbox("Timeframe", available[symbol], key="timeframe")
tf = Timeframe.parse(timeframe)
last = ui.store_of(settings).last_timestamp(symbol, tf)
frame = ui.candles(*key, symbol, timeframe, str(last))
if ui.show_missing(frame, level="warning"):
    st.stop()
assert isinstance(frame, pd.DataFrame)

first_day, last_day = frame.index[0].date(), frame.index[-1].date()
default_start = max(first_day, (frame.index[-1] - tf.delta * WINDOW_BARS).date())
picked = right.date_input("Dates (UTC, inclusive)", value=(default_start, last_day),
                          min_value=first_day, max_value=last_day, key="range")  # fmt: skip
days = list(picked) if isinstance(picked, (tuple, list)) else [picked]
start_day: dt.date = days[0]
end_day: dt.date = days[-1]
start = pd.Timestamp(start_day, tz="UTC")
end = pd.Timestamp(end_day, tz="UTC") + pd.Timedelta(days=1)
window = frame.loc[(frame.index >= start) & (frame.index < end)]
if window.empty:
    st.warning(f"no {timeframe} candles of {symbol} between {start_day} and {end_day}")
    st.stop()

overlays = st.multiselect("Overlays", figures.OVERLAYS, default=list(figures.OVERLAYS),
                          key="overlays")  # fmt: skip
max_bars = ui.dashboard_settings().max_bars
view, shown = figures.downsample(window, timeframe, max_bars)
zones, features = ui.smc(str(settings.candles_dir), symbol, timeframe, str(last), frame)
if shown != tf.label:
    st.caption(f"{len(window):,} {timeframe} bars resampled to {shown} ({len(view):,} bars); "
               "narrow the dates for full detail and the kill zones.")  # fmt: skip
    overlays = [o for o in overlays if o != "kill_zones"]
else:
    st.caption(f"{len(window):,} {timeframe} bars, full detail.")

chart, profile = st.columns([4, 1])
fig = figures.candles_figure(view, timeframe=shown, zones=zones, features=features,
                             overlays=overlays, title=f"{symbol} {shown}")  # fmt: skip
chart.plotly_chart(fig, key="candles")
profile.plotly_chart(figures.volume_profile_figure(figures.volume_profile(window)),
                     key="profile")  # fmt: skip

st.subheader("Multi-timeframe bias")
reading = ui.mtf(*key, symbol, timeframe, tuple(available[symbol]),
                 str(window.index[-1] + tf.delta))  # fmt: skip
if not ui.show_missing(reading):
    assert isinstance(reading, dict)
    st.plotly_chart(figures.mtf_figure(reading), key="mtf")
    score = reading.get("confluence_score")
    st.metric("Confluence score", "warming up" if score is None else f"{score:.2f}")
    table = pd.DataFrame(reading.get("timeframes", {})).T
    st.dataframe(table, key="mtf_table")
    for warning in reading.get("warnings", []):
        st.warning(warning)
