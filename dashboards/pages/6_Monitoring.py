"""Monitoring: data and prediction drift, model quality, the health flag, GX, freshness."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import figures, loaders, ui

ui.page("Monitoring")
settings = ui.settings()
if settings is None:
    st.stop()
home = settings.home_dir
dash = ui.dashboard_settings()

st.subheader("Data drift of the model inputs")
snapshots = loaders.drift_snapshots(home)
if not ui.show_missing(snapshots):
    assert isinstance(snapshots, list)
    day = st.selectbox("Day", [s.day for s in snapshots], key="drift_day")
    snap = next(s for s in snapshots if s.day == day)
    summary = snap.summary
    a, b, c = st.columns(3)
    a.metric("Drifted inputs", f"{len(summary.get('drifted', []))} / {summary.get('compared', 0)}")
    b.metric("Share drifted", f"{summary.get('share', 0.0):.0%}")
    c.metric(
        "Reference / current rows",
        f"{summary.get('reference_rows', 0):,} / {summary.get('current_rows', 0):,}",
    )
    st.plotly_chart(
        figures.drift_figure(summary.get("scores", {}), summary["column_threshold"]),
        key="drift",
    )
    st.plotly_chart(figures.drift_history_figure(
        [s.day for s in snapshots][::-1], [s.summary.get("share", 0.0) for s in snapshots][::-1],
        summary["drift_share"]), key="drift_history")  # fmt: skip
    st.subheader("Prediction drift of the champion")
    pred = summary.get("predictions")
    if not pred:
        st.info(summary.get("prediction_note") or "not measured by this snapshot (an older "
                "drift_snapshot): rematerialize it")  # fmt: skip
    else:
        a, b, c = st.columns(3)
        distance = pred.get("distance")
        a.metric("P drift (normed Wasserstein)",
                 "n/a" if distance is None else f"{distance:.2f}",
                 help=f"drifted at {pred['threshold']:.2f}")  # fmt: skip
        b.metric("Mean P reference / current",
                 f"{pred['reference_mean']:.2f} / {pred['current_mean']:.2f}")  # fmt: skip
        c.metric(f"Share at P >= {pred['model_threshold']:.2f}",
                 f"{pred['reference_above']:.0%} / {pred['current_above']:.0%}")  # fmt: skip
        st.plotly_chart(figures.prediction_drift_figure(pred), key="prediction_drift")
    st.subheader("Model quality on labelled intents")
    quality = summary.get("quality")
    if not quality or not quality.get("labelled"):
        st.info((quality or {}).get("note") or "no labels yet")
    else:
        ref = quality.get("reference") or {}
        rows = [
            {"measure": name, "current window": quality.get(key), "out of sample": ref.get(key)}
            for name, key in (("AUC", "auc"), ("Brier", "brier"), ("Hit rate", "hit_rate"))
        ]
        st.dataframe(pd.DataFrame(rows), key="quality")
        st.caption(f"{quality['labelled']} labelled intents, {quality['taken']} taken; "
                   f"{quality.get('note') or ''}")  # fmt: skip
    report = snap.folder / "report.html"
    # The report is self-contained (several MB): send it only when asked for.
    if st.toggle("Show the Evidently report", key="show_report"):
        if report.is_file():
            st.iframe(report, height=900)
        else:
            st.warning(f"{report} is missing; rematerialize drift_snapshot for {day}")


@st.fragment(run_every=dash.refresh_seconds)
def live() -> None:
    """Health flag, asset checks, freshness and service metrics; reruns by itself."""
    st.subheader("Model health")
    health = loaders.load_health(home)
    if not ui.show_missing(health):
        assert isinstance(health, dict)
        box = st.error if health["status"] != "ok" else st.success
        box(f"{health['status']} (action: {health['action']}): {health['reason']}")
    st.subheader("Pipeline")
    instance = ui.dagster_instance(str(home))
    if ui.show_missing(instance):
        return
    checks = loaders.check_results(instance)
    if not ui.show_missing(checks):
        assert isinstance(checks, pd.DataFrame)
        failed = checks[~checks["passed"]]
        st.metric("Asset checks failing", f"{len(failed)} / {len(checks)}")
        st.dataframe(checks, key="checks")
    fresh = loaders.freshness(instance, pd.Timestamp.now(tz="UTC"))
    if not ui.show_missing(fresh):
        assert isinstance(fresh, pd.DataFrame)
        st.plotly_chart(figures.freshness_figure(fresh), key="freshness")
    st.subheader("Signal service")
    metrics = loaders.load_service_metrics(dash)
    if not ui.show_missing(metrics):
        st.dataframe(metrics, key="service_metrics")


live()
