"""`smartmarket credentials` and the ledger DSN: secrets masked everywhere, errors one line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.settings import Settings, ledger_config
from serving.credentials import key_file

runner = CliRunner()
API_KEY = "dk-live-7Hq2Zr9LmXw4Ab12"
SECRET = "sec-Vn3Pq8Rt5Yu1Io0Kj6Hg"
PASSWORD = "hunter2-ledger-pw"


def _set(venue: str = "delta") -> object:
    return runner.invoke(
        app, ["credentials", "set", "--venue", venue], input=f"{API_KEY}\n{SECRET}\n"
    )


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_set_list_config_never_show_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    # Act
    with caplog.at_level(logging.DEBUG):
        stored = _set()
        listed = runner.invoke(app, ["credentials", "list"])
        config = runner.invoke(app, ["config"])

    # Assert
    assert (stored.exit_code, listed.exit_code, config.exit_code) == (0, 0, 0), config.output
    assert "…Ab12" in stored.output
    assert "delta" in listed.output
    assert "…Ab12" in listed.output
    assert "credentials delta: configured, key …Ab12" in config.output
    seen = stored.output + listed.output + config.output + caplog.text
    assert API_KEY not in seen
    assert SECRET not in seen
    assert API_KEY[:-4] not in seen  # at most the last four characters


def test_remove_forgets_a_venue() -> None:
    _set()

    removed = runner.invoke(app, ["credentials", "remove", "--venue", "delta"])
    listed = runner.invoke(app, ["credentials", "list"])

    assert removed.exit_code == 0
    assert "removed the delta credentials" in removed.output
    assert "no credentials stored" in listed.output


def test_the_secret_cannot_be_given_on_the_command_line() -> None:
    result = runner.invoke(app, ["credentials", "set", "--venue", "delta", "--secret", SECRET])

    assert result.exit_code == 2
    assert "No such option" in result.output


@pytest.mark.parametrize(
    ("argv", "stored", "message"),
    [
        (["set", "--venue", "nowhere"], False, "venue: 'nowhere' is not a ccxt exchange id"),
        (["remove", "--venue", "delta"], False, "venue 'delta': no credentials stored"),
        (["remove", "--venue", "nowhere"], True, "venue: 'nowhere' is not a ccxt exchange id"),
    ],
)
def test_bad_venues_and_missing_credentials_are_one_line_exit_2(
    argv: list[str], stored: bool, message: str
) -> None:
    if stored:
        _set()

    result = runner.invoke(app, ["credentials", *argv], input="k\ns\n")

    assert result.exit_code == 2
    assert message in _error_line(result.output)


def test_the_wrong_key_is_one_line_exit_2_in_list_and_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set()
    monkeypatch.setenv("SMARTMARKET_CREDENTIALS_KEY", Fernet.generate_key().decode())

    listed = runner.invoke(app, ["credentials", "list"])
    config = runner.invoke(app, ["config"])

    assert listed.exit_code == 2
    assert "wrong key" in _error_line(listed.output)
    assert config.exit_code == 2
    assert "SMARTMARKET_CREDENTIALS_KEY=**********" in config.output
    [error] = [line for line in config.output.splitlines() if line.startswith("error")]
    assert "credentials: venue 'delta'" in error
    assert "wrong key" in error


def test_a_loose_key_file_is_refused(tmp_path: Path) -> None:
    _set()
    os.chmod(key_file(tmp_path / "home"), 0o640)

    result = runner.invoke(app, ["credentials", "list"])

    assert result.exit_code == 2
    assert "chmod 600" in _error_line(result.output)


def test_empty_input_is_refused_naming_the_field() -> None:
    result = runner.invoke(app, ["credentials", "set", "--venue", "delta"], input="\n\n")

    assert result.exit_code == 2
    assert "api_key: empty" in _error_line(result.output)


# -- the ledger setting ---------------------------------------------------------------------


def test_the_ledger_is_sqlite_under_the_home_unless_a_dsn_is_set(tmp_path: Path) -> None:
    local = ledger_config(Settings(_env_file=None))
    remote = ledger_config(Settings(_env_file=None, ledger_dsn=f"postgresql://u:{PASSWORD}@h/db"))

    assert local.backend == "sqlite"
    assert local.path == tmp_path / "home" / "ledger" / "ledger.sqlite"
    assert remote.backend == "postgres"
    assert PASSWORD not in repr(remote)


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        (f"postgresql://trader:{PASSWORD}@127.0.0.1:9/ledger", "cannot connect to PostgreSQL"),
        (f"nonsense {PASSWORD}", "not a PostgreSQL DSN"),
    ],
)
def test_the_ledger_dsn_is_masked_in_config_and_absent_from_errors(
    monkeypatch: pytest.MonkeyPatch, dsn: str, message: str
) -> None:
    monkeypatch.setenv("SMARTMARKET_LEDGER_DSN", dsn)

    result = runner.invoke(app, ["config"])

    assert result.exit_code == 2
    [error] = [line for line in result.output.splitlines() if line.startswith("error")]
    assert "SMARTMARKET_LEDGER_DSN" in error
    assert message in error
    assert PASSWORD not in result.output


def test_a_reachable_ledger_dsn_passes_config_masked(
    monkeypatch: pytest.MonkeyPatch, pg_dsn: str
) -> None:
    monkeypatch.setenv("SMARTMARKET_LEDGER_DSN", f"{pg_dsn} password={PASSWORD}")

    result = runner.invoke(app, ["config"])

    assert result.exit_code == 0, result.output
    assert "SMARTMARKET_LEDGER_DSN=**********" in result.output
    assert PASSWORD not in result.output
