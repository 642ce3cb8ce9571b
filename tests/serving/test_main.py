"""``run_synthetic_report``: what ``make run`` ends with."""

from __future__ import annotations

from pathlib import Path

from serving.backtest.evaluate import HEADLINE
from serving.backtest.main import run_synthetic_report
from serving.engine.config import BacktestConfig


def test_synthetic_report_writes_the_report_and_returns_the_headline_metrics(
    tmp_path: Path,
) -> None:
    # Arrange
    config = BacktestConfig.from_mapping({"evaluation": {"random_seeds": 3}})
    # Act
    headline = run_synthetic_report(tmp_path / "bt", days=8, seed=7, config=config)
    # Assert
    assert set(HEADLINE) <= set(headline)
    assert Path(headline["report"]).is_file()
    assert (tmp_path / "bt" / "metrics.json").is_file()
    assert -1.0 <= headline["total_return"] < 10.0
