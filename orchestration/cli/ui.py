"""Consoles of the CLI: full width outside a terminal, one line per step when not interactive."""

from __future__ import annotations

from rich.console import Console

_WIDE = 200  # outside a terminal rich would cut tables at 80 columns

console = Console()
if not console.is_terminal:
    console = Console(width=_WIDE)
err_console = Console(stderr=True, soft_wrap=True)


def when(ts: object) -> str:
    """Format a timestamp (or None) for a table cell."""
    return "-" if ts is None else f"{ts:%Y-%m-%d %H:%M}"
