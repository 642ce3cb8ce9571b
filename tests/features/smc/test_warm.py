"""features.warm compiles every features kernel and says what it is doing."""

from __future__ import annotations

from features.warm import warm


def test_warm_reports_each_step_and_its_time() -> None:
    lines: list[str] = []
    seconds = warm(lines.append)
    assert seconds > 0.0
    assert lines[0].startswith("warming the numba cache")
    for step in ("compute_smc", "SMCStream", "detect_zones", "compute_mtf"):
        assert sum(step in line for line in lines) == 2, step  # before and after
    assert lines[-1].startswith("features kernels ready in")
