"""docs/smc.md documents every column of compute_smc."""

from __future__ import annotations

import re
from pathlib import Path

from features.smc import columns, sessions

DOC = Path(__file__).resolve().parents[3] / "docs" / "smc.md"


def _spellings(column: str) -> list[str]:
    names = [column, re.sub(r"_(int|ext)_", "_lv_", column)]
    for session in sessions.SESSIONS:
        if column.startswith(f"sess_{session}"):
            names.append("sess_s" + column.removeprefix(f"sess_{session}"))
    if column.startswith("pat_") and column.endswith("_str"):
        names.append(column.removesuffix("_str"))
    return names


def test_every_column_is_in_the_schema_table() -> None:
    documented = set(re.findall(r"`([a-z0-9_]+)`", DOC.read_text()))
    missing = [c for c in columns() if not any(n in documented for n in _spellings(c))]
    assert missing == []


def test_the_documented_column_count_is_the_real_one() -> None:
    assert f"{len(columns())} float64 columns" in DOC.read_text()
