"""Run the benchmarks: ``python -m bench [name ...]`` (``--list`` shows the names).

Discovers ``bench/bench_<name>.py`` modules exposing ``run() -> list[dict]``; for each one it
prints a table and writes ``bench/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import format_table, write_results

BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Return the benchmark names (``bench_<name>.py`` files), sorted."""
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}")
    failed = []
    for name in args.names or available:
        module = importlib.import_module(f"bench.bench_{name}")
        run = getattr(module, "run", None)
        if run is None:
            print(f"== {name}: no run() in bench/bench_{name}.py, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            rows = list(run())
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        path = write_results(name, rows)
        print(format_table(rows) if rows else "(no rows)")
        print(f"-- {name}: {time.perf_counter() - start:.1f} s, wrote {path}\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
