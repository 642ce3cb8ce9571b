"""Trading: positions, orders, account and protections from the trading ledger."""

from __future__ import annotations

import streamlit as st

from dashboards import loaders, ui

ui.page("Trading")
settings = ui.settings()
if settings is None:
    st.stop()
home = settings.home_dir


@st.fragment(run_every=ui.dashboard_settings().refresh_seconds)
def ledger() -> None:
    """Draw the ledger's state; reruns every ``refresh_seconds``."""
    state = loaders.load_ledger(home)
    ui.show_missing(state)
    health = loaders.load_health(home)
    if not ui.show_missing(health):
        assert isinstance(health, dict)
        box = st.error if health["status"] != "ok" else st.success
        box(f"model health: {health['status']} (action: {health['action']}): {health['reason']}")


ledger()
