"""SmartMarket dashboard: the entry page (``streamlit run dashboards/app.py``).

The pages in ``dashboards/pages/`` draw what the pipeline wrote under the app home; this page
says which sources are there and what to run for the others.
"""

from __future__ import annotations

import streamlit as st

from dashboards import loaders, ui

ui.page("SmartMarket")
settings = ui.settings()
if settings is None:
    st.stop()
home = settings.home_dir
st.caption(f"App home: `{home}` · candle store: {settings.store} · symbols: "
           f"{', '.join(settings.symbols)}")  # fmt: skip

sources = {
    "Candles (Market)": ui.series(settings.store, str(settings.candles_dir),
                                  settings.pg_dsn.get_secret_value() if settings.pg_dsn else None),
    "Backtests": loaders.backtest_runs(home),
    "Signals": loaders.load_signals(ui.dashboard_settings(), limit=1),
    "Trading ledger": loaders.load_ledger(home),
    "Models": loaders.load_models(home),
    "Drift snapshots (Monitoring)": loaders.drift_snapshots(home),
}  # fmt: skip
for name, value in sources.items():
    if isinstance(value, loaders.Missing):
        st.markdown(f"- **{name}**: {value.message}")
    else:
        st.markdown(f"- **{name}**: available")
st.info("Pick a page in the sidebar: Market, Backtests, Signals, Trading, Models, Monitoring.")
