from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from orchestration.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded settings in a throwaway app home, a short window."""
    return Settings(
        _env_file=None, home=tmp_path / "home", start_date=date(2024, 3, 1), history_days=2
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst
