"""Ingest 1,000,000 candles from a file into the Parquet and PostgreSQL stores.

Each case runs in its own subprocess (peak RSS per case, see ``bench.common``; the base RSS
is measured after importing this module, so it includes pandas, pyarrow and psycopg) and times
file -> raw frame (``FileSource``) -> validated frame (``validate_candles``) -> store; then the
whole series is read back (``read_back_s``, not part of the ingest time). Inputs are generated
first into a temp folder: a Parquet file and a gzip CSV with epoch-millisecond timestamps (the
usual exchange dump). Peers, on the same rows: pandas ``to_parquet`` of one unpartitioned file,
and psycopg's per-row ``write_row`` binary COPY.

PostgreSQL cases need a server: ``SMARTMARKET_BENCH_PG_DSN`` (default
``host=127.0.0.1 port=5432 user=postgres dbname=postgres``) must be able to create a throwaway
database; without one they are skipped with the reason. ``SMARTMARKET_BENCH_INGEST_ROWS``
overrides the row count (default 1,000,000).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.conninfo import make_conninfo

from bench.common import run_case, synthetic_candles
from features.candles.schema import Timeframe
from features.candles.sources.file import FileSource
from features.candles.store import make_store
from features.candles.validate import validate_candles

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SYMBOL = "BTC/USDT"
TIMEFRAME = "1m"


def case_ingest(
    path: str, kind: str, options: dict[str, Any], prefill: bool = False
) -> dict[str, Any]:
    """Time file -> validated frame -> store (optionally into a store already holding the rows)."""

    tf = Timeframe.parse(TIMEFRAME)
    store = make_store(kind, **options)  # type: ignore[arg-type]
    if prefill:
        store.write(SYMBOL, tf, pd.read_parquet(path).set_index("ts"))
    t0 = time.perf_counter()
    raw = FileSource(path, symbol=SYMBOL, timeframe=tf).fetch(SYMBOL, tf)
    t1 = time.perf_counter()
    result = validate_candles(raw, tf, source="file", symbol=SYMBOL)
    t2 = time.perf_counter()
    written = store.write(SYMBOL, tf, result.valid)
    t3 = time.perf_counter()
    back = store.read(SYMBOL, tf)
    t4 = time.perf_counter()
    if len(back) != len(result.valid):
        raise RuntimeError(f"read back {len(back)} rows, wrote {len(result.valid)}")
    return {
        "rows": written,
        "quarantined": int(result.n_quarantined),
        "read_s": round(t1 - t0, 3),
        "validate_s": round(t2 - t1, 3),
        "write_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "rows_per_s": round(written / (t3 - t0)),
        "write_rows_per_s": round(written / (t3 - t2)),
        "read_back_s": round(t4 - t3, 3),
    }


def case_pandas_to_parquet(path: str, out: str) -> dict[str, Any]:
    """Peer: pandas ``to_parquet`` of the frame as one unpartitioned file (write only)."""
    frame = pd.read_parquet(path).set_index("ts")
    t0 = time.perf_counter()
    frame.to_parquet(out)
    elapsed = time.perf_counter() - t0
    return {
        "rows": len(frame),
        "write_s": round(elapsed, 3),
        "write_rows_per_s": round(len(frame) / elapsed),
    }


def case_pg_write_row(path: str, dsn: str) -> dict[str, Any]:
    """Peer: psycopg binary COPY with one ``write_row`` per candle (rows built from the frame)."""
    frame = pd.read_parquet(path).set_index("ts")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE candles_write_row (symbol text NOT NULL, timeframe text NOT NULL,"
            " ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,"
            " low float8 NOT NULL, close float8 NOT NULL, volume float8 NOT NULL,"
            " PRIMARY KEY (symbol, timeframe, ts))"
        )
        conn.commit()
        t0 = time.perf_counter()
        rows = zip(
            pd.DatetimeIndex(frame.index).to_pydatetime(),
            *(frame[c].tolist() for c in ("open", "high", "low", "close", "volume")),
            strict=True,
        )
        types = ["text", "text", "timestamptz", "float8", "float8", "float8", "float8", "float8"]
        with (
            conn.cursor() as cur,
            cur.copy("COPY candles_write_row FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row((SYMBOL, TIMEFRAME, *row))
        conn.commit()
        elapsed = time.perf_counter() - t0
    return {
        "rows": len(frame),
        "write_s": round(elapsed, 3),
        "write_rows_per_s": round(len(frame) / elapsed),
    }


def make_inputs(folder: Path, rows: int) -> dict[str, Path]:
    """Write the generated candles as Parquet and as a gzip CSV with epoch-ms timestamps."""
    frame = synthetic_candles(rows, "1min", start="2022-01-01")
    parquet = folder / "candles.parquet"
    frame.reset_index().to_parquet(parquet, index=False)
    table = pa.table(
        {
            "timestamp": frame.index.to_numpy(dtype="datetime64[ms]").view("int64"),
            **{c: frame[c].to_numpy() for c in frame.columns},
        }
    )
    csv_gz = folder / "candles.csv.gz"
    with pa.CompressedOutputStream(str(csv_gz), "gzip") as stream:
        pacsv.write_csv(table, stream)
    return {"parquet": parquet, "csv.gz": csv_gz}


@contextmanager
def throwaway_database(admin_dsn: str) -> Iterator[str]:
    """Yield the DSN of a fresh database, dropped afterwards; raise ``_NoServer`` without one."""
    name = f"smbench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise _NoServer(f"PostgreSQL unavailable ({admin_dsn}): {exc}".strip()) from exc
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _NoServer(Exception):
    """PostgreSQL cannot be used for the benchmark."""


def _ingest(path: Path, kind: str, prefill: bool = False, **options: Any) -> dict[str, Any]:
    return run_case(
        "bench.bench_ingest:case_ingest",
        path=str(path),
        kind=kind,
        options=options,
        prefill=prefill,
    )


def run() -> list[dict[str, Any]]:
    """Run every ingest case; return one row per case."""
    rows = int(os.environ.get("SMARTMARKET_BENCH_INGEST_ROWS", "1000000"))
    admin_dsn = os.environ.get("SMARTMARKET_BENCH_PG_DSN", DEFAULT_DSN)
    results: list[dict[str, Any]] = []

    def record(case: str, source: str, target: str, out: dict[str, Any]) -> None:
        results.append({"case": case, "file": source, "store": target, **out})
        print(f"   {case}: {source} -> {target}: {out}", flush=True)

    with tempfile.TemporaryDirectory(prefix="smbench_ingest_") as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder, rows)
        parquet = inputs["parquet"]
        for fmt, path in inputs.items():
            record("ingest", fmt, "parquet", _ingest(path, "parquet", root=str(folder / fmt)))
        rewrite = _ingest(parquet, "parquet", prefill=True, root=str(folder / "rewrite"))
        record("re-ingest, all rows stored", "parquet", "parquet", rewrite)
        peer = run_case(
            "bench.bench_ingest:case_pandas_to_parquet",
            path=str(parquet),
            out=str(folder / "pandas.parquet"),
        )
        record("peer: pandas to_parquet", "parquet", "one file", peer)
        try:
            with throwaway_database(admin_dsn) as dsn:
                for fmt, path in inputs.items():
                    table = f"candles_{fmt.replace('.', '_')}"
                    record(
                        "ingest", fmt, "postgres", _ingest(path, "postgres", dsn=dsn, table=table)
                    )
                rewrite = _ingest(parquet, "postgres", prefill=True, dsn=dsn, table="rewrite")
                record("re-ingest, all rows stored", "parquet", "postgres", rewrite)
                peer = run_case("bench.bench_ingest:case_pg_write_row", path=str(parquet), dsn=dsn)
                record("peer: psycopg write_row COPY", "parquet", "postgres", peer)
        except _NoServer as exc:
            print(f"   postgres cases skipped: {exc}", flush=True)
            results.append({"case": "ingest", "store": "postgres", "skipped": str(exc)})
    return results
