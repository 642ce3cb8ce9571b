"""The ``trained_model`` asset: walk-forward training, evaluation, MLflow and the promotion gate.

Thin: read the stored candles of the configured symbols on the trading timeframe (the run
config's window, or everything stored), get the model inputs as of every bar close from Feast's
point-in-time retrieval (``model_inputs_v<n>``), then the pure calls of ``training``:
``prepare_market`` / ``train_and_evaluate`` / ``evaluate``; log the run and register the
challenger in MLflow, run the promotion gate against rule-only and the current champion and
record the decision. The asset is partitioned by symbol set and timeframe (one key of the
settings, e.g. ``BTC-USDT+ETH-USDT|5m``); its checks read what the run computed.

:func:`train_register` is the part shared with ``smartmarket train`` (which takes its features
from candle files instead of the store).
"""

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from orchestration.assets.candles import candles_key
from orchestration.assets.features import FEAST_REGISTRY, MTF_FEATURES, smc_features_key
from orchestration.resources import CandleStoreResource
from orchestration.resources.feast import FeatureStoreResource
from orchestration.settings import Settings, registry_config

if TYPE_CHECKING:
    from training.evaluate import Evaluation
    from training.leak_audit import FeaturesOf
    from training.pipeline import Market, TrainConfig, TrainingResult
    from training.promotion import Decision, PromotionConfig
    from training.registry import LoggedModel, RegistryConfig

TRAINED_MODEL = dg.AssetKey("trained_model")
GROUP = "models"
SUMMARY_FILE = "summary.json"
BEATS_BASELINES = "beats_baselines"
NO_LEAKAGE = "no_leakage"
CALIBRATION = "calibration"
LEAK_AUC = 0.62
MAX_BRIER = 0.30
MAX_ECE = 0.15
Progress = Callable[[str], None]


def models_dir(settings: Settings) -> Path:
    """Where training runs write their bundles, tables and ``summary.json``."""
    return settings.home_dir / "models"


def model_partition_key(symbols: Sequence[str], timeframe: str) -> str:
    """Partition key of a symbol set and timeframe, e.g. ``BTC-USDT+ETH-USDT|5m``."""
    names = "+".join(s.replace("/", "-").replace(":", "_") for s in sorted(symbols))
    return f"{names}|{timeframe}"


def model_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """One partition: the configured symbols on the trading timeframe."""
    return dg.StaticPartitionsDefinition(
        [model_partition_key(settings.symbols, settings.trading_timeframe)]
    )


def _fold_table(evaluation: "Evaluation") -> pd.DataFrame:
    keep = [
        "fold",
        "test_start",
        "test_end",
        "auc",
        "brier",
        "threshold",
        "taken",
        "test_intents",
        "rules_return",
        "model_filtered_return",
        "model_sized_return",
        "buy_and_hold_return",
    ]
    frame = evaluation.folds
    return frame[[c for c in keep if c in frame.columns]]


def markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """A small table as Markdown (numbers to 4 significant digits)."""
    shown = frame.reset_index() if index else frame
    cols = [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in shown.itertuples(index=False):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class TrainingOutcome:
    """A finished training run: the pure results, what the registry holds and the decision."""

    result: "TrainingResult"
    evaluation: "Evaluation"
    logged: "LoggedModel"
    decision: "Decision"
    champion_before: str | None
    champion_after: str | None
    record: dict[str, Any]


def leakage(result: "TrainingResult") -> dict[str, Any]:
    """Per fold: the latest training / validation label time against the test start."""
    label = result.intents["label_time"]
    folds, ok = [], True
    for fr in result.folds:
        f = fr.fold
        last = max(
            label.iloc[f.train].max(),
            label.iloc[f.valid].max() if len(f.valid) else label.iloc[f.train].max(),
        )
        clean = bool(last < f.test_start)
        ok &= clean
        folds.append(
            {
                "fold": f.index,
                "last_label": str(last),
                "test_start": str(f.test_start),
                "clean": clean,
            }
        )
    return {"clean": ok, "folds": folds}


def pooled(result: "TrainingResult") -> tuple[np.ndarray, np.ndarray]:
    """Every fold's out-of-sample labels and calibrated probabilities."""
    preds = [fr.predictions for fr in result.folds if len(fr.predictions)]
    if not preds:
        return np.zeros(0), np.zeros(0)
    frame = pd.concat(preds, ignore_index=True)
    return frame["label"].to_numpy(dtype=np.float64), frame["p"].to_numpy(dtype=np.float64)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _evidence(evaluation: "Evaluation", variant: str) -> Any:
    from training.promotion import Evidence

    e = evaluation.evidence(variant)
    n = e["n_trades"]
    return Evidence(
        e["sharpe"],
        e["total_return"],
        e["calmar"],
        int(n) if math.isfinite(n) else 0,
        e["deflated_sharpe"],
    )


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def train_register(
    markets: Mapping[str, "Market"],
    timeframe: Timeframe,
    config: "TrainConfig",
    registry: "RegistryConfig",
    promotion: "PromotionConfig",
    out_dir: Path,
    *,
    features_of: "FeaturesOf",
    random_seeds: int = 20,
    source: str = "",
    progress: Progress = lambda _: None,
) -> TrainingOutcome:
    """Train and evaluate walk-forward, register the challenger, run the gate, record it all.

    An out-of-sample AUC above :data:`LEAK_AUC` runs the look-ahead audit of the labels and
    features (``training.leak_audit``, with ``features_of`` the run's feature path) before the
    gate; a finding refuses the promotion.
    """
    from training.evaluate import evaluate
    from training.leak_audit import audit_inputs
    from training.pipeline import train_and_evaluate
    from training.promotion import Decision, decide
    from training.registry import (
        CHAMPION,
        evidence_of,
        experiment_name,
        log_training,
        record_decision,
        version_by_alias,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    result = train_and_evaluate(markets, timeframe, config, out_dir, progress)
    progress(f"evaluating {len(result.folds)} folds through the engine")
    evaluation = evaluate(result, random_seeds=random_seeds)
    tables = out_dir / "evaluation"
    evaluation.write(tables)
    y, p = pooled(result)
    champion = version_by_alias(registry, CHAMPION)
    before = None if champion is None else str(champion.version)
    challenger, rules = _evidence(evaluation, "model_filtered"), _evidence(evaluation, "rules")
    decision = decide(
        challenger, rules, None if champion is None else evidence_of(champion), promotion
    )
    auc = _auc(y, p) if len(y) else float("nan")
    audit = None
    if math.isfinite(auc) and auc > LEAK_AUC:
        progress(f"OOS AUC {auc:.3f} > {LEAK_AUC}: look-ahead audit of the labels and features")
        audit = audit_inputs(markets, result.columns, features_of, config.meta)
        progress(audit.summary())
        if not audit.clean:
            decision = Decision(False, f"not promoted: {audit.summary()}")
    assert result.bundle is not None
    from training.bundle import load_bundle

    bundle = load_bundle(result.bundle)
    example = np.zeros((2, bundle.meta.lookback, len(bundle.preprocessor.output_names)), "f4")
    symbols = sorted(markets)
    fold_metrics = [fr.metrics for fr in result.folds]
    progress("logging the run and registering the challenger")
    logged = log_training(
        registry,
        experiment=experiment_name(symbols, timeframe.label),
        params=config.describe(),
        metrics={
            "oos_auc": auc,
            **{
                f"{v}_{k}": float(evaluation.summary.loc[v, k])
                for v in evaluation.summary.index
                for k in ("sharpe", "total_return", "max_drawdown", "n_trades")
            },
        },
        fold_metrics=fold_metrics,
        tags={
            "fingerprint": result.fingerprint,
            "symbols": ",".join(symbols),
            "timeframe": timeframe.label,
            "train_start": bundle.meta.train_start,
            "train_end": bundle.meta.train_end,
            "labels": json.dumps(bundle.meta.labels, default=str),
            "source": source,
            "promotion": json.dumps({"promote": decision.promote, "reason": decision.reason}),
        },
        evidence=challenger,
        artifacts=tables,
        bundle=result.bundle,
        example=example,
    )
    record_decision(registry, logged.version, decision)
    found = version_by_alias(registry, CHAMPION)
    after = None if found is None else str(found.version)
    summary = evaluation.summary
    record = {
        "symbols": symbols,
        "timeframe": timeframe.label,
        "kind": config.kind,
        "source": source,
        "intents": len(result.intents),
        "folds": len(result.folds),
        "oos_auc": _finite(auc),
        "summary": {
            str(v): {str(k): _finite(float(summary.loc[v, k])) for k in summary.columns}
            for v in summary.index
        },
        "version": logged.version,
        "run_id": logged.run_id,
        "experiment": logged.experiment,
        "tracking_uri": registry.tracking_uri,
        "promoted": decision.promote,
        "reason": decision.reason,
        "leak_audit": None if audit is None else audit.as_dict(),
        "champion_before": before,
        "champion_after": after,
        "bundle": str(result.bundle),
    }
    (out_dir / SUMMARY_FILE).write_text(json.dumps(record, indent=2))
    return TrainingOutcome(result, evaluation, logged, decision, before, after, record)


class TrainingWindow(dg.Config):
    """What to train on: ``[start, end)`` as UTC dates (empty: everything stored), the kind."""

    start: str | None = None
    end: str | None = None
    kind: str = "mlp"
    folds: int = 4
    epochs: int | None = None
    random_seeds: int = 20


def train_config(
    kind: str, folds: int, epochs: int | None = None, trials: int = 0
) -> "TrainConfig":
    """The default ``TrainConfig`` with a kind, a fold count, optionally fewer epochs and a
    keras-tuner budget per training window (0: no search)."""
    import dataclasses

    from training.pipeline import TrainConfig
    from training.tuning import TuningConfig

    base = TrainConfig(kind=kind)
    model = base.model if epochs is None else dataclasses.replace(base.model, epochs=epochs)
    splits = dataclasses.replace(base.splits, n_folds=folds)
    tuning = TuningConfig(max_trials=trials, epochs=epochs) if trials > 0 else None
    return dataclasses.replace(base, model=model, splits=splits, tuning=tuning)


def store_features(
    feature_store: FeatureStoreResource, candles: Mapping[str, pd.DataFrame], trading: Timeframe
) -> dict[str, pd.DataFrame]:
    """Model inputs as of every bar close of ``candles``, from Feast's point-in-time retrieval."""
    from features.feature_store import historical_features

    store = feature_store.store()
    service = store.get_feature_service(feature_store.feature_set().inputs_service)
    out = {}
    for symbol, frame in candles.items():
        closes = pd.DatetimeIndex(frame.index + trading.delta)
        parts = []
        months = closes.tz_convert(None).to_period("M")
        for month in sorted(set(months)):  # a month at a time: bounded memory
            entity = pd.DataFrame({"symbol": symbol, "event_timestamp": closes[months == month]})
            parts.append(historical_features(store, entity, service))
        joined = pd.concat(parts, ignore_index=True)
        out[symbol] = joined.drop(columns=["symbol"])
    return out


def features_path(trading: Timeframe, timeframes: Sequence[str]) -> "FeaturesOf":
    """The feature path the stored features came from, as the look-ahead audit calls it."""

    def features_of(symbol: str, candles: pd.DataFrame) -> pd.DataFrame:
        from features.model_inputs import model_input_frame

        return model_input_frame(candles, trading, timeframes)

    return features_of


def _check(name: str, passed: bool, metadata: dict[str, Any]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=TRAINED_MODEL,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def check_results(outcome: TrainingOutcome, metric: str) -> list[dg.AssetCheckResult]:
    """The three checks of a run: beats the baselines, no leakage, calibration."""
    from training.calibration import brier_score, expected_calibration_error

    summary = outcome.evaluation.summary
    model = float(summary.at["model_filtered", metric])  # type: ignore[arg-type]
    rules = float(summary.at["rules", metric])  # type: ignore[arg-type]
    beats = _check(
        BEATS_BASELINES,
        math.isfinite(model) and (not math.isfinite(rules) or model > rules),
        {"metric": metric, "model_filtered": _finite(model), "rules": _finite(rules)},
    )
    leak = leakage(outcome.result)
    y, p = pooled(outcome.result)
    auc = _auc(y, p) if len(y) else float("nan")
    audit = outcome.record.get("leak_audit")
    suspicious = math.isfinite(auc) and auc > LEAK_AUC
    audited_clean = audit is not None and audit["clean"]
    if not leak["clean"]:
        why = "a fold's training label reaches its test window"
    elif suspicious and not audited_clean:
        why = (
            f"pooled OOS AUC {auc:.3f} > {LEAK_AUC}: the look-ahead audit of labels and features "
            + ("found a leak" if audit is not None else "did not run")
        )
    elif suspicious:
        why = f"pooled OOS AUC {auc:.3f} > {LEAK_AUC}, and the look-ahead audit is clean"
    else:
        why = "ok"
    no_leak = _check(
        NO_LEAKAGE,
        leak["clean"] and (not suspicious or audited_clean),
        {
            "oos_auc": _finite(auc),
            "verdict": why,
            "folds": dg.MetadataValue.json(leak["folds"]),
            "look_ahead_audit": dg.MetadataValue.json(audit or {"ran": False}),
        },
    )
    brier = brier_score(y, p) if len(y) else float("nan")
    ece = expected_calibration_error(y, p) if len(y) else float("nan")
    calibrated = _check(
        CALIBRATION,
        bool(math.isfinite(brier) and brier <= MAX_BRIER and ece <= MAX_ECE),
        {
            "brier": _finite(brier),
            "ece": _finite(ece),
            "max_brier": MAX_BRIER,
            "max_ece": MAX_ECE,
            "oos_predictions": len(y),
        },
    )
    return [beats, no_leak, calibrated]


def build_training_model_asset(settings: Settings) -> dg.AssetsDefinition:
    """Return the ``trained_model`` asset on the trading timeframe's stored candles."""
    trading = Timeframe.parse(settings.trading_timeframe)
    metric = "sharpe"

    @dg.asset(
        key=TRAINED_MODEL,
        deps=[
            FEAST_REGISTRY,
            *(
                dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping())
                for key in (MTF_FEATURES, smc_features_key(trading), candles_key(trading))
            ),
        ],
        partitions_def=model_partitions(settings),
        group_name=GROUP,
        kinds={"mlflow", "keras"},
        check_specs=[
            dg.AssetCheckSpec(
                BEATS_BASELINES,
                asset=TRAINED_MODEL,
                description=f"model_filtered beats rule-only on OOS {metric}",
            ),
            dg.AssetCheckSpec(
                NO_LEAKAGE,
                asset=TRAINED_MODEL,
                description="every training label before its test window; OOS "
                f"AUC above {LEAK_AUC} is treated as a leak",
            ),
            dg.AssetCheckSpec(
                CALIBRATION,
                asset=TRAINED_MODEL,
                description=f"pooled OOS Brier <= {MAX_BRIER} and ECE <= {MAX_ECE}",
            ),
        ],
        description="Meta-label model of the rule's setups: purged walk-forward on the Feast "
        "point-in-time inputs, evaluated through the engine against rule-only and baselines, "
        "registered in MLflow as the challenger; the promotion gate decides the champion.",
    )
    def trained_model(
        context: dg.AssetExecutionContext,
        config: TrainingWindow,
        candle_store: CandleStoreResource,
        feature_store: FeatureStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from training.pipeline import prepare_market
        from training.promotion import PromotionConfig

        registry = registry_config(settings)
        store = candle_store.store()
        start = pd.Timestamp(config.start, tz="UTC") if config.start else None
        end = pd.Timestamp(config.end, tz="UTC") if config.end else None
        candles = {s: store.read(s, trading, start, end) for s in settings.symbols}
        empty = [s for s, c in candles.items() if c.empty]
        if empty:
            raise dg.Failure(description=f"no stored {trading} candles of {', '.join(empty)}")
        features = store_features(feature_store, candles, trading)
        cfg = train_config(config.kind, config.folds, config.epochs)
        markets = {
            s: prepare_market(s, candles[s], features[s], trading, cfg) for s in settings.symbols
        }
        out = models_dir(settings) / "runs" / context.run.run_id[:8]
        outcome = train_register(
            markets,
            trading,
            cfg,
            registry,
            PromotionConfig(metric=metric),
            out,
            features_of=features_path(trading, settings.timeframes),
            random_seeds=config.random_seeds,
            source=f"{settings.store} candle store, Feast {feature_store.offline_store} store",
            progress=context.log.info,
        )
        folder = models_dir(settings)
        (folder / SUMMARY_FILE).write_text(json.dumps(outcome.record, indent=2))
        r = outcome.record
        yield dg.MaterializeResult(
            asset_key=TRAINED_MODEL,
            metadata={
                "folds": dg.MetadataValue.md(markdown(_fold_table(outcome.evaluation))),
                "oos_summary": dg.MetadataValue.md(markdown(outcome.evaluation.summary, True)),
                "oos_auc": r["oos_auc"],
                "intents": r["intents"],
                "version": r["version"],
                "champion_before": r["champion_before"] or "none",
                "champion_after": r["champion_after"] or "none",
                "decision": "promoted" if r["promoted"] else "kept the champion",
                "reason": r["reason"],
                "mlflow_run_id": r["run_id"],
                "mlflow_experiment": r["experiment"],
                "tracking_uri": registry.tracking_uri,
                "bundle": dg.MetadataValue.path(r["bundle"]),
            },
        )
        yield from check_results(outcome, metric)

    return trained_model


def read_summary(settings: Settings) -> dict[str, Any] | None:
    """The record the last ``trained_model`` run wrote, if any."""
    path = models_dir(settings) / SUMMARY_FILE
    return json.loads(path.read_text()) if path.exists() else None
