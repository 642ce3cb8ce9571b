"""The `smartmarket` CLI: user errors are one clear line and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()
GOOD = "2024-03-01T00:00:00Z,100,101,99,100.5,10\n2024-03-01T00:05:00Z,100.5,102,100,101,11\n"
HEADER = "timestamp,open,high,low,close,volume\n"


def _write(tmp_path: Path, body: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _ingest_file(path: Path) -> object:
    return runner.invoke(
        app,
        [
            "ingest",
            "--source",
            "file",
            "--path",
            str(path),
            "--symbol",
            "BTC/USDT",
            "--timeframe",
            "5m",
            "--no-resample",
        ],
    )


def test_ingest_file_stores_valid_rows_and_reports_quarantine(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + GOOD + "2024-03-01T00:10:00Z,101,abc,100,101,3\n")

    result = _ingest_file(path)

    assert result.exit_code == 0, result.output
    assert "quarantined 1 x" in result.output
    assert "non-numeric high 'abc'" in result.output
    shown = runner.invoke(app, ["candles", "--symbol", "BTC/USDT", "--timeframe", "5m"])
    assert "2 candles" in shown.output


@pytest.mark.parametrize(
    ("body", "name", "message"),
    [
        (None, "missing.csv", "not found"),
        ("", "empty.csv", "empty"),
        ("timestamp,open,high,low,volume\n2024-03-01T00:00:00Z,1,2,0.5,3\n", "nocol.csv", "close"),
    ],
)
def test_bad_files_give_one_clear_line_and_exit_2(
    tmp_path: Path, body: str | None, name: str, message: str
) -> None:
    path = tmp_path / name if body is None else _write(tmp_path, body, name)

    result = _ingest_file(path)

    assert result.exit_code == 2
    assert message in result.output
    assert str(path.name) in result.output
    assert "Traceback" not in result.output


def test_unknown_exchange_is_named(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", "--source", "ccxt", "--exchange", "binanse", "--symbol", "BTC/USDT"]
    )

    assert result.exit_code == 2
    assert "binanse" in result.output
    assert "binance" in result.output  # the suggestion


def test_unknown_synthetic_symbol_is_named() -> None:
    result = runner.invoke(
        app, ["ingest", "--symbol", "DOGE/XYZ", "--start", "2024-03-01", "--end", "2024-03-02"]
    )

    assert result.exit_code == 2
    assert "DOGE/XYZ" in result.output


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMARKET_HISTORY_DAYS", "-3")

    result = runner.invoke(app, ["config"])

    assert result.exit_code == 2
    assert "SMARTMARKET_HISTORY_DAYS" in result.output


def test_run_materializes_the_main_job_and_ends_with_a_backtest(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--days", "5", "--home", str(tmp_path / "h")])

    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert "1,440" in result.output  # 5 days x 288 five-minute candles per symbol
    assert "backtest BTC/USDT" in result.output
    assert "buy_and_hold_return=" in result.output
    assert (tmp_path / "h" / "dagster" / "dagster.yaml").exists()
    assert (tmp_path / "h" / "backtest" / "report.html").exists()
