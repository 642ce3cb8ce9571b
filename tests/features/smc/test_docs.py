"""docs/smc.md and docs/mtf.md show the column tables generated from the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.schema import DOC_FILES, doc_tables, render_doc
from features.smc import columns

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(DOC_FILES))
def test_the_column_table_is_the_generated_one(name: str) -> None:
    text = (ROOT / DOC_FILES[name]).read_text()
    assert render_doc(text, name, doc_tables()[name]) == text, "run python -m features.schema"


def test_every_smc_column_has_a_row_and_the_count_is_the_real_one() -> None:
    text = (ROOT / DOC_FILES["smc"]).read_text()
    assert all(f"| `{c}` |" in text for c in columns())
    assert f"{len(columns())} columns, in this order" in text
