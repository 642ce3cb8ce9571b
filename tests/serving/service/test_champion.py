"""The MLflow champion in the signal service: scored entries, declines, hot reload, refusals.

One tiny real model (the gbm baseline, trained in seconds on the feature path's model inputs)
is registered in a temporary MLflow registry; the service's ``RegistryProvider`` over
``training.online.RegistryChampion`` loads it, and each 5m signal carries its calibrated
probability, version and size, equal to an ``OnlineScorer`` replay of the same candles.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import Timeframe
from orchestration.service import champion_provider
from serving.service.model import RegistryProvider
from serving.service.wiring import Runtime
from tests.serving.conftest import ACTIVE
from tests.serving.service.conftest import SYMBOL, TIMEFRAMES, cut, make_runtime
from tests.training.tiny_model import register_tiny, train_tiny
from training.bundle import load_bundle
from training.online import OnlineScorer, RegistryChampion, replay
from training.registry import RegistryConfig

M5 = Timeframe.parse("5m")


@dataclass(frozen=True)
class Champion:
    home: Path
    bundle: Path
    version: str

    @property
    def registry(self) -> RegistryConfig:
        return RegistryConfig.local(self.home)


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    folder = tmp_path_factory.mktemp("champion")
    bundle = train_tiny(folder / "model")
    return Champion(folder / "home", bundle, register_tiny(folder / "home", bundle))


@pytest.fixture(scope="module")
def entry_5m(full_market: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The close of a late 5m candle on which the ACTIVE rule wants an entry."""
    from serving.analysis import last_signal
    from serving.engine import layout as L
    from serving.engine.features import FeatureSpec, batch_features
    from serving.signals import SMCConfluence

    candles = full_market["5m"]
    rule = SMCConfluence(ACTIVE.strategy)
    matrix = batch_features(candles, FeatureSpec.build("5m", rule.inputs())).matrix
    entries = np.flatnonzero(rule.signals(matrix)[:, L.SIG_ENTRY] != 0)
    for i in entries[::-1]:
        if last_signal(candles.iloc[: i + 1], "5m", SYMBOL, ACTIVE).type == "ENTRY":
            return candles.index[i] + M5.delta
    raise AssertionError("no 5m ENTRY bar in the synthetic market")


def _provider(champion: Champion, timeframes: tuple[str, ...] = TIMEFRAMES) -> RegistryProvider:
    source = RegistryChampion(champion.registry, timeframes)
    return RegistryProvider(source, source.served_fingerprint)


def _signal(
    frames: dict[str, pd.DataFrame], until: pd.Timestamp, provider: RegistryProvider, home: Path
) -> tuple[Runtime, dict[str, Any]]:
    runtime, _, clock = make_runtime(cut(frames, until), home, model=provider)
    clock.now = until.timestamp() + 10.0
    return runtime, runtime.core.signal(SYMBOL, "5m")


def test_the_champion_scores_an_entry_as_a_replay_of_the_same_candles(
    champion: Champion, full_market: dict[str, pd.DataFrame], entry_5m: pd.Timestamp,
    tmp_path: Path,
) -> None:  # fmt: skip
    # Arrange
    provider = _provider(champion)
    state = provider.refresh()
    history = cut(full_market, entry_5m)["5m"]
    bundle = load_bundle(champion.bundle)
    scorer = OnlineScorer(bundle, TIMEFRAMES)
    p = replay(scorer, history)[-1]
    # Act
    runtime, answer = _signal(full_market, entry_5m, provider, tmp_path)
    # Assert
    assert state.status == "loaded"
    assert state.version == champion.version
    assert np.isfinite(p)
    assert answer["model_version"] == champion.version
    assert answer["model_status"] == "scored"
    assert answer["confidence_score"] == round(100 * p)
    assert answer["model_size"] == pytest.approx(scorer.size(p))
    if scorer.size(p) > 0:
        assert answer["type"] == "ENTRY"
    else:
        assert answer["reason"].endswith("declined by the model")
    assert runtime.core.readiness()["model"]["version"] == champion.version
    fifteen = runtime.core.signal(SYMBOL, "15m")  # the model scores 5m bars only
    assert fifteen["model_status"] == "rule_only"


def test_a_new_champion_is_hot_loaded_and_declines_below_its_threshold(
    champion: Champion, full_market: dict[str, pd.DataFrame], entry_5m: pd.Timestamp,
    tmp_path: Path,
) -> None:  # fmt: skip
    # Arrange: the same model with a threshold no probability reaches, registered as v2
    strict = tmp_path / "strict" / "bundle"  # the registry keeps a bundle by its folder name
    shutil.copytree(champion.bundle, strict)
    meta = json.loads((strict / "meta.json").read_text())
    meta["threshold"] = 1.01
    (strict / "meta.json").write_text(json.dumps(meta))
    home = tmp_path / "home"
    before = register_tiny(home, champion.bundle)
    provider = _provider(Champion(home, champion.bundle, before))
    first = provider.refresh()
    # Act
    version = register_tiny(home, strict)
    second = provider.refresh()
    _, answer = _signal(full_market, entry_5m, provider, tmp_path)
    # Assert
    assert first.version == before
    assert second.status == "loaded"
    assert second.reason is None
    assert second.version == version != before
    assert answer["type"] == "NONE"
    assert answer["reason"] == "long entry refused by the risk manager: declined by the model" or (
        answer["reason"] == "short entry refused by the risk manager: declined by the model"
    )
    assert answer["model_version"] == version
    assert answer["model_status"] == "scored"
    assert answer["model_size"] == 0.0


def test_a_champion_trained_on_other_features_is_refused_with_the_reason(
    champion: Champion, full_market: dict[str, pd.DataFrame], entry_5m: pd.Timestamp,
    tmp_path: Path,
) -> None:  # fmt: skip
    # Arrange: a service that stores no 1d candles cannot give the model its inputs
    provider = _provider(champion, TIMEFRAMES[:-1])
    # Act
    state = provider.refresh()
    _, answer = _signal(full_market, entry_5m, provider, tmp_path)
    # Assert
    assert state.status == "refused"
    assert state.version is None
    assert "feature fingerprint" in (state.reason or "")
    assert "signals are rule-only" in (state.reason or "")
    assert answer["model_status"] == "rule_only"
    assert answer["type"] == "ENTRY"


def test_without_a_champion_signals_are_rule_only(
    full_market: dict[str, pd.DataFrame], entry_5m: pd.Timestamp, tmp_path: Path
) -> None:
    # Arrange
    source = RegistryChampion(RegistryConfig.local(tmp_path / "empty"), TIMEFRAMES)
    provider = RegistryProvider(source, source.served_fingerprint)
    # Act
    state = provider.refresh()
    _, answer = _signal(full_market, entry_5m, provider, tmp_path)
    # Assert
    assert state.status == "none"
    assert answer["model_status"] == "rule_only"
    assert answer["confidence_score"] is None


def test_the_runtime_serves_the_settings_registry_or_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.settings import Settings

    local = champion_provider(Settings(home=tmp_path / "home"))
    monkeypatch.setenv("SMARTMARKET_MLFLOW_URI", "postgresql://u:s3cret@127.0.0.1:9/none")
    down = champion_provider(Settings(home=tmp_path / "home"))

    assert isinstance(local, RegistryProvider)
    assert down.state().status == "none"
    assert "s3cret" not in (down.state().reason or "")


def test_a_registry_alias_loads_as_an_online_model(champion: Champion) -> None:
    from training.online import OnlineModel
    from training.registry import RegistryError

    model = OnlineModel.from_registry(champion.registry, "champion")

    assert model.version == champion.version
    assert model.timeframe == "5m"
    with pytest.raises(RegistryError, match="no alias 'nope'"):
        OnlineModel.from_registry(champion.registry, "nope")
