"""The numba cache guard drops cached kernels when any source of the package changes."""

from __future__ import annotations

from pathlib import Path

from features.smc import jitcache


def _package(tmp_path: Path) -> tuple[Path, Path]:
    package = tmp_path / "pkg"
    cache = package / "__pycache__"
    cache.mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "b.py").write_text("y = 2\n")
    return package, cache


def _cached(cache: Path) -> list[str]:
    for name in ("engine.run-1.py311.nbi", "engine.run-1.py311.1.nbc"):
        (cache / name).write_bytes(b"machine code")
    return sorted(p.name for p in cache.glob("*.nb?"))


def test_first_sight_of_a_cache_drops_it_then_keeps_it(tmp_path: Path) -> None:
    package, cache = _package(tmp_path)
    _cached(cache)
    assert jitcache.ensure_fresh(cache, package) is True
    assert list(cache.glob("*.nb?")) == []
    _cached(cache)
    assert jitcache.ensure_fresh(cache, package) is False
    assert len(list(cache.glob("*.nb?"))) == 2


def test_editing_any_source_drops_the_cache(tmp_path: Path) -> None:
    package, cache = _package(tmp_path)
    jitcache.ensure_fresh(cache, package)
    _cached(cache)
    (package / "b.py").write_text("y = 3\n")
    assert jitcache.ensure_fresh(cache, package) is True
    assert list(cache.glob("*.nb?")) == []


def test_digest_depends_on_names_and_contents(tmp_path: Path) -> None:
    package, _ = _package(tmp_path)
    before = jitcache.source_digest(package)
    (package / "a.py").rename(package / "c.py")
    assert jitcache.source_digest(package) != before
