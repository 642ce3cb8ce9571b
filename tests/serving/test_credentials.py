"""Exchange credentials: encrypted at rest, decrypted only for the broker, never shown."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from serving.brokers.ccxt import make_exchange
from serving.credentials import (
    CredentialsError,
    CredentialStore,
    broker_credentials,
    key_file,
    store_file,
)

API_KEY = "dk-live-7Hq2Zr9LmXw4Ab12"
SECRET = "sec-Vn3Pq8Rt5Yu1Io0Kj6Hg"


def test_credentials_round_trip_encrypted_under_a_0600_key_file(tmp_path: Path) -> None:
    # Act
    CredentialStore(tmp_path).set("delta", API_KEY, SECRET)
    found = broker_credentials(tmp_path, "delta")

    # Assert
    assert found == {"api_key": API_KEY, "secret": SECRET}
    stored = store_file(tmp_path).read_text()
    assert API_KEY not in stored
    assert SECRET not in stored
    assert API_KEY[-4:] not in stored  # not even the hint is kept in clear
    assert stat.S_IMODE(key_file(tmp_path).stat().st_mode) == 0o600
    assert stat.S_IMODE(store_file(tmp_path).stat().st_mode) == 0o600


def test_a_key_from_the_environment_is_used_and_no_key_file_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTMARKET_CREDENTIALS_KEY", Fernet.generate_key().decode())

    CredentialStore(tmp_path).set("delta", API_KEY, SECRET)

    assert not key_file(tmp_path).exists()
    assert broker_credentials(tmp_path, "delta")["secret"] == SECRET
    monkeypatch.delenv("SMARTMARKET_CREDENTIALS_KEY")
    with pytest.raises(CredentialsError, match="no credentials key"):
        broker_credentials(tmp_path, "delta")


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    CredentialStore(tmp_path).set("delta", API_KEY, SECRET)
    os.chmod(key_file(tmp_path), 0o644)

    with pytest.raises(CredentialsError, match=r"mode 0644 .*chmod 600"):
        broker_credentials(tmp_path, "delta")


def test_the_wrong_key_says_so_without_showing_anything(tmp_path: Path) -> None:
    CredentialStore(tmp_path).set("delta", API_KEY, SECRET)
    other = Fernet.generate_key().decode()

    with pytest.raises(CredentialsError) as caught:
        broker_credentials(tmp_path, "delta", key=other)

    message = str(caught.value)
    assert "wrong key" in message
    assert "SMARTMARKET_CREDENTIALS_KEY" in message
    assert other not in message


@pytest.mark.parametrize(
    ("venue", "stored", "message"),
    [
        ("nowhere", False, "venue: 'nowhere' is not a ccxt exchange id"),
        ("delta", False, "venue 'delta': no credentials stored"),
        ("binanceusdm", True, "venue 'binanceusdm': no credentials stored"),
    ],
)
def test_unknown_venues_and_missing_credentials_name_the_venue(
    tmp_path: Path, venue: str, stored: bool, message: str
) -> None:
    if stored:
        CredentialStore(tmp_path).set("delta", API_KEY, SECRET)

    with pytest.raises(CredentialsError, match=message):
        broker_credentials(tmp_path, venue)


@pytest.mark.parametrize(
    ("api_key", "secret", "field"), [("", SECRET, "api_key"), (API_KEY, " ", "secret")]
)
def test_empty_credentials_are_refused_naming_the_field(
    tmp_path: Path, api_key: str, secret: str, field: str
) -> None:
    with pytest.raises(CredentialsError, match=f"^{field}: empty"):
        CredentialStore(tmp_path).set("delta", api_key, secret)
    assert not store_file(tmp_path).exists()


def test_a_bad_environment_key_is_named_not_shown(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="SMARTMARKET_CREDENTIALS_KEY: not a Fernet key"):
        CredentialStore(tmp_path, key="not-a-key-hunter2").set("delta", API_KEY, SECRET)


def test_summaries_and_reprs_show_the_last_four_characters_at_most(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    creds = store.set("delta", API_KEY, SECRET)

    [row] = store.summary()

    assert row["venue"] == "delta"
    assert row["key"] == "…Ab12"
    assert repr(creds) == "VenueCredentials(api_key='…Ab12', secret='***')"
    assert store.remove("delta") is None
    assert store.summary() == []


def test_building_the_broker_logs_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange
    CredentialStore(tmp_path).set("delta", API_KEY, SECRET)

    # Act
    with caplog.at_level(logging.DEBUG):
        exchange = make_exchange("delta", **broker_credentials(tmp_path, "delta"))

    # Assert
    assert (exchange.apiKey, exchange.secret) == (API_KEY, SECRET)
    seen = caplog.text + "".join(capsys.readouterr())
    assert API_KEY not in seen
    assert SECRET not in seen
