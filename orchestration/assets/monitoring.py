"""Monitoring assets: a daily snapshot of the model inputs' data drift, with its checks.

Thin: read the reference (the training dataset's window, until a champion model records its
own) and the day's model inputs from the offline model view, call
``dashboards.drift.drift_report``, write the Evidently HTML and JSON and a summary under
``<app home>/monitoring/drift/<day>/`` and attach the share of drifted inputs as metadata. The
drift sensor (``orchestration/sensors.py``) reads that metadata.

When the registry has a champion, the same rows are scored with it (``Bundle.predict_frame``;
the day's rows get their ``lookback - 1`` bars of history from before the day) and the drift of
its P(take) (``dashboards.drift.prediction_drift``) joins the summary, the metadata and a check.
The reference P is scored on the training dataset's rows inside the champion's training window
(``meta.train_start``..``train_end``), a seeded sample of at most ``max_reference_rows``.
The champion's quality on the day's rule intents whose labels are known (stored candles, the
``candle_store`` resource) joins the summary too (:func:`label_quality`).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from orchestration.assets.features import MTF_FEATURES, TRAINING_DATASET
from orchestration.partitions import DATE
from orchestration.resources import CandleStoreResource
from orchestration.resources.feast import FeatureStoreResource
from orchestration.settings import Settings

DRIFT_SNAPSHOT = dg.AssetKey("drift_snapshot")
GROUP = "monitoring"
BELOW_THRESHOLD = "drift_below_threshold"
ENOUGH_ROWS = "enough_current_rows"
DRIFT_THRESHOLD = 0.3  # share of drifted inputs that degrades the model's health
MIN_CURRENT_ROWS = 50
PREDICTIONS_BELOW = "prediction_drift_below_threshold"
PREDICTION_THRESHOLD = 0.3  # normed Wasserstein of the champion's P that counts as drift
NO_CHAMPION = "no champion model in the registry: data drift of the inputs only"


def drift_folder(home: Path, day: str) -> Path:
    """Where the snapshot of ``day`` (``YYYY-MM-DD``) is written."""
    return home / "monitoring" / "drift" / day


def build_drift_asset(
    days: dg.PartitionsDefinition,
    settings: Settings,
    threshold: float = DRIFT_THRESHOLD,
    prediction_threshold: float = PREDICTION_THRESHOLD,
) -> dg.AssetsDefinition:
    """Return ``drift_snapshot``: one Evidently drift report of the model inputs per UTC day."""
    home = settings.home_dir

    @dg.asset(
        key=DRIFT_SNAPSHOT,
        partitions_def=days,
        deps=[TRAINING_DATASET, MTF_FEATURES],
        group_name=GROUP,
        kinds={"evidently"},
        check_specs=[
            dg.AssetCheckSpec(
                BELOW_THRESHOLD,
                asset=DRIFT_SNAPSHOT,
                description=f"Share of drifted model inputs below {threshold:.0%}",
            ),
            dg.AssetCheckSpec(
                ENOUGH_ROWS,
                asset=DRIFT_SNAPSHOT,
                description=f"At least {MIN_CURRENT_ROWS} bars of model inputs on the day",
            ),
            dg.AssetCheckSpec(
                PREDICTIONS_BELOW,
                asset=DRIFT_SNAPSHOT,
                description="Normed Wasserstein drift of the champion's P(take) below "
                f"{prediction_threshold:.2f} (passes with a note when there is no champion)",
            ),
        ],
        description="Data drift of the model inputs on one UTC day against the training "
        "window (Evidently, normed Wasserstein per input): HTML, JSON and a summary under "
        "<app home>/monitoring/drift/<day>/.",
    )
    def drift_snapshot(
        context: dg.AssetExecutionContext,
        feature_store: FeatureStoreResource,
        candle_store: CandleStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from dataclasses import replace

        from dashboards.drift import (
            DriftConfig,
            drift_report,
            inputs_by_name,
            model_inputs,
            write_snapshot,
        )
        from features.layout import view_name

        day = context.partition_key
        features = feature_store.feature_set()
        names = features.model_columns
        training = feature_store.training_dir / f"{features.inputs_service}.parquet"
        if not training.is_file():
            raise dg.Failure(f"no training dataset at {training}: materialize training_dataset")
        reference = inputs_by_name(pd.read_parquet(training))
        reference = reference[[n for n in names if n in reference.columns]]
        start = pd.Timestamp(day, tz="UTC")
        view = view_name("model", features.trading_timeframe)
        current = model_inputs(
            feature_store.tables(), view, names, start, start + pd.Timedelta(days=1)
        )
        if current.empty:
            raise dg.Failure(f"no model inputs in {view} on {day}: materialize the features first")
        context.log.info(
            f"drift of {len(names)} inputs: {len(reference):,} reference rows, "
            f"{len(current):,} rows on {day}"
        )
        config = DriftConfig(drift_share=threshold)
        snapshot, summary = drift_report(reference, current, config)
        champion = load_champion(settings)
        if isinstance(champion, str):
            note = champion
        else:
            try:
                predictions = score_predictions(
                    champion, training, feature_store, view, names, start, config,
                    prediction_threshold,
                )  # fmt: skip
                summary = replace(summary, predictions=predictions)
                note = ""
                summary = replace(summary, quality=quality_or_why(
                    champion, candle_store, feature_store, view, names, start))  # fmt: skip
            except ValueError as exc:
                note = f"champion {champion[1]} could not score the inputs: {exc}"
        if note:
            context.log.warning(note)
            summary = replace(summary, prediction_note=note)
        paths = write_snapshot(snapshot, summary, drift_folder(home, day))
        yield dg.MaterializeResult(
            asset_key=DRIFT_SNAPSHOT,
            metadata={
                "share_drifted": dg.MetadataValue.float(summary.share),
                "drifted": len(summary.drifted),
                "compared": summary.compared,
                "skipped": len(summary.skipped),
                "top_drifted": ", ".join(summary.drifted[:10]) or "none",
                "reference_rows": summary.reference_rows,
                "current_rows": summary.current_rows,
                "report": dg.MetadataValue.path(str(paths["html"])),
                "summary": dg.MetadataValue.path(str(paths["summary"])),
                **prediction_metadata(summary),
            },
        )
        yield dg.AssetCheckResult(
            check_name=BELOW_THRESHOLD,
            asset_key=DRIFT_SNAPSHOT,
            passed=summary.share < threshold,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"share_drifted": summary.share, "threshold": threshold},
        )
        yield dg.AssetCheckResult(
            check_name=ENOUGH_ROWS,
            asset_key=DRIFT_SNAPSHOT,
            passed=summary.current_rows >= MIN_CURRENT_ROWS,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"current_rows": summary.current_rows, "minimum": MIN_CURRENT_ROWS},
        )
        pred = summary.predictions
        yield dg.AssetCheckResult(
            check_name=PREDICTIONS_BELOW,
            asset_key=DRIFT_SNAPSHOT,
            passed=pred is None or not pred.distance >= prediction_threshold,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "distance": float("nan") if pred is None else pred.distance,
                "threshold": prediction_threshold,
                "note": summary.prediction_note or "measured",
            },
        )

    return drift_snapshot


def load_champion(settings: Settings) -> tuple[Any, str, dict[str, float]] | str:
    """Return the champion (bundle, version, out-of-sample figures) or why there is none."""
    from orchestration.settings import SettingsError, registry_config
    from training.bundle import load_bundle
    from training.registry import RegistryError, bundle_path, version_by_alias

    try:
        config = registry_config(settings)
        version = version_by_alias(config, "champion")
        if version is None:
            return NO_CHAMPION
        bundle = load_bundle(bundle_path(config, str(version.version)))
    except (SettingsError, RegistryError, FileNotFoundError) as exc:
        return f"the champion cannot be loaded ({exc}): data drift of the inputs only"
    return bundle, str(version.version), oos_figures(config, version.run_id)


def oos_figures(config: Any, run_id: str | None) -> dict[str, float]:
    """The champion's out-of-sample AUC (pooled, else the folds' mean), Brier and hit rate (the
    mean over its walk-forward folds of ``fold_brier`` and ``fold_precision``)."""
    from mlflow.tracking import MlflowClient

    if not run_id:
        return {}
    client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
    out: dict[str, float] = {}
    metrics = client.get_run(run_id).data.metrics
    for name, key in (("auc", "fold_auc"), ("brier", "fold_brier"), ("hit_rate", "fold_precision")):
        history = client.get_metric_history(run_id, key)
        if history:
            out[name] = float(sum(m.value for m in history) / len(history))
    if "oos_auc" in metrics:  # the pooled out-of-sample AUC, when the run logged it
        out["auc"] = float(metrics["oos_auc"])
    return out


def score_predictions(
    champion: tuple[Any, str, dict[str, float]],
    training: Path,
    feature_store: FeatureStoreResource,
    view: str,
    names: Sequence[str],
    start: pd.Timestamp,
    config: Any,
    threshold: float,
) -> Any:
    """The champion's P on the reference and on the day, and their drift.

    Raises:
        ValueError: The champion's inputs are not in the data, or no row has a full window.
    """
    import numpy as np

    from dashboards.drift import model_inputs, prediction_drift, scoring_frame
    from features.candles.schema import Timeframe

    bundle, version, _ = champion
    meta = bundle.meta
    step = Timeframe.parse(meta.timeframe).delta
    step_ns = int(step.value)
    table = pd.read_parquet(training)
    if "event_timestamp" not in table.columns:
        raise ValueError(f"{training} has no event_timestamp column")
    times = pd.DatetimeIndex(table["event_timestamp"])
    lo, hi = pd.Timestamp(meta.train_start), pd.Timestamp(meta.train_end)
    lo = lo.tz_localize("UTC") if lo.tz is None else lo.tz_convert("UTC")
    hi = hi.tz_localize("UTC") if hi.tz is None else hi.tz_convert("UTC")
    inside = np.flatnonzero((times >= lo) & (times <= hi))
    if not inside.size:
        raise ValueError(f"the training dataset has no row in the champion's window {lo}..{hi}")
    rng = np.random.default_rng(config.seed)
    if inside.size > config.max_reference_rows:
        inside = np.sort(rng.choice(inside, config.max_reference_rows, replace=False))
    ref_frame = scoring_frame(table, meta.columns)
    reference = bundle.predict_frame(ref_frame, inside, step_ns).to_numpy()
    warm = start - step * max(meta.lookback - 1, 0)
    keyed = model_inputs(
        feature_store.tables(), view, names, warm, start + pd.Timedelta(days=1), keys=True
    )
    cur_frame = scoring_frame(keyed, meta.columns)
    rows = np.flatnonzero(pd.DatetimeIndex(cur_frame["event_timestamp"]) > start)
    current = bundle.predict_frame(cur_frame, rows, step_ns).to_numpy()
    return prediction_drift(reference, current, meta.threshold, threshold, version=version)


def quality_or_why(
    champion: tuple[Any, str, dict[str, float]],
    candle_store: CandleStoreResource,
    feature_store: FeatureStoreResource,
    view: str,
    names: Sequence[str],
    start: pd.Timestamp,
) -> Any:
    """:func:`label_quality` as of now, or no labels with why they could not be computed."""
    from dashboards.drift import ModelQuality

    try:
        store = candle_store.store()
        return label_quality(champion, store, feature_store, view, names, start,
                             pd.Timestamp.now(tz="UTC"))  # fmt: skip
    except (ValueError, KeyError, OSError) as exc:
        return ModelQuality(labelled=0, reference=champion[2],
                            note=f"no labels: {type(exc).__name__}: {exc}")  # fmt: skip


LABEL_WARMUP = pd.Timedelta(days=7)  # candles before the day that the rule's SMC state needs


def label_quality(
    champion: tuple[Any, str, dict[str, float]],
    store: Any,
    feature_store: FeatureStoreResource,
    view: str,
    names: Sequence[str],
    start: pd.Timestamp,
    as_of: pd.Timestamp,
) -> Any:
    """The champion on the day's rule intents whose label is known at ``as_of``.

    The intents are the rule's on the stored candles (``prepare_market`` and ``label_intents``
    with the champion's label settings), decided during the day; an intent counts only once its
    ``label_time`` has passed ``as_of`` (causal). Its P is the champion's at the decision bar.
    """
    import numpy as np

    from dashboards.drift import model_inputs, model_quality, scoring_frame
    from features.candles.schema import Timeframe
    from training.meta_labels import MetaLabelConfig
    from training.pipeline import TrainConfig, label_intents, prepare_market

    bundle, _, reference = champion
    meta = bundle.meta
    tf = Timeframe.parse(meta.timeframe)
    end = start + pd.Timedelta(days=1)
    config = TrainConfig(
        kind=meta.kind,
        meta=MetaLabelConfig(**meta.labels),
        setup_final_target=str(meta.setup.get("final_target", "fixed")),
    )
    warm = start - tf.delta * max(meta.lookback - 1, 0)
    keyed = model_inputs(feature_store.tables(), view, names, warm, end, keys=True)
    frame = scoring_frame(keyed, meta.columns)
    markets = {}
    for symbol in sorted(set(frame["symbol"])):
        candles = store.read(symbol, tf, start - LABEL_WARMUP, as_of)
        if len(candles):
            features = frame[frame["symbol"] == symbol].drop(columns="symbol")
            markets[symbol] = prepare_market(symbol, candles, features, tf, config)
    intents, _ = label_intents(markets, config) if markets else (pd.DataFrame(), {})
    if not len(intents):
        return model_quality(np.array([]), np.array([]), meta.threshold, reference)
    decided = pd.DatetimeIndex(intents["decided_at"])
    known = pd.DatetimeIndex(intents["label_time"]) <= as_of
    intents = intents[(decided > start) & (decided <= end) & known]
    keys = pd.MultiIndex.from_arrays([frame["symbol"], pd.DatetimeIndex(frame["event_timestamp"])])
    rows = keys.get_indexer(
        pd.MultiIndex.from_arrays([intents["symbol"], pd.DatetimeIndex(intents["decided_at"])])
    )
    found = rows >= 0
    p = np.full(len(intents), np.nan)
    if found.any():
        p[found] = bundle.predict_frame(frame, rows[found], int(tf.delta.value)).to_numpy()
    return model_quality(p, intents["label"].to_numpy(), meta.threshold, reference)


def prediction_metadata(summary: Any) -> dict[str, Any]:
    """The prediction-drift metadata of a snapshot (read by the drift sensor)."""
    pred = summary.predictions
    if pred is None:
        return {"prediction_note": summary.prediction_note or "not measured"}
    return {
        "prediction_distance": dg.MetadataValue.float(pred.distance),
        "champion_version": pred.version,
        "mean_p_reference": dg.MetadataValue.float(pred.reference_mean),
        "mean_p_current": dg.MetadataValue.float(pred.current_mean),
        "above_threshold_reference": dg.MetadataValue.float(pred.reference_above),
        "above_threshold_current": dg.MetadataValue.float(pred.current_above),
    }


def day_partitions(partitions: dg.MultiPartitionsDefinition) -> dg.PartitionsDefinition:
    """The day dimension of the candle partitions (the drift snapshot's partitions)."""
    return partitions.get_partitions_def_for_dimension(DATE)
