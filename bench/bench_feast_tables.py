"""Feast offline tables and training set: this tree's layout against an earlier commit's.

One month (``SMARTMARKET_BENCH_TABLES_MONTH``, default 2024-03) of real Binance 5m candles of
BTC/USDT and ETH/USDT (``SMARTMARKET_DATA_DIR``, default ``../shared/data``; skipped when
missing), 60 days of warm-up before it, timeframes 5m..1d. The same case runs twice, each in
its own interpreter: on a copy of the peer commit's code (``SMARTMARKET_BENCH_TABLES_PEER``,
default ``df04ebd``: every feature stored and declared float64) and on this tree. Each writes
the offline tables of the month (``smc_<tf>``, ``mtf_5m``, ``model_5m``), applies the repo,
builds the training set of the ``model_inputs`` service for every 5m close of the month
(``historical_features``, then ``write_training_dataset``) and materializes the latest rows.

Figures per tree: the tables' Parquet bytes on disk, their size in memory read back as Arrow
and as pandas (``FeatureTables.read``), the training set's frame in memory and its Parquet
file, the point-in-time join's wall time, and digests of the training values (as float64, NaN
included), the online vectors and the online named SMC inputs: equal digests mean both layouts
serve the same model inputs. (The peer's write is not timed: its numba cache starts empty.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, run_case

SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")
WARMUP_DAYS = 60
HORIZON_BARS = 12
PEER = "df04ebd"  # main before the typed Feast tables: the float64 layout


def _digest(*arrays: np.ndarray) -> str:
    """Return a short digest of float arrays, NaN as NaN whatever its payload."""
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        values = np.asarray(a, dtype=np.float64)
        nan = np.isnan(values)
        h.update(nan.tobytes())
        h.update(np.where(nan, 0.0, values).tobytes())
    return h.hexdigest()


def _mib(n: float) -> float:
    return round(n / 2**20, 2)


def tables_case(tree: str, data: str, month: str) -> dict[str, Any]:
    """Write and read one month of tables with the code under ``tree``; return the figures."""
    sys.path.insert(0, tree)  # before any project import: this interpreter runs ``tree``'s code
    import pandas as pd
    import pyarrow.parquet as pq

    import features
    from features.candles.resample import resample_candles
    from features.candles.schema import Timeframe
    from features.feature_repo import feature_set
    from features.feature_store import (
        FeatureStoreConfig,
        apply_repo,
        historical_features,
        materialize_latest,
        online_vector,
        open_store,
        training_entities,
        write_training_dataset,
    )
    from features.labels import forward_return_labels
    from features.layout import view_name
    from features.model_inputs import pack_vector
    from features.mtf import MTFConfig, compute_mtf
    from features.smc import SMCConfig, compute_smc
    from features.tables import to_offline_table
    from serving.backtest.data import load_candles

    assert Path(features.__file__).resolve().is_relative_to(Path(tree).resolve())
    base = Timeframe.parse("5m")
    start = pd.Timestamp(month, tz="UTC")
    end = start + pd.offsets.MonthBegin(1)
    created = pd.Timestamp("2025-01-01", tz="UTC")
    fs = feature_set(list(TIMEFRAMES), "5m")
    root = Path(tempfile.mkdtemp(prefix="bench_tables_"))
    try:
        config = FeatureStoreConfig(repo_dir=root / "feast")
        tables = config.tables
        labels = {}
        for symbol, file in SYMBOLS.items():
            path = Path(data) / f"binance_{file}_5m.csv.gz"
            candles = load_candles(path, symbol, base).candles
            candles = candles[
                (candles.index >= start - pd.Timedelta(days=WARMUP_DAYS)) & (candles.index < end)
            ]
            frames, smc = {}, {}
            for tf in TIMEFRAMES:
                c = candles if tf == "5m" else resample_candles(candles, Timeframe.parse(tf), base)
                smc[tf] = compute_smc(c, SMCConfig.for_timeframe(tf))
                frames[tf] = c.join(smc[tf])
            mtf = compute_mtf(frames, "5m", MTFConfig())
            vector = pack_vector(smc["5m"].join(mtf), fs.model_columns)
            rows = {view_name("smc", tf): (tf, smc[tf]) for tf in TIMEFRAMES}
            rows["mtf_5m"], rows["model_5m"] = ("5m", mtf), ("5m", vector)
            for view, (tf, frame) in rows.items():
                month_rows = frame[(frame.index >= start) & (frame.index < end)]
                table = to_offline_table(month_rows, symbol=symbol, timeframe=tf, created=created)
                tables.write(view, tf, symbol, table, start, end)
            in_month = candles[candles.index >= start]
            found = forward_return_labels(in_month, base, HORIZON_BARS)
            labels[symbol] = found[found["event_timestamp"] < end]
        out: dict[str, Any] = {}
        disk = arrow = frame_bytes = 0
        by_view = {}
        for view in fs.views():
            files = sorted(tables.view_dir(view).rglob("*.parquet"))
            on_disk = sum(f.stat().st_size for f in files)
            in_arrow = sum(pq.read_table(f).nbytes for f in files)
            read = [tables.read(view, s) for s in SYMBOLS]
            in_pandas = sum(int(r.memory_usage(deep=True).sum()) for r in read)
            by_view[view] = (on_disk, in_arrow, in_pandas)
            disk, arrow, frame_bytes = disk + on_disk, arrow + in_arrow, frame_bytes + in_pandas
        out["tables_disk_mib"] = _mib(disk)
        out["tables_arrow_mib"] = _mib(arrow)
        out["tables_pandas_mib"] = _mib(frame_bytes)
        for view in ("smc_5m", "mtf_5m", "model_5m"):
            out[f"{view}_disk_mib"] = _mib(by_view[view][0])
            out[f"{view}_pandas_mib"] = _mib(by_view[view][2])

        store = open_store(config)
        apply_repo(store, fs)
        service = store.get_feature_service(fs.inputs_service)
        entities = training_entities(labels)
        t0 = time.perf_counter()
        dataset = historical_features(store, entities, service)
        out["training_join_s"] = round(time.perf_counter() - t0, 2)
        inputs = [c for c in dataset.columns if "__" in c]
        out["training_rows"], out["training_columns"] = len(dataset), len(inputs)
        out["training_pandas_mib"] = _mib(int(dataset.memory_usage(deep=True).sum()))
        out["training_inputs_pandas_mib"] = _mib(int(dataset[inputs].memory_usage().sum()))
        summary = write_training_dataset(store, entities, service, root / "training.parquet")
        out["training_disk_mib"] = _mib(summary.path.stat().st_size)
        out["training_digest"] = _digest(dataset[inputs].to_numpy(np.float64))

        materialize_latest(store, fs, tables)
        smc_inputs = [c for c in fs.smc_columns("5m") if c in set(fs.model_columns)]
        vectors, named = [], []
        for symbol in SYMBOLS:
            vectors.append(online_vector(store, fs, symbol).values)
            served = store.get_online_features(
                features=[f"smc_5m:{c}" for c in smc_inputs], entity_rows=[{"symbol": symbol}]
            ).to_dict()
            named.append([np.nan if served[c][0] is None else served[c][0] for c in smc_inputs])
        out["online_vector_digest"] = _digest(*vectors)
        out["online_named_digest"] = _digest(np.array(named, dtype=np.float64))
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _peer_tree(ref: str) -> Path:
    """Return a temporary copy of the code at git ``ref`` (``git archive``)."""
    target = Path(tempfile.mkdtemp(prefix="bench_peer_"))
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", ref],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def run() -> list[dict[str, Any]]:
    """Run the case on the peer commit and on this tree; add the ratios."""
    data = os.environ.get("SMARTMARKET_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data"))
    month = os.environ.get("SMARTMARKET_BENCH_TABLES_MONTH", "2024-03")
    ref = os.environ.get("SMARTMARKET_BENCH_TABLES_PEER", PEER)
    if not all((Path(data) / f"binance_{f}_5m.csv.gz").is_file() for f in SYMBOLS.values()):
        return [{"case": "feast tables", "skipped": f"no Binance 5m files under {data}"}]
    peer = _peer_tree(ref)
    try:
        before = {
            "case": f"layout at {ref}",
            **run_case(
                "bench.bench_feast_tables:tables_case", tree=str(peer), data=data, month=month
            ),
        }
    finally:
        shutil.rmtree(peer, ignore_errors=True)
    after = {
        "case": "this tree",
        **run_case(
            "bench.bench_feast_tables:tables_case", tree=str(REPO_ROOT), data=data, month=month
        ),
    }
    ratio: dict[str, Any] = {"case": "this tree / peer"}
    for key, value in after.items():
        if key.endswith("_mib") and before.get(key):
            ratio[key] = round(value / before[key], 3)
    for key in ("training_digest", "online_vector_digest", "online_named_digest"):
        ratio[key] = "same" if before[key] == after[key] else "DIFFERENT"
    return [before, after, ratio]
