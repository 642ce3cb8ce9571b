"""Keep numba's on-disk cache of ``features.smc`` consistent with its sources.

Numba invalidates a cached function only when *its own* file changes, not when a function it
calls from another file does. The fused kernel in ``engine.py`` calls every concept's ``step``,
so after editing, say, ``fvg.py`` numba would happily load a kernel compiled with the old FVG
code. This module stamps the cache directory with a digest of every source of the package and
drops the package's cached machine code when the digest changes. It costs one read of the
sources at import (about a millisecond) and a recompile only after a change.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_STAMP = "smc-sources.sha256"


def source_digest(package: Path = _PACKAGE) -> str:
    """Return a digest of every ``*.py`` file of the package (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_fresh(cache_dir: Path, package: Path = _PACKAGE) -> bool:
    """Drop stale cached kernels in ``cache_dir``; return True when it dropped anything."""
    digest = source_digest(package)
    stamp = cache_dir / _STAMP
    with contextlib.suppress(OSError):
        if stamp.read_text() == digest:
            return False
    dropped = False
    for pattern in ("*.nbi", "*.nbc"):
        for path in cache_dir.glob(pattern):
            with contextlib.suppress(OSError):  # another process may have removed it first
                path.unlink()
                dropped = True
    with contextlib.suppress(OSError):  # a read-only install: numba will not cache there either
        cache_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    return dropped


def cache_dir_of(dispatcher: object) -> Path:
    """Return where numba caches ``dispatcher`` (falls back to the in-tree ``__pycache__``)."""
    try:
        return Path(dispatcher._cache._cache_path)  # type: ignore[attr-defined]
    except AttributeError:
        return _PACKAGE / "__pycache__"
