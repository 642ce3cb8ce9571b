"""Exchange API credentials, encrypted at rest under the app home, decrypted only for a broker.

``<home>/credentials/credentials.json`` holds, per venue, one Fernet token (AES-128-CBC with
an HMAC-SHA256, from ``cryptography``) of the key and secret, and when it was stored; nothing
else, so not even part of a key is readable without the encryption key. The encryption key
comes from ``SMARTMARKET_CREDENTIALS_KEY`` (a Fernet key: 32 url-safe base64 bytes) or from
``<home>/credentials/credentials.key``, created with mode 0600 the first time a credential is
stored; a key file that its group or others may read or write is refused.

Nothing in this module logs, and no error, ``repr`` or summary carries a secret: a summary
shows at most the last four characters of the API key. :func:`broker_credentials` is the one
place where they come out in clear, for ``serving.brokers.ccxt.make_exchange``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

KEY_ENV = "SMARTMARKET_CREDENTIALS_KEY"
HINT_MIN_LEN = 12
"""A key shorter than this shows no characters at all in a summary."""


class CredentialsError(ValueError):
    """Credentials that cannot be stored or read; the message names what, never a secret."""


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


@dataclass(frozen=True)
class VenueCredentials:
    """A venue's API key and secret in clear (``repr`` masks both)."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("api_key", "secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise CredentialsError(f"{name}: empty; the exchange's API {name} is needed")
            if value != value.strip() or "\n" in value:
                raise CredentialsError(f"{name}: has surrounding blanks or a line break")

    @property
    def hint(self) -> str:
        """The last four characters of the key (``…abcd``), or nothing for a short key."""
        return f"…{self.api_key[-4:]}" if len(self.api_key) >= HINT_MIN_LEN else "…"

    def __repr__(self) -> str:
        return f"VenueCredentials(api_key={self.hint!r}, secret='***')"


def credentials_dir(home: Path) -> Path:
    """The folder of the credentials and their key under the app home."""
    return Path(home) / "credentials"


def key_file(home: Path) -> Path:
    """The key file used when ``SMARTMARKET_CREDENTIALS_KEY`` is not set."""
    return credentials_dir(home) / "credentials.key"


def store_file(home: Path) -> Path:
    """The encrypted credentials."""
    return credentials_dir(home) / "credentials.json"


def check_venue(venue: str) -> str:
    """Return ``venue`` when it is a ccxt exchange id (``delta``, ``binanceusdm``, ...).

    Raises:
        CredentialsError: It is not one (naming the field ``venue``).
    """
    import ccxt

    if not isinstance(venue, str) or venue not in ccxt.exchanges:
        raise CredentialsError(
            f"venue: {venue!r} is not a ccxt exchange id (e.g. delta, binanceusdm)"
        )
    return venue


def _fernet(material: bytes, where: str) -> Any:
    from cryptography.fernet import Fernet

    try:
        return Fernet(material.strip())
    except (ValueError, TypeError):
        raise CredentialsError(
            f"{where}: not a Fernet key (32 url-safe base64-encoded bytes); make one with "
            "python -c 'from cryptography.fernet import Fernet as F; "
            "print(F.generate_key().decode())'"
        ) from None


def _key_text(key: str | _Secret | None) -> str | None:
    if key is None:
        key = os.environ.get(KEY_ENV)
    if key is not None and not isinstance(key, str):
        key = key.get_secret_value()
    return (key.strip() or None) if key is not None else None


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CredentialsError(
            f"{path}: mode {mode:04o} lets others read or write the credentials key; "
            f"run chmod 600 {path} (or set {KEY_ENV})"
        )
    return path.read_bytes()


def _create_key_file(path: Path) -> bytes:
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    material = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_key_file(path)
    with os.fdopen(fd, "wb") as out:
        out.write(material)
    return material


class CredentialStore:
    """The encrypted credentials of one app home.

    Args:
        home: The app home.
        key: The encryption key (a Fernet key, or a pydantic ``SecretStr`` of one); None:
            ``SMARTMARKET_CREDENTIALS_KEY``, else the key file.
    """

    def __init__(self, home: Path, key: str | _Secret | None = None) -> None:
        """Keep where things are; nothing is read yet."""
        self.home = Path(home)
        self._key = _key_text(key)

    @property
    def key_source(self) -> str:
        """Where the encryption key comes from (never the key)."""
        return KEY_ENV if self._key is not None else str(key_file(self.home))

    def _cipher(self, create: bool) -> Any:
        if self._key is not None:
            return _fernet(self._key.encode(), KEY_ENV)
        path = key_file(self.home)
        if path.exists():
            return _fernet(_read_key_file(path), str(path))
        if not create:
            raise CredentialsError(
                f"no credentials key: neither {KEY_ENV} nor {path} exists, so nothing stored "
                "can be read"
            )
        return _fernet(_create_key_file(path), str(path))

    def _load(self) -> dict[str, dict[str, str]]:
        path = store_file(self.home)
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
            venues = data["venues"]
            if not isinstance(venues, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise CredentialsError(f"{path}: not a credentials file (damaged?)") from None
        return venues

    def _save(self, venues: Mapping[str, Mapping[str, str]]) -> None:
        path = store_file(self.home)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"version": 1, "venues": dict(venues)}, out, indent=1, sort_keys=True)
        os.replace(tmp, path)

    def set(self, venue: str, api_key: str, secret: str) -> VenueCredentials:
        """Encrypt and store a venue's credentials (replacing any stored before)."""
        check_venue(venue)
        creds = VenueCredentials(api_key, secret)
        cipher = self._cipher(create=True)
        venues = self._load()
        plain = json.dumps({"api_key": creds.api_key, "secret": creds.secret}).encode()
        venues[venue] = {
            "token": cipher.encrypt(plain).decode(),
            "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self._save(venues)
        return creds

    def get(self, venue: str) -> VenueCredentials:
        """Return a venue's credentials in clear.

        Raises:
            CredentialsError: An unknown venue, none stored for it, or the wrong key.
        """
        from cryptography.fernet import InvalidToken

        check_venue(venue)
        entry = self._load().get(venue)
        if entry is None:
            raise CredentialsError(
                f"venue {venue!r}: no credentials stored; run "
                f"`smartmarket credentials set --venue {venue}`"
            )
        cipher = self._cipher(create=False)
        try:
            data = json.loads(cipher.decrypt(entry["token"].encode()))
        except InvalidToken:
            raise CredentialsError(
                f"venue {venue!r}: the credentials cannot be decrypted with the key from "
                f"{self.key_source} (wrong key)"
            ) from None
        return VenueCredentials(data["api_key"], data["secret"])

    def venues(self) -> list[str]:
        """Return the venues with stored credentials (nothing is decrypted)."""
        return sorted(self._load())

    def summary(self) -> list[dict[str, str]]:
        """Return per venue: its name, the key's last four characters, when it was stored."""
        rows = []
        for venue, entry in sorted(self._load().items()):
            rows.append(
                {"venue": venue, "key": self.get(venue).hint, "updated_at": entry["updated_at"]}
            )
        return rows

    def remove(self, venue: str) -> None:
        """Forget a venue's credentials.

        Raises:
            CredentialsError: An unknown venue, or none stored for it.
        """
        check_venue(venue)
        venues = self._load()
        if venue not in venues:
            raise CredentialsError(f"venue {venue!r}: no credentials stored")
        del venues[venue]
        self._save(venues)


def broker_credentials(home: Path, venue: str, key: str | _Secret | None = None) -> dict[str, str]:
    """Return a venue's credentials as ``make_exchange`` takes them: ``api_key``, ``secret``.

    The trading loop calls this where it builds the broker, and nowhere else:
    ``make_exchange(venue, **broker_credentials(home, venue, settings.credentials_key))``.

    Raises:
        CredentialsError: An unknown venue, none stored, or the wrong key.
    """
    creds = CredentialStore(home, key).get(venue)
    return {"api_key": creds.api_key, "secret": creds.secret}
