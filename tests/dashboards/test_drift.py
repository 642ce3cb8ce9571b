"""Drift maths: Evidently on drifted and undrifted inputs, the summary and the health flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboards import drift
from tests.dashboards.conftest import drift_frames


def test_shifted_inputs_drift_and_the_others_do_not() -> None:
    reference, current = drift_frames(shift=2.0)

    _, summary = drift.drift_report(reference, current)

    assert set(summary.drifted) == {"a", "b", "c"}
    assert summary.share == pytest.approx(0.5)
    assert summary.compared == 6
    assert summary.dataset_drift  # 0.5 >= the default drift_share 0.3
    assert all(summary.scores[c] < 0.1 for c in "def")


def test_undrifted_inputs_give_a_zero_share() -> None:
    reference, current = drift_frames(shift=0.0)

    _, summary = drift.drift_report(reference, current)

    assert summary.drifted == ()
    assert summary.share == 0.0
    assert not summary.dataset_drift


def test_empty_and_constant_inputs_are_skipped_with_why() -> None:
    reference, current = drift_frames(shift=0.0)
    reference["empty"], current["empty"] = np.nan, np.nan
    reference["flat"], current["flat"] = 1.0, 2.0

    _, summary = drift.drift_report(reference, current)

    assert summary.skipped == {"empty": "no values in the reference",
                               "flat": "constant in the reference"}  # fmt: skip
    assert summary.compared == 6


def test_no_comparable_input_is_an_error() -> None:
    frame = pd.DataFrame({"x": [1.0] * 20})

    with pytest.raises(ValueError, match="no input can be compared"):
        drift.drift_report(frame, frame)


def test_samples_bound_the_rows_compared() -> None:
    reference, current = drift_frames(shift=0.0)

    _, summary = drift.drift_report(
        reference, current, drift.DriftConfig(max_reference_rows=300, max_current_rows=200)
    )

    assert (summary.reference_rows, summary.current_rows) == (300, 200)


def test_snapshot_files_and_summary_round_trip(tmp_path: Path) -> None:
    reference, current = drift_frames(shift=2.0)
    snapshot, summary = drift.drift_report(reference, current)

    paths = drift.write_snapshot(snapshot, summary, tmp_path / "day")

    assert paths["html"].read_text().lstrip().startswith("<!DOCTYPE html>")
    assert json.loads(paths["json"].read_text())["metrics"]
    back = drift.DriftSummary.from_dict(json.loads(paths["summary"].read_text()))
    assert back == summary


def test_inputs_by_name_drops_the_view_and_known_at() -> None:
    frame = pd.DataFrame({"symbol": ["X"], "smc_5m__a": [1], "smc_5m__known_at": [0.0],
                          "mtf_5m__b": [2.0], "label_up": [1.0]})  # fmt: skip

    out = drift.inputs_by_name(frame)

    assert list(out.columns) == ["a", "b"]
    assert out.dtypes.tolist() == [np.float64, np.float64]


def test_inputs_by_name_refuses_a_name_in_two_views() -> None:
    frame = pd.DataFrame({"smc_5m__a": [1.0], "mtf_5m__a": [2.0]})

    with pytest.raises(ValueError, match="more than one view: \\['a'\\]"):
        drift.inputs_by_name(frame)


def test_unpack_vectors_names_the_values_and_checks_their_length() -> None:
    out = drift.unpack_vectors([np.array([1.0, 2.0]), np.array([3.0, 4.0])], ["a", "b"])

    assert out.to_dict("list") == {"a": [1.0, 3.0], "b": [2.0, 4.0]}
    with pytest.raises(ValueError, match="hold 2 values but 3 input names"):
        drift.unpack_vectors([np.array([1.0, 2.0])], ["a", "b", "c"])


@pytest.mark.parametrize(
    ("share", "status", "action"), [(0.29, "ok", "none"), (0.3, "degraded", "pause")]
)
def test_model_health_degrades_at_the_threshold(share: float, status: str, action: str) -> None:
    summary = drift.DriftSummary(share=share, drifted=("a",), compared=10, scores={})

    health = drift.model_health(
        summary, 0.3, "2024-01-10", pd.Timestamp("2024-01-11", tz="UTC"), action="pause"
    )

    assert (health.status, health.action) == (status, action)
    assert health.reason == f"{share:.0%} of 10 model inputs drifted on 2024-01-10 (threshold 30%)"


def test_model_health_flag_round_trips(tmp_path: Path) -> None:
    summary = drift.DriftSummary(share=0.5, drifted=("a", "b"), compared=4, scores={})
    health = drift.model_health(summary, 0.3, "2024-01-10", pd.Timestamp("2024-01-11", tz="UTC"))

    path = drift.write_model_health(health, tmp_path / "monitoring" / drift.HEALTH_FILE)

    assert drift.read_model_health(path) == health
    assert json.loads(path.read_text())["action"] == "derisk"
    assert drift.read_model_health(tmp_path / "absent.json") is None


def test_drift_config_is_validated() -> None:
    with pytest.raises(ValueError, match="drift_share must be in"):
        drift.DriftConfig(drift_share=0.0)


def beta(a: float, b: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).beta(a, b, size=n)


def test_shifted_probabilities_drift_and_a_second_sample_does_not() -> None:
    reference = beta(2, 5, 5000, 0)  # mean 0.29

    moved = drift.prediction_drift(reference, beta(5, 2, 300, 1), model_threshold=0.5)
    same = drift.prediction_drift(reference, beta(2, 5, 300, 2), model_threshold=0.5)

    assert moved.drifted
    assert moved.distance > 2.0
    assert moved.current_mean == pytest.approx(5 / 7, abs=0.03)
    assert moved.current_above > 0.8 > 0.2 > moved.reference_above
    assert not same.drifted
    assert same.distance < 0.15
    assert sum(same.current_hist) == pytest.approx(1.0)
    assert len(same.edges) == len(same.reference_hist) + 1


def test_prediction_drift_matches_evidently_normed_wasserstein() -> None:
    reference, current = beta(2, 5, 2000, 3), beta(3, 4, 300, 4)
    frames = pd.DataFrame({"p": reference}), pd.DataFrame({"p": current})

    _, summary = drift.drift_report(*frames)

    assert drift.normed_wasserstein(reference, current) == pytest.approx(summary.scores["p"])


def test_a_constant_reference_has_no_scale_and_gives_nan() -> None:
    constant = np.full(100, 0.4) + 0.0 * np.arange(100)

    moved = drift.prediction_drift(constant / 1.0, beta(2, 5, 50, 0), model_threshold=0.5)

    assert np.isnan(moved.distance)
    assert not moved.drifted


def test_prediction_drift_refuses_windows_without_probabilities() -> None:
    with pytest.raises(ValueError, match="no current probability"):
        drift.prediction_drift(beta(2, 5, 10, 0), np.full(3, np.nan), model_threshold=0.5)
    with pytest.raises(ValueError, match="reference probabilities outside"):
        drift.prediction_drift(np.array([0.2, 1.5]), beta(2, 5, 10, 0), model_threshold=0.5)


def test_model_quality_on_labels_and_without() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, 400), 0, 1)

    quality = drift.model_quality(p, y, 0.5, reference={"auc": 0.6})
    none = drift.model_quality(np.array([]), np.array([]), 0.5)

    assert quality.auc > 0.9
    assert quality.brier < 0.15
    assert quality.hit_rate > 0.85
    assert quality.taken == int((p >= 0.5).sum())
    assert quality.labelled == 400
    assert quality.reference == {"auc": 0.6}
    assert (none.labelled, none.note) == (0, "no labels yet")


def test_summary_with_predictions_round_trips_through_json() -> None:
    pred = drift.prediction_drift(beta(2, 5, 500, 0), beta(5, 2, 50, 1), 0.5, version="3")
    quality = drift.model_quality(np.array([0.7, 0.2]), np.array([1, 1]), 0.5)
    summary = drift.DriftSummary(share=0.0, drifted=(), compared=3, scores={},
                                 predictions=pred, quality=quality)  # fmt: skip

    data = json.loads(json.dumps(summary.to_dict()))
    back = drift.DriftSummary.from_dict(data)

    assert data["prediction_drift"] is True
    assert data["quality"]["auc"] is None
    assert back.predictions == pred
    assert back.quality is not None
    assert np.isnan(back.quality.auc)
    assert back.quality.hit_rate == 1.0


def test_prediction_drift_degrades_the_health_with_the_reason() -> None:
    pred = drift.prediction_drift(beta(2, 5, 500, 0), beta(5, 2, 50, 1), 0.5, version="3")
    summary = drift.DriftSummary(share=0.0, drifted=(), compared=3, scores={}, predictions=pred)
    now = pd.Timestamp("2024-01-11", tz="UTC")

    flagged = drift.model_health(summary, 0.3, "2024-01-10", now, prediction_threshold=0.3)
    ignored = drift.model_health(summary, 0.3, "2024-01-10", now)

    assert flagged.status == "degraded"
    assert "predictions of model 3 moved" in flagged.reason
    assert ignored.status == "ok"


def test_scoring_frame_maps_feature_names_to_the_model_columns() -> None:
    when = [pd.Timestamp("2024-01-01", tz="UTC")]
    keyed = pd.DataFrame({"symbol": ["X"], "event_timestamp": when, "a": [1.0], "b": [2.0]})

    frame = drift.scoring_frame(keyed, ["smc_5m__b", "mtf_5m__a"])

    assert list(frame.columns) == ["symbol", "event_timestamp", "smc_5m__b", "mtf_5m__a"]
    assert frame.iloc[0, 2:].tolist() == [2.0, 1.0]
    with pytest.raises(ValueError, match=r"not in the monitored data: \['smc_5m__c'\]"):
        drift.scoring_frame(keyed, ["smc_5m__c"])
