"""Feature assets: SMC per timeframe, MTF, the Feast registry, the online store, a training set.

Thin by design: each asset reads its inputs through resources, calls the pure steps of
``features.pipeline`` (month loops, warm-ups) and ``features.feature_store``, writes the rows
and attaches metadata; the feature suite (Great Expectations, ``expectations.features``) runs
as blocking asset checks.

- ``smc_features_<tf>`` (day x symbol, like the candles): SMC features from end-of-day
  ``SMCStream`` snapshots, so a new day continues from the previous one and equals a full
  recomputation; written to the ``smc_<tf>`` offline table.
- ``mtf_features`` (day x symbol): MTF features on the trading timeframe with exactly the
  warm-up they need, plus the packed model vector (``mtf_<tf>`` and ``model_<tf>`` tables).
- ``feast_registry``: ``feast apply`` of the repo (entity, sources, views, services).
- ``online_features``: each view's newest row per symbol loaded into the online store.
- ``training_dataset``: a point-in-time dataset from ``get_historical_features`` with
  forward-return labels (decision at a candle close, label known ``horizon`` later).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext

from features.candles.schema import Timeframe
from orchestration.assets.candles import candles_key, day_window, markdown_table
from orchestration.partitions import DATE, SYMBOL
from orchestration.resources import CandleStoreResource
from orchestration.resources.feast import FeatureStoreResource
from orchestration.settings import Settings

FEATURE_SUITE = "feature_suite"
POINT_IN_TIME = "point_in_time"
MTF_FEATURES = dg.AssetKey("mtf_features")
FEAST_REGISTRY = dg.AssetKey("feast_registry")
ONLINE_FEATURES = dg.AssetKey("online_features")
TRAINING_DATASET = dg.AssetKey("training_dataset")
GROUP = "features"


def smc_features_key(timeframe: Timeframe) -> dg.AssetKey:
    """Asset key of the SMC features of one timeframe."""
    return dg.AssetKey(f"smc_features_{timeframe.label}")


def run_days(context: AssetExecutionContext) -> dict[str, list[str]]:
    """Return ``{symbol: sorted dates}`` of this run's partitions (one run may cover a range)."""
    partitions_def = context.assets_def.partitions_def
    assert isinstance(partitions_def, dg.MultiPartitionsDefinition)
    out: dict[str, list[str]] = {}
    for key in context.partition_keys:
        dims = partitions_def.get_partition_key_from_str(key).keys_by_dimension
        out.setdefault(dims[SYMBOL], []).append(dims[DATE])
    return {symbol: sorted(dates) for symbol, dates in sorted(out.items())}


def _suite_result(key: dg.AssetKey, reports: Sequence[Any]) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {"tables": len(reports)}
    for report in reports:
        metadata[report.table] = dg.MetadataValue.json(report.to_metadata())
    failed = [r.table for r in reports if not r.success]
    metadata["failed"] = ", ".join(failed) or "none"
    if reports:
        metadata["report"] = dg.MetadataValue.md("\n\n".join(r.to_markdown() for r in reports))
    return dg.AssetCheckResult(
        check_name=FEATURE_SUITE,
        asset_key=key,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def build_smc_asset(
    partitions: dg.MultiPartitionsDefinition, timeframe: Timeframe
) -> dg.AssetsDefinition:
    """Build the ``smc_features_<tf>`` asset."""
    key = smc_features_key(timeframe)

    @dg.asset(
        key=key,
        deps=[candles_key(timeframe)],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"pandas", "parquet"},
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[
            dg.AssetCheckSpec(
                FEATURE_SUITE, asset=key, blocking=True, description="GX feature suite"
            )
        ],
        description=f"SMC features of {timeframe.label} candles (compute_smc columns), each "
        "known at the candle close; incremental from end-of-day SMCStream snapshots, equal "
        f"to a full recomputation. Offline table smc_{timeframe.label}.",
    )
    def smc_features(
        context: AssetExecutionContext,
        candle_store: CandleStoreResource,
        feature_store: FeatureStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from expectations.features import combine_reports, run_feature_suite
        from features.layout import view_name
        from features.pipeline import smc_months
        from features.smc import SMCConfig

        store, tables = candle_store.store(), feature_store.tables()
        snapshots = feature_store.snapshots()
        config = SMCConfig.for_timeframe(timeframe.label)
        view = view_name("smc", timeframe)
        created = pd.Timestamp.now(tz="UTC")
        reports, rows, resumed, recomputed = [], 0, 0, 0
        preview = pd.DataFrame()
        for symbol, dates in run_days(context).items():
            candles = store.read(symbol, timeframe, None, day_window(dates[-1])[1])
            parts = []
            for month in smc_months(
                candles,
                dates,
                symbol=symbol,
                config=config,
                snapshots=snapshots,
                created=created,
            ):
                rows += tables.write(
                    view, timeframe, symbol, month.table, month.first_day, month.end
                )
                resumed += month.resumed
                recomputed += month.extra_days
                parts.append(
                    run_feature_suite(
                        month.requested,
                        expected_rows=month.expected_rows,
                        warm=month.requested["smc_warm"].to_numpy() == 1.0,
                        table=f"{view} {symbol}",
                    )
                )
                preview = month.requested.iloc[:, :8]
            reports.append(combine_reports(parts, table=f"{view} {symbol}"))
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "rows_written": rows,
                "series": len(reports),
                "resumed_from_snapshot": resumed,
                "extra_days_recomputed": recomputed,
                "preview": dg.MetadataValue.md(markdown_table(preview)),
            },
        )
        yield _suite_result(key, reports)

    return smc_features


def build_mtf_asset(
    partitions: dg.MultiPartitionsDefinition,
    trading: Timeframe,
    timeframes: Sequence[Timeframe],
) -> dg.AssetsDefinition:
    """Build the ``mtf_features`` asset (also writes the packed model vector)."""
    used = [tf for tf in timeframes if tf >= trading]

    @dg.asset(
        key=MTF_FEATURES,
        deps=[smc_features_key(tf) for tf in used],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"pandas", "parquet"},
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[
            dg.AssetCheckSpec(
                FEATURE_SUITE, asset=MTF_FEATURES, blocking=True, description="GX feature suite"
            )
        ],
        description=f"Multi-timeframe features on {trading.label} (compute_mtf: HTF bias, "
        "zones, confluence), higher timeframes joined at their close, computed with exactly "
        f"their warm-up; offline tables mtf_{trading.label} and model_{trading.label} (the "
        "model's inputs packed in one vector).",
    )
    def mtf_features(
        context: AssetExecutionContext,
        candle_store: CandleStoreResource,
        feature_store: FeatureStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from expectations.features import combine_reports, run_feature_suite
        from features.layout import view_name
        from features.mtf import MTFConfig
        from features.pipeline import MissingFeatures, mtf_months
        from features.tables import features_frame

        store, tables = candle_store.store(), feature_store.tables()
        features = feature_store.feature_set()
        created = pd.Timestamp.now(tz="UTC")
        view = view_name("mtf", trading)
        reports, rows = [], 0
        preview = pd.DataFrame()
        for symbol, dates in run_days(context).items():

            def load(
                tf: Timeframe, start: pd.Timestamp, end: pd.Timestamp, symbol: str = symbol
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
                smc_rows = tables.read(view_name("smc", tf), symbol, start, end)
                smc = features_frame(smc_rows) if len(smc_rows) else pd.DataFrame()
                return store.read(symbol, tf, start, end), smc

            parts = []
            months = mtf_months(
                dates,
                load,
                symbol=symbol,
                trading=trading,
                timeframes=used,
                config=MTFConfig(),
                model_columns=features.model_columns,
                created=created,
            )
            try:
                for month in months:
                    rows += tables.write(
                        view, trading, symbol, month.mtf_table, month.start, month.end
                    )
                    tables.write(
                        view_name("model", trading),
                        trading,
                        symbol,
                        month.model_table,
                        month.start,
                        month.end,
                    )
                    parts.append(
                        run_feature_suite(
                            month.requested,
                            expected_rows=month.expected_rows,
                            warm=month.warm,
                            table=f"{view} {symbol}",
                        )
                    )
                    preview = month.requested.iloc[:, -8:]
            except MissingFeatures as exc:
                raise dg.Failure(description=str(exc)) from None
            reports.append(combine_reports(parts, table=f"{view} {symbol}"))
        yield dg.MaterializeResult(
            asset_key=MTF_FEATURES,
            metadata={
                "rows_written": rows,
                "series": len(reports),
                "model_inputs": len(features.model_columns),
                "model_fingerprint": features.model_fingerprint,
                "preview": dg.MetadataValue.md(markdown_table(preview)),
            },
        )
        yield _suite_result(MTF_FEATURES, reports)

    return mtf_features


def build_registry_asset() -> dg.AssetsDefinition:
    """Build ``feast_registry``: apply the repo's definitions."""

    @dg.asset(
        key=FEAST_REGISTRY,
        group_name=GROUP,
        kinds={"feast"},
        description="Feast registry: the symbol entity, one file source and feature view per "
        "offline table, the versioned model-input services (feast apply).",
    )
    def feast_registry(feature_store: FeatureStoreResource) -> dg.MaterializeResult:
        from features.feature_store import apply_repo

        store = feature_store.store()
        features = feature_store.feature_set()
        names = apply_repo(store, features)
        views = {v.name: len(v.features) for v in store.list_feature_views()}
        services = [s.name for s in store.list_feature_services()]
        return dg.MaterializeResult(
            metadata={
                "project": feature_store.project,
                "online_store": feature_store.online_store,
                "offline_store": feature_store.offline_store,
                "objects_applied": len(names),
                "feature_views": dg.MetadataValue.json(views),
                "feature_services": ", ".join(sorted(services)),
                "model_inputs": len(features.model_columns),
                "model_fingerprint": features.model_fingerprint,
            }
        )

    return feast_registry


def build_online_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """Build ``online_features``: materialize each view's newest rows."""

    @dg.asset(
        key=ONLINE_FEATURES,
        deps=[FEAST_REGISTRY, *upstream],
        group_name=GROUP,
        kinds={"feast"},
        automation_condition=dg.AutomationCondition.eager(),
        description="The online store (SQLite by default, Redis or PostgreSQL by setting) "
        "holding each view's newest row per symbol; refreshed after each feature update.",
    )
    def online_features(feature_store: FeatureStoreResource) -> dg.MaterializeResult:
        from features.feature_store import materialize_latest, online_vector

        store, tables = feature_store.store(), feature_store.tables()
        features = feature_store.feature_set()
        done = materialize_latest(store, features, tables)
        served = {}
        for symbol in tables.symbols(f"model_{features.trading_timeframe}"):
            vector = online_vector(store, features, symbol)
            served[symbol] = {
                "known_at": str(vector.known_at),
                "inputs": int(vector.values.size),
                "missing": int(np.isnan(vector.values).sum()),
            }
        return dg.MaterializeResult(
            metadata={
                "online_store": feature_store.online_store,
                "views": dg.MetadataValue.json({k: str(v) for k, v in done.items()}),
                "served": dg.MetadataValue.json(served),
            }
        )

    return online_features


def build_training_asset(trading: Timeframe) -> dg.AssetsDefinition:
    """Build ``training_dataset``: point-in-time features with forward-return labels."""

    @dg.asset(
        key=TRAINING_DATASET,
        deps=[FEAST_REGISTRY, MTF_FEATURES, smc_features_key(trading)],
        group_name=GROUP,
        kinds={"feast", "parquet"},
        check_specs=[
            dg.AssetCheckSpec(
                POINT_IN_TIME,
                asset=TRAINING_DATASET,
                blocking=True,
                description="No feature known after its decision time; labels after it",
            )
        ],
        description="Training dataset from get_historical_features (model_inputs service): "
        f"one row per {trading.label} candle close (decision time) of the last training days, "
        "features as of the decision time, label = forward return over the horizon, known at "
        "decision time + horizon.",
    )
    def training_dataset(
        candle_store: CandleStoreResource, feature_store: FeatureStoreResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from features.feature_store import training_entities, write_training_dataset
        from features.labels import forward_return_labels
        from features.layout import EVENT_TIMESTAMP, view_name

        store, tables = feature_store.store(), feature_store.tables()
        features = feature_store.feature_set()
        latest = tables.latest_event_times(view_name("model", trading))
        labels = {}
        for symbol, newest in latest.items():
            start = None
            if feature_store.training_days:
                start = newest - pd.Timedelta(days=feature_store.training_days)
            candles = candle_store.store().read(symbol, trading, start, newest)
            frame = forward_return_labels(candles, trading, feature_store.label_horizon_bars)
            labels[symbol] = frame[frame[EVENT_TIMESTAMP] <= newest]
        summary = write_training_dataset(
            store,
            training_entities(labels),
            store.get_feature_service(features.inputs_service),
            feature_store.training_dir / f"{features.inputs_service}.parquet",
        )
        yield dg.MaterializeResult(
            asset_key=TRAINING_DATASET,
            metadata={
                "path": str(summary.path),
                "rows": summary.rows,
                "inputs": summary.inputs,
                "service": features.inputs_service,
                "symbols": ", ".join(labels),
                "span": f"{summary.first} .. {summary.last}",
                "label_up_share": summary.label_up_share,
                "missing_share": summary.missing_share,
            },
        )
        yield dg.AssetCheckResult(
            check_name=POINT_IN_TIME,
            asset_key=TRAINING_DATASET,
            passed=summary.features_after_decision + summary.labels_not_after_decision == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "features_known_after_decision": summary.features_after_decision,
                "labels_not_after_decision": summary.labels_not_after_decision,
                "rows": summary.rows,
            },
        )

    return training_dataset


def build_feature_assets(
    partitions: dg.MultiPartitionsDefinition, settings: Settings
) -> list[dg.AssetsDefinition]:
    """Build every feature asset for ``settings`` (timeframes, trading timeframe)."""
    base = Timeframe.parse(settings.base_timeframe)
    trading = Timeframe.parse(settings.trading_timeframe)
    timeframes = sorted({Timeframe.parse(tf) for tf in settings.timeframes} | {base, trading})
    smc = [build_smc_asset(partitions, tf) for tf in timeframes]
    return [
        *smc,
        build_mtf_asset(partitions, trading, timeframes),
        build_registry_asset(),
        build_online_asset([MTF_FEATURES, *(smc_features_key(tf) for tf in timeframes)]),
        build_training_asset(trading),
    ]
