"""``smartmarket backtest`` and ``audit-lookahead``: outputs, and one-line errors with exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from orchestration.cli import app as root_app

runner = CliRunner()
REQUIRED = (
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
    "profit_factor", "expectancy_r", "n_trades", "exposure", "fees_paid",
    "buy_and_hold_return", "buy_and_hold_sharpe", "random_entry_percentile",
)  # fmt: skip


def _app() -> typer.Typer:
    return root_app


@pytest.fixture(scope="module")
def candle_file(tmp_path_factory: pytest.TempPathFactory, market: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "BTCUSDT_5m.csv"
    frame = market.reset_index().rename(columns={"ts": "timestamp"})
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.to_csv(path, index=False)
    return path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def _backtest(candles: Path, out: Path, config: Path | None = None) -> object:
    args = [
        "backtest",
        "--candles",
        str(candles),
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "5m",
        "--out",
        str(out),
    ]
    return runner.invoke(_app(), args + (["--config", str(config)] if config else []))


def test_backtest_writes_metrics_trades_equity_and_an_offline_html_report(
    candle_file: Path, tmp_path: Path
) -> None:
    # Arrange
    config = _write(
        tmp_path,
        "strategy:\n  require_zone: false\n  min_score: 3\nevaluation:\n  random_seeds: 5\n"
        "  walk_forward: true\n  train: 8d\n  test: 4d\n  min_trades: 1\n"
        "  grid:\n    strategy.min_score: [3, 4]\n",
    )
    out = tmp_path / "out"
    # Act
    result = _backtest(candle_file, out, config)
    # Assert
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(key in metrics for key in REQUIRED)
    assert metrics["random_entry_runs"] == 5
    assert metrics["walk_forward"]["n_trials"] == 2
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) == metrics["n_trades"] > 0
    equity = pd.read_csv(out / "equity.csv")
    assert list(equity.columns) == ["close_time", "equity", "position", "drawdown", "buy_and_hold"]
    html = (out / "report.html").read_text()
    assert "plotly.js" in html.lower() or "plotly v" in html.lower()
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # nothing loaded from the network
    for title in (
        "Equity vs buy-and-hold",
        "Drawdown",
        "Monthly returns",
        "random-entry runs",
        "SMC zones",
    ):
        assert title in html
    assert "total_return" in result.output


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("risk:\n  risk_per_trad: 0.01\n", "unknown config field 'config.risk.risk_per_trad'"),
        ("risk:\n  risk_per_trade: -0.01\n", "risk_per_trade must be in (0, 0.02]"),
        ("execution:\n  intrabar: optimistic\n", "intrabar must be one of"),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_field(
    candle_file: Path, tmp_path: Path, config_text: str, message: str
) -> None:
    # Act
    result = _backtest(candle_file, tmp_path / "out", _write(tmp_path, config_text))
    # Assert
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_file_too_short_for_the_warm_up_exits_2_saying_so(
    market: pd.DataFrame, tmp_path: Path
) -> None:
    # Arrange
    path = tmp_path / "short.csv"
    market.iloc[:300].reset_index().rename(columns={"ts": "timestamp"}).to_csv(path, index=False)
    # Act
    result = _backtest(path, tmp_path / "out")
    # Assert
    assert result.exit_code == 2
    assert "too short for the warm-up: 300 bars" in result.output


def test_missing_candle_file_exits_2(tmp_path: Path) -> None:
    result = _backtest(tmp_path / "nope.csv", tmp_path / "out")
    assert result.exit_code == 2
    assert "candle file not found" in result.output


def test_audit_lookahead_command_passes_and_writes_its_report(
    candle_file: Path, tmp_path: Path
) -> None:
    # Arrange
    config = _write(tmp_path, "strategy:\n  require_zone: false\n  min_score: 3\n")
    # Act
    result = runner.invoke(
        _app(),
        ["audit-lookahead", "--candles", str(candle_file), "--symbol", "BTC/USDT",
         "--timeframe", "5m", "--config", str(config), "--out", str(tmp_path),
         "--max-trades", "2", "--prefixes", "1"],
    )  # fmt: skip
    # Assert
    assert result.exit_code == 0, result.output
    assert "look-ahead audit PASSED" in result.output
    assert json.loads((tmp_path / "lookahead.json").read_text())["passed"] is True


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.reset_index().rename(columns={"ts": "timestamp"})
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)
    return path


def test_intrabar_candles_replay_the_bars_when_the_config_asks(tmp_path: Path) -> None:
    # Arrange
    from features.candles.resample import resample_candles
    from serving.backtest.main import synthetic_candles

    minutes = synthetic_candles("BTC/USDT", "1m", "2024-05-01", 6, seed=3)
    five = _csv(resample_candles(minutes, "5m", base="1m"), tmp_path / "5m.csv")
    one = _csv(minutes, tmp_path / "1m.csv")
    replay = _write(tmp_path, "execution:\n  intrabar: replay\nevaluation:\n  random_seeds: 2\n")
    args = ["--intrabar-candles", str(one), "--intrabar-timeframe", "1m"]
    # Act
    ok = runner.invoke(
        _app(),
        ["backtest", "--candles", str(five), "--symbol", "BTC/USDT", "--timeframe", "5m",
         "--out", str(tmp_path / "out"), "--config", str(replay), *args],
    )  # fmt: skip
    refused = runner.invoke(
        _app(),
        ["backtest", "--candles", str(five), "--symbol", "BTC/USDT", "--timeframe", "5m",
         "--out", str(tmp_path / "out2"), *args],
    )  # fmt: skip
    # Assert
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "out" / "metrics.json").is_file()
    assert refused.exit_code == 2
    assert "execution.intrabar: replay" in refused.output


def test_backtest_without_out_writes_under_the_app_home(
    candle_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTMARKET_HOME", str(tmp_path / "home"))
    args = ["backtest", "--candles", str(candle_file), "--symbol", "BTC/USDT", "--timeframe", "5m"]

    result = runner.invoke(_app(), args)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "backtests" / "BTC-USDT_5m" / "trades.csv").exists()
