"""Benchmarks: speed and peak memory of our code, side by side with peers.

Every ``bench/bench_<name>.py`` module exposes ``run() -> list[dict]``; ``python -m bench``
runs them all (``python -m bench ingest resample`` runs a selection), prints a table per
benchmark and writes ``bench/results/<name>.json``.
"""
