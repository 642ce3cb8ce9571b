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
