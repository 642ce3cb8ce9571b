"""``smartmarket trade``: replays, resume, the parity report, bad input in one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.candles.schema import Timeframe
from features.candles.store import ParquetCandleStore
from orchestration.cli import app
from orchestration.cli.trade import DEMO_BARS, demo_replay
from orchestration.settings import Settings
from serving.backtest.main import synthetic_candles

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "dry"], "--mode: 'dry' is not one of paper, live"),
        (["--synthetic", "--replay", "x.csv"], "--replay and --synthetic: choose one source"),
        (["--synthetic", "--bars", "0"], "--bars: expected at least 1, got 0"),
        (["--replay", "nowhere.csv"], "--replay: no candle file at nowhere.csv"),
        (["--synthetic", "--speed", "-1"], "--speed: expected 0 or more, got -1.0"),
        (["--mode", "live", "--synthetic"], "replays are paper only"),
        (["--mode", "live"], "needs its API credentials: `smartmarket credentials set --venue"),
        (["--synthetic", "--model", "champion"], "no model at models:/smc-meta@champion"),
        (["--synthetic", "--model", "7"], "no model at models:/smc-meta/7"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.delenv("SMARTMARKET_EXCHANGE_API_KEY", raising=False)
    monkeypatch.delenv("SMARTMARKET_EXCHANGE_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    # Act
    result = runner.invoke(app, ["trade", *args, "--home", str(tmp_path)])
    # Assert
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_live_without_the_secret_names_it_and_never_shows_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTMARKET_EXCHANGE_API_KEY", "k3y-value-123")
    monkeypatch.delenv("SMARTMARKET_EXCHANGE_SECRET", raising=False)
    # Act
    result = runner.invoke(app, ["trade", "--mode", "live", "--home", str(tmp_path)])
    # Assert
    assert result.exit_code == 2
    assert "SMARTMARKET_EXCHANGE_SECRET; nothing was sent" in result.output
    assert "k3y-value-123" not in result.output


def test_live_credentials_come_from_the_encrypted_store_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    from orchestration.cli.trade import live_credentials
    from orchestration.settings import Settings
    from serving.credentials import CredentialStore

    monkeypatch.setenv("SMARTMARKET_EXCHANGE_API_KEY", "env-key-0000")
    monkeypatch.setenv("SMARTMARKET_EXCHANGE_SECRET", "env-secret-0000")
    settings = Settings(home=tmp_path, exchange="delta")
    CredentialStore(tmp_path).set("delta", "stored-key-1234", "stored-secret-5678")
    # Act
    found = live_credentials(settings)
    # Assert
    assert found == ("stored-key-1234", "stored-secret-5678")
    assert b"stored-secret-5678" not in b"".join(
        f.read_bytes() for f in tmp_path.rglob("*") if f.is_file()
    )


def test_a_synthetic_replay_stops_after_bars_resumes_and_reports_parity(tmp_path: Path) -> None:
    # Arrange
    home = tmp_path / "h"
    base = ["trade", "--synthetic", "--days", "5", "--home", str(home)]
    # Act
    first = runner.invoke(app, [*base, "--bars", "100"])
    rest = runner.invoke(app, base)
    session = "paper-synthetic7-BTC-USDT-5m"
    report = runner.invoke(app, ["trade", "--session", session, "--home", str(home), "report"])
    # Assert
    assert first.exit_code == 0, first.output
    assert "100 bars" in first.output
    assert rest.exit_code == 0, rest.output
    assert "1,440 bars" in rest.output  # the session's total
    summary = json.loads((home / "trading" / session / "summary.json").read_text())
    assert summary["bars"] == 1440
    assert report.exit_code == 0, report.output
    table = pd.read_csv(home / "trading" / session / "parity.csv")
    assert table["in_backtest"].eq(table["in_session"]).all()


def test_the_demo_replay_of_make_run_trades_the_newest_stored_candles(tmp_path: Path) -> None:
    # Arrange: the candle store the main job fills
    settings = Settings(home=tmp_path, symbols=["BTC/USDT"])
    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", 6, seed=7)
    ParquetCandleStore(settings.home_dir / "candles").write("BTC/USDT", Timeframe.parse("5m"),
                                                           candles)  # fmt: skip
    # Act
    summary, paths = demo_replay(settings)
    again, _ = demo_replay(settings)
    # Assert
    assert summary.last == candles.index[-1]
    assert DEMO_BARS < summary.bars < len(candles)
    assert paths["parity"].is_file()
    assert again.resumed == 0
    assert again.bars == summary.bars  # the same window resumes: nothing doubled
