"""The `smartmarket` CLI: user errors are one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
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


def test_run_backtests_the_candles_the_job_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headline backtest reads the stored candles (here a file 3x the synthetic prices)."""
    from serving.backtest.main import synthetic_candles

    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", 5, seed=7)
    scaled = candles.copy()
    scaled[["open", "high", "low", "close"]] *= 3.0
    path = tmp_path / "btc.csv"
    scaled.reset_index().rename(columns={"ts": "timestamp"}).to_csv(path, index=False)
    monkeypatch.setenv("SMARTMARKET_SOURCE", "file")
    monkeypatch.setenv("SMARTMARKET_FILE_PATH", str(path))
    monkeypatch.setenv("SMARTMARKET_SYMBOLS", "BTC/USDT")
    home = tmp_path / "h"

    result = runner.invoke(app, ["run", "--days", "5", "--home", str(home)])

    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert "1,440" in result.output  # 5 days x 288 five-minute candles
    assert "backtest BTC/USDT 5m" in result.output
    assert "from the parquet candle store (file data)" in result.output
    assert "buy_and_hold_return=" in result.output
    assert (home / "dagster" / "dagster.yaml").exists()
    (record,) = json.loads((home / "backtests" / "summary.json").read_text())
    assert record["last_close"] == pytest.approx(float(scaled["close"].iloc[-1]))
    trades = pd.read_csv(Path(record["report"]).parent / "trades.csv")
    assert len(trades) > 0
    assert trades["entry_price"].between(scaled["low"].min(), scaled["high"].max()).all()
