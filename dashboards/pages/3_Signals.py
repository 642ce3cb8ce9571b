"""Signals: the signal service's latest signals with their factors (refreshed live)."""

from __future__ import annotations

import streamlit as st

from dashboards import loaders, ui

ui.page("Signals")
dash = ui.dashboard_settings()


@st.fragment(run_every=dash.refresh_seconds)
def latest() -> None:
    """Draw the newest signals; reruns every ``refresh_seconds``."""
    signals = loaders.load_signals(dash)
    if ui.show_missing(signals):
        return
    st.caption(f"{len(signals):,} signals from {dash.service_url}")  # type: ignore[arg-type]
    st.dataframe(signals, key="signals")


latest()
