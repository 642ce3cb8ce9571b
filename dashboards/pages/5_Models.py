"""Models: champion vs challenger, the fold table, calibration, importance, promotion history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import figures, loaders, models, ui
from dashboards.loaders import Missing
from dashboards.models import RunDetail

ui.page("Models")
settings = ui.settings()
if settings is None:
    st.stop()
assert settings is not None
config = models.registry_of(settings)
if ui.show_missing(config):
    st.stop()
table = ui.model_versions(config)
if ui.show_missing(table):
    st.stop()
assert isinstance(table, pd.DataFrame)
assert not isinstance(config, Missing)
st.caption(f"Registry `{config.model_name}` · every run, parameter and artifact in the MLflow "
           f"UI: {ui.dashboard_settings().mlflow_url} (started by `smartmarket up`)")  # fmt: skip


def detail(row: pd.Series | None) -> RunDetail | None:
    """The run behind a version (None, with the reason shown, when it cannot be read)."""
    if row is None:
        return None
    found = ui.run_detail(config, str(row["run_id"]))
    if ui.show_missing(found, level="warning"):
        return None
    return found


champion, challenger = models.with_alias(table, "champion"), models.with_alias(table, "challenger")
left, right = st.columns(2)
left.metric("Champion", f"v{champion['version']}" if champion is not None else "none")
right.metric("Challenger", f"v{challenger['version']}" if challenger is not None else "none")
if champion is None:
    st.info("No champion yet: the promotion gate has promoted no version (history below).")

st.subheader("Champion vs challenger")
runs = {"champion": detail(champion), "challenger": detail(challenger)}
st.dataframe(models.comparison(runs["champion"], runs["challenger"]), key="comparison")
curves = {}
for name, run in runs.items():
    equity = run.tables.get("equity") if run is not None else None
    equity = figures.thin(equity, 2000) if equity is not None else None
    if equity is not None and "model_filtered" in equity.columns:
        curves[f"{name} (model filtered)"] = equity["model_filtered"].dropna()
        if "rules" in equity.columns and "rules" not in curves:
            curves["rules"] = equity["rules"].dropna()
if curves:
    st.plotly_chart(figures.equity_comparison_figure(curves), key="oos_equity")

st.subheader("Versions")
st.dataframe(table, key="versions")

st.subheader("One version")
options = table["version"].tolist()
start = options.index(challenger["version"]) if challenger is not None else 0
version = st.selectbox("Version", options, index=start, key="version")
run = detail(table[table["version"] == version].iloc[0])
if run is not None:
    if run.missing:
        st.caption(f"not logged by this run: {', '.join(run.missing)} (an older pipeline "
                   "did not log them)")  # fmt: skip
    folds = run.tables.get("folds")
    if folds is not None:
        st.markdown("**Walk-forward folds** (out of sample)")
        st.dataframe(folds, key="folds")
        st.plotly_chart(figures.folds_figure(folds), key="folds_chart")
    calibration = run.tables.get("calibration")
    if calibration is not None and len(calibration):
        st.plotly_chart(figures.calibration_figure(calibration), key="calibration")
    importance = run.tables.get("importance")
    if importance is not None and len(importance):
        st.plotly_chart(figures.importance_figure(importance), key="importance")
        st.caption("Permutation importance of the final model on its validation windows: the "
                   "ROC AUC lost when one input is shuffled across windows.")  # fmt: skip
    summary = run.tables.get("summary")
    if summary is not None:
        st.markdown("**Out-of-sample summary per variant**")
        st.dataframe(summary, key="summary")

st.subheader("Promotion history")
st.dataframe(models.promotion_history(table), key="history")

st.subheader("Prediction drift")
snapshots = loaders.drift_snapshots(settings.home_dir)
latest = snapshots[0] if isinstance(snapshots, list) else None
pred = None if latest is None else latest.summary.get("predictions")
if latest is None or not pred:
    st.caption("No prediction drift measured yet: the daily drift_snapshot scores the champion "
               "once one exists" + ("" if latest is None else
                                    f" ({latest.summary.get('prediction_note', '')})"))  # fmt: skip
else:
    st.caption(f"Champion's P(take) on {latest.day} against its training window (details on "
               "the Monitoring page).")  # fmt: skip
    st.plotly_chart(figures.prediction_drift_figure(pred), key="prediction_drift")
