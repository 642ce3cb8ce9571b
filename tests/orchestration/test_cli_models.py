"""`smartmarket train`, `models ...` and `backtest --model`: the registry through the CLI.

One small training run (two synthetic symbols, 30 days, the mlp for one epoch) registers a
challenger; the other tests read it. Bad input is one line and exit code 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.cli.models import _check_features
from serving.backtest.main import synthetic_candles

runner = CliRunner()
SYMBOLS = ("BTC/USDT", "ETH/USDT")


def _file(folder: Path, symbol: str, start: str, days: int) -> Path:
    candles = synthetic_candles(symbol, "5m", start, days, seed=7)
    path = folder / f"{symbol.replace('/', '-')}_{start}_{days}.csv"
    candles.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("cli_models")
    home = folder / "home"
    files = [_file(folder, s, "2024-01-01", 30) for s in SYMBOLS]
    args = ["train", "--timeframe", "5m", "--kind", "mlp", "--epochs", "1", "--folds", "3",
            "--random-seeds", "2", "--home", str(home)]  # fmt: skip
    for symbol, path in zip(SYMBOLS, files, strict=True):
        args += ["--symbol", symbol, "--candles", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(next((home / "models" / "cli").glob("*/summary.json")).read_text())
    return {"home": home, "folder": folder, "files": files, "output": result.output,
            "record": record}  # fmt: skip


def test_train_prints_the_folds_the_comparison_and_the_decision(trained: dict) -> None:
    out, record = trained["output"], trained["record"]

    assert "Folds" in out
    assert "Out of sample" in out
    for variant in ("rules", "model_filtered", "model_sized", "buy_and_hold"):
        assert variant in out
    assert f"version {record['version']} (challenger)" in out
    assert record["version"] == "1"
    assert record["champion_before"] is None
    assert record["reason"] in out


def test_models_list_show_promote_and_rollback(trained: dict) -> None:
    home = str(trained["home"])

    listed = runner.invoke(app, ["models", "list", "--home", home])
    shown = runner.invoke(app, ["models", "show", "challenger", "--home", home])
    promoted = runner.invoke(app, ["models", "promote", "1", "--home", home])
    champion = runner.invoke(app, ["models", "show", "champion", "--home", home])
    back = runner.invoke(app, ["models", "rollback", "--home", home])

    assert listed.exit_code == 0, listed.output
    assert "version 1 [challenger]: OOS sharpe" in listed.output
    assert shown.exit_code == 0, shown.output
    assert "fingerprint:" in shown.output
    assert "train_end:" in shown.output
    assert promoted.exit_code == 0
    assert "champion -> version 1" in promoted.output
    assert "champion" in champion.output
    assert back.exit_code == 2
    assert "nothing to roll back to" in back.output


def test_an_unknown_version_is_one_line(trained: dict) -> None:
    result = runner.invoke(app, ["models", "show", "99", "--home", str(trained["home"])])

    assert result.exit_code == 2
    assert "no version or alias '99'" in result.output


def _bundle(trained: dict) -> Path:
    return Path(trained["record"]["bundle"])


def test_backtest_with_the_model_runs_beside_rule_only(trained: dict, tmp_path: Path) -> None:
    later = _file(tmp_path, "BTC/USDT", "2024-02-05", 10)

    result = runner.invoke(app, ["backtest", "--candles", str(later), "--symbol", "BTC/USDT",
                                 "--timeframe", "5m", "--out", str(tmp_path / "bt"),
                                 "--model", str(_bundle(trained))])  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "rules" in result.output
    assert "model" in result.output
    assert (tmp_path / "bt" / "model" / "metrics.json").exists()


def test_backtest_refuses_a_file_inside_the_training_span(trained: dict, tmp_path: Path) -> None:
    first = str(trained["files"][0])
    args = ["backtest", "--candles", first, "--symbol", "BTC/USDT", "--timeframe", "5m",
            "--out", str(tmp_path / "bt"), "--model", str(_bundle(trained))]  # fmt: skip

    result = runner.invoke(app, args)

    assert result.exit_code == 2
    assert "before the end of the model's training span" in result.output
    assert "Traceback" not in result.output


def test_backtest_refuses_a_model_of_other_features(trained: dict, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(_bundle(trained), bundle)
    meta = json.loads((bundle / "meta.json").read_text())
    meta["fingerprint"] = "0" * 64
    (bundle / "meta.json").write_text(json.dumps(meta))
    later = _file(tmp_path, "BTC/USDT", "2024-02-05", 10)

    result = runner.invoke(app, ["backtest", "--candles", str(later), "--symbol", "BTC/USDT",
                                 "--timeframe", "5m", "--out", str(tmp_path / "bt"),
                                 "--model", str(bundle)])  # fmt: skip

    assert result.exit_code == 2
    assert "trained on other features" in result.output


def test_too_few_rows_for_the_folds_is_one_line(tmp_path: Path) -> None:
    short = _file(tmp_path, "BTC/USDT", "2024-01-01", 2)

    home = str(tmp_path / "home")
    args = ["train", "--symbol", "BTC/USDT", "--candles", str(short), "--timeframe", "5m",
            "--home", home]  # fmt: skip

    result = runner.invoke(app, args)

    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if not line.startswith("  ")]
    assert len(errors) == 1
    assert errors[0].startswith("error: ")
    assert "bars of warm-up" in errors[0]


def test_files_and_symbols_must_pair(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--symbol", "BTC/USDT", "--symbol", "ETH/USDT",
                                 "--candles", str(tmp_path / "a.csv"), "--home",
                                 str(tmp_path / "home")])  # fmt: skip

    assert result.exit_code == 2
    assert "one file per --symbol" in result.output


def test_infinite_or_unknown_features_are_refused() -> None:
    frame = pd.DataFrame({"event_timestamp": [0, 1], "smc_5m__pd_pos": [0.1, np.inf]})

    with pytest.raises(ValueError, match=r"BTC/USDT: infinite feature values in \['smc_5m__pd_pos"):
        _check_features("BTC/USDT", frame)
    with pytest.raises(ValueError, match="every model input is NaN"):
        _check_features("BTC/USDT", frame.assign(smc_5m__pd_pos=np.nan))


def test_an_unreachable_mlflow_server_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMARTMARKET_MLFLOW_URI", "http://127.0.0.1:9")

    result = runner.invoke(app, ["models", "list", "--home", str(tmp_path / "home")])

    assert result.exit_code == 2
    assert "SMARTMARKET_MLFLOW_URI: cannot reach the MLflow tracking server" in result.output


def test_a_malformed_mlflow_uri_is_a_settings_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMARTMARKET_MLFLOW_URI", "mlflow.example.com")

    result = runner.invoke(app, ["models", "list", "--home", str(tmp_path / "home")])

    assert result.exit_code == 2
    assert "SMARTMARKET_MLFLOW_URI: not an MLflow tracking URI" in result.output


def test_the_main_job_prints_the_training_record(
    trained: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli.pipeline import _show_training

    record = trained["record"]

    _show_training(record)

    out = capsys.readouterr().out
    assert f"model: {record['intents']:,} labelled setups, 3 purged walk-forward folds" in out
    assert "model_filtered" in out
    assert f"version {record['version']} (challenger)" in out
