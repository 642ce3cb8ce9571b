"""``smartmarket keys`` and the service's place in ``smartmarket up``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.cli.serve import service_command, service_env
from serving.service.keys import KeyStore
from serving.service.wiring import keys_path

runner = CliRunner()


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    # Act
    created = runner.invoke(app, ["keys", "create", "bot", "--scope", "read", "--rate", "120"])
    clear = created.stdout.strip().splitlines()[-1]
    listed = runner.invoke(app, ["keys", "list"])
    key_id = clear.split("_")[1]
    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    again = runner.invoke(app, ["keys", "revoke", key_id])
    bad = runner.invoke(app, ["keys", "create", "x", "--scope", "root"])

    # Assert
    assert created.exit_code == 0
    assert clear.startswith(f"smk_{key_id}_")
    assert listed.exit_code == 0
    assert key_id in listed.stdout
    assert "bot" in listed.stdout
    assert clear not in listed.stdout
    assert revoked.exit_code == 0
    assert again.exit_code == 2
    assert "no live API key" in again.stderr
    assert bad.exit_code == 2
    assert "unknown scope(s) ['root']" in bad.stderr
    store = KeyStore(keys_path(tmp_path / "home"))
    actions = [line["action"] for line in store.audit_log()]
    assert actions == ["keys revoke", "keys create"]


def test_the_service_runs_under_bentoml_on_loopback_3080_without_telemetry(
    tmp_path: Path,
) -> None:
    argv = service_command("127.0.0.1", 3080)
    env = service_env(tmp_path, workers=2, access_log=False)

    assert argv[1:] == [
        "serve", "orchestration.service:SignalService", "--host", "127.0.0.1", "--port", "3080",
    ]  # fmt: skip
    assert argv[0].endswith("bentoml")
    assert env["BENTOML_HOME"] == str(tmp_path / "bentoml")
    assert env["BENTOML_DO_NOT_TRACK"] == "True"
    assert json.loads(env["BENTOML_CONFIG_OVERRIDES"]) == {
        "services": {
            "smartmarket_signals": {"workers": 2, "logging": {"access": {"enabled": False}}}
        }
    }
