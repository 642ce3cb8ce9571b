"""Models: the MLflow registry, champion and challenger."""

from __future__ import annotations

import streamlit as st

from dashboards import loaders, ui

ui.page("Models")
settings = ui.settings()
if settings is None:
    st.stop()
models = loaders.load_models(settings.home_dir)
if not ui.show_missing(models):
    st.dataframe(models, key="models")
