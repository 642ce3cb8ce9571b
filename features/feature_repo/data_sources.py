"""Data sources: the Parquet offline tables the pipeline writes, one folder per view.

Paths are relative to the repo folder (``<app home>/feast``): Feast resolves them against
``RepoConfig.repo_path``, so nothing absolute or machine-specific is stored in the registry.
"""

from __future__ import annotations

from feast import FileSource

from features.feature_repo import OFFLINE_DIR
from features.layout import CREATED, EVENT_TIMESTAMP


def source_path(view: str) -> str:
    """Return a view's offline folder, relative to the repo folder."""
    return f"{OFFLINE_DIR}/{view}"


def offline_source(view: str) -> FileSource:
    """Return the file source of one view's offline table."""
    return FileSource(
        name=f"{view}_source",
        path=source_path(view),
        timestamp_field=EVENT_TIMESTAMP,
        created_timestamp_column=CREATED,
        description=f"Offline table of {view}: one row per candle close (Parquet).",
    )
