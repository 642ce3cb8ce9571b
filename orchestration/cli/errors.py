"""The CLI's one error handler: a user error is one line on stderr and exit code 2."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.text import Text

from orchestration.cli.ui import err_console

F = TypeVar("F", bound=Callable[..., Any])


def settings_message(exc: Any) -> str:
    """Return one line naming each bad ``SMARTMARKET_*`` setting of a pydantic error."""
    return "; ".join(
        f"SMARTMARKET_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
    )


def user_errors(func: F) -> F:
    """Turn user errors (bad settings, files, config, symbols) into one red line and exit 2.

    User errors are ``ValueError`` (``CandleDataError``, ``ConfigError`` and ``SettingsError``
    derive from it), pydantic's ``ValidationError`` of the settings and missing files.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            message = f"error in settings: {settings_message(exc)}"
        except (ValueError, FileNotFoundError) as exc:
            message = f"error: {exc}"
        err_console.print(Text(message, style="bold red"))
        raise typer.Exit(2)

    return wrapper  # type: ignore[return-value]
