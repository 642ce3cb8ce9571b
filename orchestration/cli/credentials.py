"""``smartmarket credentials set|list|remove``: exchange API keys, encrypted under the app home.

The key and secret are read from a hidden prompt, or from stdin (two lines: key, then
secret) when stdin is not a terminal; never from the command line, where the shell history and
``ps`` would keep them. Nothing prints more than the key's last four characters.
"""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from orchestration.cli.context import load_settings
from orchestration.cli.errors import user_errors
from orchestration.cli.ui import console, err_console
from orchestration.settings import Settings

app = typer.Typer()
credentials_app = typer.Typer(
    help="Exchange API credentials (encrypted at rest; see docs/trading.md).", no_args_is_help=True
)
app.add_typer(credentials_app, name="credentials")

VENUE = typer.Option(..., "--venue", help="The ccxt exchange id, e.g. delta or binanceusdm.")


def _store():  # type: ignore[no-untyped-def]
    from serving.credentials import CredentialStore

    settings = load_settings()
    return CredentialStore(settings.home_dir, settings.credentials_key)


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True))
    return sys.stdin.readline().rstrip("\r\n")


@credentials_app.command("set")
@user_errors
def credentials_set(venue: str = VENUE) -> None:
    """Store a venue's API key and secret (asked for; or two lines on stdin)."""
    from serving.credentials import check_venue

    check_venue(venue)  # before asking for anything
    store = _store()
    api_key = _read_secret(f"{venue} API key")
    secret = _read_secret(f"{venue} API secret")
    creds = store.set(venue, api_key, secret)
    console.print(
        f"stored the {venue} credentials (key {creds.hint}), encrypted with the key from "
        f"{store.key_source}",
        highlight=False,
    )


@credentials_app.command("list")
@user_errors
def credentials_list() -> None:
    """List the venues with stored credentials (the key's last four characters at most)."""
    rows = _store().summary()
    if not rows:
        err_console.print("no credentials stored: `smartmarket credentials set --venue delta`")
        return
    table = Table("venue", "key", "stored (UTC)")
    for row in rows:
        table.add_row(row["venue"], row["key"], row["updated_at"])
    console.print(table)


@credentials_app.command("remove")
@user_errors
def credentials_remove(venue: str = VENUE) -> None:
    """Forget a venue's credentials."""
    _store().remove(venue)
    console.print(f"removed the {venue} credentials", highlight=False)


def config_lines(settings: Settings) -> tuple[list[str], list[str]]:
    """Return the credentials part of ``smartmarket config``: lines to print, problems.

    One line per venue (``credentials delta: configured, key …abcd``); a venue that cannot
    be decrypted is a problem naming why.
    """
    from serving.credentials import CredentialsError, CredentialStore

    store = CredentialStore(settings.home_dir, settings.credentials_key)
    lines, problems = [], []
    try:
        venues = store.venues()
    except CredentialsError as exc:
        return [], [f"credentials: {exc}"]
    if not venues:
        lines.append("credentials: none stored (smartmarket credentials set --venue delta)")
    for venue in venues:
        try:
            hint = store.get(venue).hint
        except CredentialsError as exc:
            problems.append(f"credentials: {exc}")
            continue
        lines.append(f"credentials {venue}: configured, key {hint}")
    return lines, problems
