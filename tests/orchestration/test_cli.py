"""The `smartmarket` CLI: user errors are one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.candles.quarantine import QuarantineStore, RawArchive
from features.candles.schema import Timeframe
from features.candles.sources import CcxtSource
from features.candles.store import ParquetCandleStore
from orchestration.cli import app
from orchestration.settings import LADDER
from tests.features.candles.fake_exchange import MINUTE_MS, FakeExchange
from tests.features.candles.fake_exchange import candles as fake_candles

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
    assert "main_job > raw_candles started" in result.output  # each step named as it runs
    assert "raw_candles 5/5 partitions" in result.output  # partitions done / total
    assert "buy_and_hold_return=" in result.output
    assert "model not trained:" in result.output  # 5 days: too few setups for the folds
    assert (home / "dagster" / "dagster.yaml").exists()
    (record,) = json.loads((home / "backtests" / "summary.json").read_text())
    assert record["last_close"] == pytest.approx(float(scaled["close"].iloc[-1]))
    trades = pd.read_csv(Path(record["report"]).parent / "trades.csv")
    assert len(trades) > 0
    assert trades["entry_price"].between(scaled["low"].min(), scaled["high"].max()).all()


# --- issue 9: evidence of every ingest is kept ----------------------------------------------


def _quarantined_rows(home: Path) -> pd.DataFrame:
    return QuarantineStore(home / "quarantine").read()


def test_two_files_of_one_symbol_keep_both_raw_archives_and_quarantines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = _write(tmp_path, HEADER + GOOD + "2024-03-01T00:10:00Z,101,abc,100,101,3\n", "bad.csv")
    ragged = _write(
        tmp_path,
        HEADER
        + "2024-03-02T00:00:00Z,100,101,99,100.5,10\n"
        + "2024-03-02T00:05:00Z,100,99,101,100,10\n"  # high < low
        + "2024-03-02T00:10:00Z,100,102,99,101,-3\n",  # negative volume
        "ragged.csv",
    )

    assert _ingest_file(bad).exit_code == 0
    assert _ingest_file(ragged).exit_code == 0
    shown = runner.invoke(app, ["quarantine"])

    raw = RawArchive(home / "raw").read("file", "BTC/USDT", "5m")
    assert raw.groupby("ingest").size().sort_values().tolist() == [3, 3]
    assert len(raw["ingest"].unique()) == 2
    rows = _quarantined_rows(home)
    assert len(rows) == 3
    assert rows["ingest"].nunique() == 2
    assert "3 quarantined rows" in shown.output
    assert "non-numeric high" in shown.output
    assert "negative volume" in shown.output


def test_ingesting_the_same_file_again_duplicates_no_evidence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = _write(tmp_path, HEADER + GOOD + "2024-03-01T00:10:00Z,101,abc,100,101,3\n", "bad.csv")

    _ingest_file(bad)
    again = _ingest_file(bad)

    assert again.exit_code == 0
    assert len(RawArchive(home / "raw").read("file", "BTC/USDT", "5m")) == 3
    assert len(_quarantined_rows(home)) == 1


# --- issue 9: higher timeframes catch up with the base ---------------------------------------


def _stored(home: Path, symbol: str = "BTC/USDT") -> dict[str, int]:
    store = ParquetCandleStore(home / "candles")
    return {tf: len(store.read(symbol, Timeframe.parse(tf))) for tf in LADDER}


SYNTHETIC_DAY = ["ingest", "--symbol", "BTC/USDT", "--start", "2024-03-01", "--end", "2024-03-02"]
FULL_DAY = {"5m": 288, "15m": 96, "1h": 24, "4h": 6, "1d": 1}


def test_a_plain_ingest_builds_what_no_resample_left_out(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert runner.invoke(app, [*SYNTHETIC_DAY, "--no-resample"]).exit_code == 0
    assert _stored(home) == {"5m": 288, "15m": 0, "1h": 0, "4h": 0, "1d": 0}

    result = runner.invoke(app, SYNTHETIC_DAY)

    assert result.exit_code == 0, result.output
    assert _stored(home) == FULL_DAY


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def test_higher_timeframes_catch_up_after_a_kill_between_base_and_resampling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import features.candles.ingest as ingest_module

    home = tmp_path / "home"
    real = ingest_module.sync_timeframes

    def killed(*args: object, **kwargs: object) -> dict[str, int]:
        raise _Killed

    monkeypatch.setattr(ingest_module, "sync_timeframes", killed)
    with pytest.raises(_Killed):
        runner.invoke(app, SYNTHETIC_DAY)
    assert _stored(home)["5m"] == 288
    assert _stored(home)["1h"] == 0
    monkeypatch.setattr(ingest_module, "sync_timeframes", real)

    result = runner.invoke(app, SYNTHETIC_DAY)

    assert result.exit_code == 0, result.output
    assert _stored(home) == FULL_DAY


def _fake_ccxt(monkeypatch: pytest.MonkeyPatch, exchange: FakeExchange) -> None:
    """Make every ccxt exchange id build ``exchange`` (no network)."""

    def from_id(cls: type, exchange_id: str, options: object = None, **kwargs: object) -> object:
        kept = {k: v for k, v in kwargs.items() if k not in ("api_key", "secret")}
        return CcxtSource(exchange, name=exchange_id, **kept)  # type: ignore[arg-type]

    monkeypatch.setattr(CcxtSource, "from_id", classmethod(from_id))


def test_a_resumed_ccxt_ingest_receiving_nothing_repairs_higher_timeframes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    book = {"BTC/USDT": fake_candles("2024-03-01", 288, 5 * MINUTE_MS)}
    _fake_ccxt(monkeypatch, FakeExchange(book, page_size=500))
    monkeypatch.setenv("SMARTMARKET_START_DATE", "2024-03-01")
    ccxt = ["ingest", "--source", "ccxt", "--exchange", "fakex", "--symbol", "BTC/USDT"]
    assert runner.invoke(app, [*ccxt, "--no-resample"]).exit_code == 0
    assert _stored(home)["1h"] == 0

    result = runner.invoke(app, ccxt)

    assert result.exit_code == 0, result.output
    assert "│ 0 " in result.output  # the resumed fetch received nothing new
    assert _stored(home) == FULL_DAY


# --- issue 9: bad settings are one line naming the setting, exit 2, nothing stored -----------


def _nothing_stored(home: Path) -> bool:
    return not any((home / part).exists() for part in ("candles", "raw", "quarantine"))


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


CLOSED_PORT_DSN = "postgresql://postgres@127.0.0.1:9/nothing"

BAD_SETTINGS = [
    ({"SMARTMARKET_STORE": "postgres"}, "SMARTMARKET_PG_DSN", "needs a DSN"),
    (
        {"SMARTMARKET_STORE": "postgres", "SMARTMARKET_PG_DSN": CLOSED_PORT_DSN},
        "SMARTMARKET_PG_DSN",
        "cannot connect to PostgreSQL at 127.0.0.1:9/nothing",
    ),
    ({"SMARTMARKET_SYMBOLS": ""}, "SMARTMARKET_SYMBOLS", "no symbols"),
    ({"SMARTMARKET_SYMBOLS": "garbage"}, "SMARTMARKET_SYMBOLS", "'garbage' not shaped like"),
    ({"SMARTMARKET_SOURCE": "file"}, "SMARTMARKET_FILE_PATH", "needs the path"),
    ({"SMARTMARKET_FILE_TIMEZONE": "Mars/Base"}, "SMARTMARKET_FILE_TIMEZONE", "'Mars/Base'"),
    ({"SMARTMARKET_TIMEFRAMES": "5m,7m"}, "SMARTMARKET_TIMEFRAMES", "7m does not divide a day"),
    ({"SMARTMARKET_TIMEFRAMES": "15m,1h,1w"}, "SMARTMARKET_TIMEFRAMES", "1w does not divide"),
    ({"SMARTMARKET_BASE_TIMEFRAME": "15m", "SMARTMARKET_TIMEFRAMES": "5m,1h"}, "TIMEFRAMES", "5m"),
]


@pytest.mark.parametrize(("env", "setting", "message"), BAD_SETTINGS)
def test_bad_settings_stop_ingest_with_one_line_before_anything_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str, message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    result = runner.invoke(app, ["ingest", "--start", "2024-03-01", "--end", "2024-03-02"])

    assert result.exit_code == 2
    line = _one_line(result.output)
    assert setting in line
    assert message in line
    assert _nothing_stored(tmp_path / "home")


@pytest.mark.parametrize(("env", "setting", "message"), BAD_SETTINGS)
def test_config_reports_the_same_problems(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str, message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    result = runner.invoke(app, ["config"])

    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    assert setting in errors[0]
    assert message in errors[0]


def test_config_of_good_settings_exits_0() -> None:
    result = runner.invoke(app, ["config"])

    assert result.exit_code == 0
    assert "SMARTMARKET_SOURCE=synthetic" in result.output
    assert "error" not in result.output


# --- issue 9: ingest follows the settings; an explicit option wins --------------------------


def test_ingest_follows_the_configured_source_exchange_and_base_timeframe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    exchange = FakeExchange(
        {"BTC/USDT:USDT": fake_candles("2024-03-01", 8, 15 * MINUTE_MS)}, page_size=100
    )
    _fake_ccxt(monkeypatch, exchange)
    for key, value in {
        "SOURCE": "ccxt",
        "EXCHANGE": "delta",
        "BASE_TIMEFRAME": "15m",
        "SYMBOLS": "BTC/USDT:USDT",
        "START_DATE": "2024-03-01",
    }.items():
        monkeypatch.setenv(f"SMARTMARKET_{key}", value)

    result = runner.invoke(app, ["ingest", "--end", "2024-03-01T02:00"])

    assert result.exit_code == 0, result.output
    assert "delta" in result.output
    assert {(symbol, tf) for symbol, tf, _, _ in exchange.calls} == {("BTC/USDT:USDT", "15m")}
    store = ParquetCandleStore(home / "candles")
    assert len(store.read("BTC/USDT:USDT", Timeframe.parse("15m"))) == 8
    assert len(store.read("BTC/USDT:USDT", Timeframe.parse("1h"))) == 2
    assert store.read("BTC/USDT:USDT", Timeframe.parse("5m")).empty


def test_explicit_options_win_over_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    exchange = FakeExchange({}, page_size=100)
    _fake_ccxt(monkeypatch, exchange)
    for key, value in {"SOURCE": "ccxt", "EXCHANGE": "delta", "BASE_TIMEFRAME": "15m"}.items():
        monkeypatch.setenv(f"SMARTMARKET_{key}", value)

    result = runner.invoke(
        app,
        [
            "ingest",
            "--source",
            "synthetic",
            "--timeframe",
            "5m",
            *("--symbol", "ETH/USDT", "--start", "2024-03-01", "--end", "2024-03-02"),
        ],
    )

    assert result.exit_code == 0, result.output
    assert exchange.calls == []
    assert _stored(home, "ETH/USDT") == FULL_DAY


def test_warm_compiles_every_kernel_saying_what_it_does() -> None:
    result = runner.invoke(app, ["warm"])

    assert result.exit_code == 0, result.output
    assert "SMC engine" in result.output
    assert "engine: a 20-day synthetic backtest" in result.output
    assert "compiled or loaded every kernel in" in result.output
