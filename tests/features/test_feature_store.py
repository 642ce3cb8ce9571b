"""Feature tables, incremental SMC, the Feast repo, offline/online parity and point-in-time."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expectations.features import run_feature_suite
from features.candles.resample import resample_candles
from features.candles.schema import Timeframe
from features.candles.sources import make_source
from features.candles.validate import validate_candles
from features.feature_repo import FeatureSet, feature_set
from features.feature_store import (
    FeatureStoreConfig,
    historical_features,
    online_vector,
    postgres_params,
    redis_connection,
    repo_settings,
    write_repo_yaml,
)
from features.labels import forward_return_labels
from features.layout import EVENT_TIMESTAMP, KNOWN_AT, VECTOR, view_name
from features.model_inputs import model_input_columns, pack_vector
from features.mtf import MTFConfig, compute_mtf
from features.pipeline import mtf_range, mtf_warmup
from features.point_in_time import known_after
from features.schema import column_float64, exact_float, missing_value, spec_of
from features.smc import SMCConfig, compute_smc
from features.snapshots import DAY, StreamSnapshots, smc_by_day
from features.tables import FeatureTables, to_offline_table

SYMBOLS = ("BTC/USDT", "ETH/USDT")
TIMEFRAMES = ("5m", "1h")
START = pd.Timestamp("2024-03-01", tz="UTC")
DAYS = 3
BASE = Timeframe.parse("5m")
CREATED = pd.Timestamp("2024-06-01", tz="UTC")
# Volume-profile columns sit on a log-price grid anchored at fixed prices: scaling prices
# moves values across bin edges, so they are scale-free only up to one bin (documented).
GRID_ANCHORED = {"ctx_vp_poc_dist", "ctx_vp_pos"}


def synthetic(symbol: str, days: int = DAYS, seed: int = 7) -> pd.DataFrame:
    """Return canonical 5m candles of the seeded synthetic market."""
    source = make_source("synthetic", seed=seed, symbols=SYMBOLS, base_timeframe="5m")
    raw = source.fetch(symbol, BASE, START, START + DAY * days)
    return validate_candles(raw, BASE, source="synthetic", symbol=symbol).valid


def by_timeframe(candles: pd.DataFrame, timeframes: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Return candles per timeframe, resampled from 5m."""
    return {
        tf: candles if tf == "5m" else resample_candles(candles, Timeframe.parse(tf), BASE)
        for tf in timeframes
    }


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Bit-identical frames (NaN equal to NaN), same index and columns."""
    return (
        a.index.equals(b.index)
        and list(a.columns) == list(b.columns)
        and np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True)
    )


# ---------------------------------------------------------------- offline table format


def test_offline_row_is_stamped_at_the_candle_close() -> None:
    index = pd.date_range("2024-03-01 10:00", periods=3, freq="1h", tz="UTC", name="ts")
    features = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=index)

    table = to_offline_table(features, symbol="BTC/USDT", timeframe="1h", created=CREATED)

    assert list(table[EVENT_TIMESTAMP]) == list(index + pd.Timedelta(hours=1))
    assert table[KNOWN_AT].tolist() == [t.timestamp() for t in index + pd.Timedelta(hours=1)]
    assert table["symbol"].tolist() == ["BTC/USDT"] * 3
    assert table["x"].tolist() == [1.0, 2.0, 3.0]


def test_naive_index_is_rejected_naming_the_series() -> None:
    features = pd.DataFrame({"x": [1.0]}, index=pd.DatetimeIndex(["2024-03-01"]))

    with pytest.raises(ValueError, match="BTC/USDT 5m features need a tz-aware"):
        to_offline_table(features, symbol="BTC/USDT", timeframe="5m", created=CREATED)


def _rows(day: str, value: float, periods: int = 288) -> pd.DataFrame:
    index = pd.date_range(day, periods=periods, freq="5min", tz="UTC", name="ts")
    features = pd.DataFrame({"x": np.full(periods, value)}, index=index)
    return to_offline_table(features, symbol="BTC/USDT", timeframe="5m", created=CREATED)


def test_rewriting_a_day_replaces_only_that_day(tmp_path: Path) -> None:
    tables = FeatureTables(tmp_path)
    d1, d2, d3 = (pd.Timestamp(d, tz="UTC") for d in ("2024-03-31", "2024-04-01", "2024-04-02"))
    both = pd.concat([_rows("2024-03-31", 1.0), _rows("2024-04-01", 1.0)], ignore_index=True)
    tables.write("smc_5m", "5m", "BTC/USDT", both, d1, d3)

    written = tables.write("smc_5m", "5m", "BTC/USDT", _rows("2024-04-01", 2.0, 100), d2, d3)
    again = tables.write("smc_5m", "5m", "BTC/USDT", _rows("2024-04-01", 2.0, 100), d2, d3)

    stored = tables.read("smc_5m", "BTC/USDT")
    assert (written, again) == (100, 100)
    assert len(stored) == 288 + 100
    assert stored.groupby(stored["ts"].dt.day)["x"].unique().to_dict() == {31: [1.0], 1: [2.0]}
    assert tables.read("smc_5m", "BTC/USDT", d2, d3)["x"].tolist() == [2.0] * 100


def test_writing_an_empty_day_clears_it(tmp_path: Path) -> None:
    tables = FeatureTables(tmp_path)
    day = pd.Timestamp("2024-03-01", tz="UTC")
    tables.write("smc_5m", "5m", "BTC/USDT", _rows("2024-03-01", 1.0), day, day + DAY)

    tables.write("smc_5m", "5m", "BTC/USDT", _rows("2024-03-01", 1.0).iloc[:0], day, day + DAY)

    assert tables.read("smc_5m", "BTC/USDT").empty
    assert tables.latest_event_times("smc_5m") == {}


def test_rows_outside_the_written_span_are_rejected(tmp_path: Path) -> None:
    tables = FeatureTables(tmp_path)
    day = pd.Timestamp("2024-03-02", tz="UTC")

    with pytest.raises(ValueError, match="outside the span"):
        tables.write("smc_5m", "5m", "BTC/USDT", _rows("2024-03-01", 1.0), day, day + DAY)


def test_packed_vector_round_trips_through_parquet(tmp_path: Path) -> None:
    index = pd.date_range("2024-03-01", periods=4, freq="5min", tz="UTC", name="ts")
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [0.5, 0.25, np.nan, 1.0]}, index)
    tables = FeatureTables(tmp_path)
    packed = to_offline_table(
        pack_vector(frame, ["b", "a"]), symbol="BTC/USDT", timeframe="5m", created=CREATED
    )
    tables.write("model_5m", "5m", "BTC/USDT", packed, index[0], index[0] + DAY)

    stored = np.vstack(tables.read("model_5m", "BTC/USDT")[VECTOR].to_numpy())

    assert np.array_equal(stored, frame[["b", "a"]].to_numpy(), equal_nan=True)


def test_feature_columns_are_stored_in_their_spec_dtypes_unknown_as_null(tmp_path: Path) -> None:
    # Arrange: a day of compact SMC rows (integer "not yet known" is the dtype's minimum)
    out = compute_smc(synthetic("BTC/USDT", days=1), SMCConfig.for_timeframe("5m"))
    table = to_offline_table(out, symbol="BTC/USDT", timeframe="5m", created=CREATED)
    tables = FeatureTables(tmp_path)
    # Act
    tables.write("smc_5m", "5m", "BTC/USDT", table, START, START + DAY)
    (path,) = (tmp_path / "smc_5m").rglob("*.parquet")
    stored = pq.read_table(path)
    back = tables.read("smc_5m", "BTC/USDT")
    # Assert: each column in its spec's dtype; an integer's sentinel is null, read as NaN
    for column in out.columns:
        dtype = spec_of(column).dtype
        assert stored.schema.field(column).type == pa.from_numpy_dtype(dtype), column
        unknown = int((out[column] == missing_value(dtype)).sum()) if dtype.kind == "i" else 0
        assert stored.column(column).null_count == unknown, column
        assert np.array_equal(
            column_float64(back, column), column_float64(out, column), equal_nan=True
        ), column
    assert any(stored.column(c).null_count for c in out.columns)  # the case is covered


def test_a_table_of_the_float64_layout_is_rewritten_compact_keeping_its_rows(
    tmp_path: Path,
) -> None:
    # Arrange: a period file stored as before (every feature as float64, unknown as NaN)
    index = pd.date_range(START, periods=6, freq="5min", tz="UTC", name="ts")
    values = np.array([0, 1, missing_value(np.dtype(np.int8)), 1, 0, 1], dtype=np.int8)
    compact = pd.DataFrame({"smc_warm": values}, index=index)
    table = to_offline_table(compact, symbol="BTC/USDT", timeframe="5m", created=CREATED)
    tables = FeatureTables(tmp_path)
    first, rest = START + 3 * pd.Timedelta("5min"), START + DAY
    tables.write("smc_5m", "5m", "BTC/USDT", table.iloc[:3], START, first)
    (path,) = (tmp_path / "smc_5m").rglob("*.parquet")
    old = pq.read_table(path)
    pq.write_table(old.set_column(5, "smc_warm", old.column(5).cast(pa.float64())), path)
    # Act: the next partition goes into the same file
    tables.write("smc_5m", "5m", "BTC/USDT", table.iloc[3:], first, rest)
    # Assert
    stored = pq.read_table(path)
    assert stored.schema.field("smc_warm").type == pa.int8()
    assert stored.column("smc_warm").to_pylist() == [0, 1, None, 1, 0, 1]


# ---------------------------------------------------------------- model inputs


def test_model_inputs_are_unchanged_when_every_price_is_scaled() -> None:
    candles = synthetic("BTC/USDT", days=4)
    scaled = candles.copy()
    scaled[["open", "high", "low", "close"]] *= 4.0  # a power of two: exact in float64

    def inputs(c: pd.DataFrame) -> pd.DataFrame:
        frames = {
            tf: c_tf.join(compute_smc(c_tf, SMCConfig.for_timeframe(tf)))
            for tf, c_tf in by_timeframe(c, TIMEFRAMES).items()
        }
        mtf = compute_mtf(frames, "5m", MTFConfig())
        smc = frames["5m"].drop(columns=["open", "high", "low", "close", "volume"])
        return smc.join(mtf)[list(model_input_columns(smc.columns, mtf.columns))]

    a, b = inputs(candles), inputs(scaled)

    equal = ((a == b) | (a.isna() & b.isna())).all()
    assert sorted(equal[~equal].index) == sorted(GRID_ANCHORED & set(a.columns))
    assert {"ctx_atr", "pd_high", "liq_pdh"}.isdisjoint(a.columns)


def test_duplicate_model_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="appear twice"):
        model_input_columns(["pd_pos", "mtf_rsi"], ["mtf_rsi"])


def test_model_inputs_are_selected_by_the_column_schema() -> None:
    # Arrange: a price level, a ratio, the time column, a timeframe-prefixed MTF column
    smc, mtf = ["pd_high", "pd_pos", "known_at"], ["h1_bias", "mtf_confluence"]
    # Act
    names = model_input_columns(smc, mtf)
    # Assert
    assert names == ("pd_pos", "h1_bias", "mtf_confluence")
    with pytest.raises(KeyError, match="'no_such_column' has no spec"):
        model_input_columns(["no_such_column"], [])


def test_feature_set_fingerprint_changes_with_the_inputs() -> None:
    base = FeatureSet("5m", (("5m", ("pd_pos", "pd_zone")),), ("mtf_rsi",))

    changed = FeatureSet("5m", (("5m", ("pd_pos", "ob_bull_dist")),), ("mtf_rsi",))

    assert base.model_columns == ("pd_pos", "pd_zone", "mtf_rsi")
    assert base.model_fingerprint != changed.model_fingerprint
    assert base.views() == {"smc_5m": "5m", "mtf_5m": "5m", "model_5m": "5m"}


# ---------------------------------------------------------------- incremental SMC


@pytest.mark.parametrize("timeframe", ["5m", "1h"])
@pytest.mark.parametrize("chunks", [[[0], [1], [2], [3]], [[0, 1], [2, 3]], [[0], [2, 3]]])
def test_incremental_days_equal_a_full_recomputation(
    tmp_path: Path, timeframe: str, chunks: list[list[int]]
) -> None:
    candles = by_timeframe(synthetic("BTC/USDT", days=4), (timeframe,))[timeframe]
    config = SMCConfig.for_timeframe(timeframe)
    snapshots = StreamSnapshots(tmp_path)
    parts: dict[pd.Timestamp, pd.DataFrame] = {}

    for chunk in chunks:
        days = [START + DAY * i for i in chunk]
        seen = candles[candles.index < days[-1] + DAY]
        parts.update(
            smc_by_day(seen, days, symbol="BTC/USDT", config=config, snapshots=snapshots).frames
        )

    incremental = pd.concat([parts[d] for d in sorted(parts)])
    assert same(incremental, compute_smc(candles, config))


def test_a_new_day_resumes_from_the_previous_days_snapshot(tmp_path: Path) -> None:
    candles = synthetic("BTC/USDT")
    config, snapshots = SMCConfig.for_timeframe("5m"), StreamSnapshots(tmp_path)
    smc_by_day(candles, [START, START + DAY], symbol="BTC/USDT", config=config, snapshots=snapshots)

    result = smc_by_day(
        candles, [START + 2 * DAY], symbol="BTC/USDT", config=config, snapshots=snapshots
    )

    assert result.resumed_from == START + DAY
    assert list(result.frames) == [START + 2 * DAY]


def test_changed_history_invalidates_the_snapshot_and_still_matches(tmp_path: Path) -> None:
    candles = synthetic("BTC/USDT")
    config, snapshots = SMCConfig.for_timeframe("5m"), StreamSnapshots(tmp_path)
    smc_by_day(candles, [START, START + DAY], symbol="BTC/USDT", config=config, snapshots=snapshots)
    corrected = candles.copy()
    at = START + DAY + pd.Timedelta(hours=5)
    corrected.loc[at, "high"] += 50.0  # a late correction inside the previous day

    result = smc_by_day(
        corrected, [START + 2 * DAY], symbol="BTC/USDT", config=config, snapshots=snapshots
    )

    assert result.resumed_from is None
    assert result.first_day == START
    recomputed = pd.concat([result.frames[d] for d in sorted(result.frames)])
    assert same(recomputed, compute_smc(corrected, config))


def test_mtf_with_its_warmup_equals_the_full_computation() -> None:
    timeframes = ("5m", "15m", "1h", "4h")
    candles = by_timeframe(synthetic("ETH/USDT", days=5), timeframes)
    frames = {tf: c.join(compute_smc(c, SMCConfig.for_timeframe(tf))) for tf, c in candles.items()}
    config = MTFConfig()
    start, end = START + 4 * DAY, START + 5 * DAY
    warmup = mtf_warmup(timeframes, "5m", config)
    cut = {tf: f[f.index >= start - warmup] for tf, f in frames.items()}

    partial = mtf_range(cut, "5m", start, end, config)

    full = compute_mtf(frames, "5m", config)
    assert same(partial, full[(full.index >= start) & (full.index < end)])
    assert len(partial) == 288


def test_mtf_months_refuse_smc_rows_that_do_not_cover_the_warm_up() -> None:
    from features.pipeline import MissingFeatures, mtf_months

    # Arrange: the 1h SMC table lacks its first stored rows
    candles = by_timeframe(synthetic("ETH/USDT", days=3), TIMEFRAMES)
    smc = {tf: compute_smc(c, SMCConfig.for_timeframe(tf)) for tf, c in candles.items()}

    def load(
        tf: Timeframe, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        c, s = candles[tf.label], smc[tf.label]
        keep = (c.index >= start) & (c.index < end)
        return c[keep], s[keep].iloc[1:] if tf.label == "1h" else s[keep]

    months = mtf_months(
        [START + 2 * DAY],
        load,
        symbol="ETH/USDT",
        trading=BASE,
        timeframes=[Timeframe.parse(tf) for tf in TIMEFRAMES],
        config=MTFConfig(),
        model_columns=(),
        created=CREATED,
    )
    # Act / Assert
    with pytest.raises(MissingFeatures, match=r"smc_features_1h has 71 rows for the 72 1h candles"):
        next(months)


# ---------------------------------------------------------------- labels, point in time


def test_forward_return_label_is_known_one_horizon_after_the_decision() -> None:
    index = pd.date_range("2024-03-01", periods=6, freq="5min", tz="UTC", name="ts")
    closes = [100.0, 110.0, 99.0, 121.0, 100.0, 100.0]
    candles = pd.DataFrame({c: closes for c in ("open", "high", "low", "close")}, index=index)
    candles["volume"] = 1.0
    candles = candles.drop(index[4])  # a missing candle: its decision and label vanish

    labels = forward_return_labels(candles, "5m", horizon_bars=2)

    decisions = labels[EVENT_TIMESTAMP]
    assert list(decisions) == list(index[[0, 1, 3]] + pd.Timedelta(minutes=5))
    assert list(labels["label_time"] - decisions) == [pd.Timedelta(minutes=10)] * 3
    assert labels["forward_return"].tolist() == pytest.approx([-0.01, 0.1, 100 / 121 - 1])
    assert labels["label_up"].tolist() == [0.0, 1.0, 0.0]


def test_point_in_time_report_counts_late_values_and_labels() -> None:
    decision = pd.Timestamp("2024-03-01 10:00", tz="UTC")
    dataset = pd.DataFrame(
        {
            EVENT_TIMESTAMP: [decision, decision],
            "label_time": [decision + pd.Timedelta(hours=1), decision],
            "smc_5m__known_at": [decision.timestamp(), decision.timestamp() + 300],
            "smc_1h__known_at": [decision.timestamp() - 3600, np.nan],
        }
    )

    report = known_after(dataset)

    assert (report.features_after_decision, report.labels_not_after_decision) == (1, 1)


# ---------------------------------------------------------------- the GX feature suite


def test_feature_suite_passes_on_engine_output() -> None:
    candles = synthetic("BTC/USDT")
    features = compute_smc(candles, SMCConfig.for_timeframe("5m"))

    report = run_feature_suite(
        features, expected_rows=len(candles), warm=features["smc_warm"].to_numpy() == 1.0
    )

    assert report.success, report.to_markdown()


def test_feature_suite_names_infinite_missing_and_out_of_range_columns() -> None:
    frame = pd.DataFrame(
        {
            "struct_int_trend": [1.0, np.nan, 2.0],
            "fvg_bull_count": [0.0, np.inf, -1.0],
            "fvg_bull_dist": [np.nan, np.nan, np.nan],
        }
    )

    report = run_feature_suite(frame, expected_rows=3, warm=np.array([False, True, True]))

    assert not report.success
    assert report.outcomes == {
        "no_infinities": False,
        "no_nulls_after_warmup": False,
        "in_range": False,
        "rows_equal_candles": True,
    }
    assert report.infinite == {"fvg_bull_count": 1}
    assert report.missing == {"struct_int_trend": 1}
    assert report.out_of_range == {"struct_int_trend": 1, "fvg_bull_count": 1}


def test_feature_suite_fails_when_rows_differ_from_candles() -> None:
    frame = pd.DataFrame({"struct_int_trend": [1.0, 0.0]})

    report = run_feature_suite(frame, expected_rows=3)

    assert report.outcomes["rows_equal_candles"] is False
    assert not report.success


# ---------------------------------------------------------------- repo config


def test_repo_yaml_is_relative_and_keeps_secrets_out(tmp_path: Path) -> None:
    config = FeatureStoreConfig(
        repo_dir=tmp_path / "feast",
        online_store="postgres",
        pg_dsn="host=db port=5433 user=feast password=s3cret dbname=features",
    )

    text = write_repo_yaml(config).read_text()

    assert "s3cret" not in text
    assert "${SMARTMARKET_FEAST_PG_PASSWORD}" in text
    assert str(tmp_path) not in text
    assert "registry: registry.db" in text


@pytest.mark.parametrize(
    ("kind", "message"),
    [("redis", "redis URL"), ("postgres", "DSN"), ("mongo", "not sqlite, redis or postgres")],
)
def test_store_config_names_what_is_missing(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureStoreConfig(repo_dir=tmp_path, online_store=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/15", ("127.0.0.1:6379,db=15", None)),
        ("redis://:pw@cache:6380", ("cache:6380,db=0", "pw")),
        ("rediss://cache/2", ("cache:6379,db=2,ssl=true", None)),
    ],
)
def test_redis_url_becomes_a_feast_connection_string(
    url: str, expected: tuple[str, str | None]
) -> None:
    assert redis_connection(url) == expected


def test_postgres_dsn_defaults_to_sslmode_disable() -> None:
    params = postgres_params("postgresql://feast@db:5433/features")

    assert params == {
        "host": "db",
        "port": 5433,
        "database": "features",
        "db_schema": "public",
        "user": "feast",
        "password": "",
        "sslmode": "disable",
    }


def test_offline_store_choice_reaches_the_repo_settings(tmp_path: Path) -> None:
    asof = repo_settings(FeatureStoreConfig(repo_dir=tmp_path))
    file = repo_settings(FeatureStoreConfig(repo_dir=tmp_path, offline_store="file"))

    assert asof["offline_store"]["type"].endswith("AsofFileOfflineStore")
    assert file["offline_store"] == {"type": "file"}
    assert asof["online_store"] == {"type": "sqlite", "path": "online_store.db"}


# ---------------------------------------------------------------- a small Feast repo


@dataclass
class Repo:
    """A populated Feast repo: 2 symbols x 3 days of 5m (+1h), SQLite online store."""

    dir: Path
    features: FeatureSet
    tables: FeatureTables
    smc: dict[str, dict[str, pd.DataFrame]]
    mtf: dict[str, pd.DataFrame]

    def config(self, **kwargs: object) -> FeatureStoreConfig:
        return FeatureStoreConfig(repo_dir=self.dir, **kwargs)  # type: ignore[arg-type]


def populate(root: Path) -> Repo:
    """Compute and write every offline table of the small repo."""
    features = feature_set(list(TIMEFRAMES), "5m")
    tables = FeatureTables(root / "offline")
    smc: dict[str, dict[str, pd.DataFrame]] = {}
    mtf: dict[str, pd.DataFrame] = {}
    end = START + DAY * DAYS
    for symbol in SYMBOLS:
        frames = {}
        smc[symbol] = {}
        for tf, candles in by_timeframe(synthetic(symbol), TIMEFRAMES).items():
            out = compute_smc(candles, SMCConfig.for_timeframe(tf))
            smc[symbol][tf] = out
            frames[tf] = candles.join(out)
            table = to_offline_table(out, symbol=symbol, timeframe=tf, created=CREATED)
            tables.write(view_name("smc", tf), tf, symbol, table, START, end)
        mtf[symbol] = compute_mtf(frames, "5m", MTFConfig())
        table = to_offline_table(mtf[symbol], symbol=symbol, timeframe="5m", created=CREATED)
        tables.write("mtf_5m", "5m", symbol, table, START, end)
        vector = pack_vector(smc[symbol]["5m"].join(mtf[symbol]), features.model_columns)
        table = to_offline_table(vector, symbol=symbol, timeframe="5m", created=CREATED)
        tables.write("model_5m", "5m", symbol, table, START, end)
    return Repo(root, features, tables, smc, mtf)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The small repo, applied once per module (SQLite online store)."""
    from features.feature_store import apply_repo, open_store

    built = populate(tmp_path_factory.mktemp("feast"))
    apply_repo(open_store(built.config()), built.features)
    return built


@pytest.fixture
def repo_copy(repo: Repo, tmp_path: Path) -> Repo:
    """A private copy of the small repo (its own registry and online store)."""
    target = tmp_path / "feast"
    shutil.copytree(repo.dir, target)
    return Repo(target, repo.features, FeatureTables(target / "offline"), repo.smc, repo.mtf)


def test_registry_and_online_store_live_in_the_repo_folder(repo: Repo) -> None:
    from features.feature_store import open_store

    store = open_store(repo.config())

    assert (repo.dir / "registry.db").is_file()
    assert not (Path.cwd() / "registry.db").exists()
    assert {v.name for v in store.list_feature_views()} == set(repo.features.views())
    assert {s.name for s in store.list_feature_services()} == {
        "model_inputs_v1",
        "model_vector_v1",
    }


def test_view_fields_are_typed_from_the_column_specs(repo: Repo) -> None:
    from features.feature_repo.feature_views import feast_type
    from features.feature_store import open_store

    views = {v.name: v for v in open_store(repo.config()).list_feature_views()}

    for name in ("smc_5m", "smc_1h", "mtf_5m"):
        for field in views[name].features:
            assert field.dtype == feast_type(spec_of(field.name).dtype), (name, field.name)
    typed = {f.name: str(f.dtype) for f in views["smc_5m"].features}
    assert (typed["smc_warm"], typed["swing_int_high_dist"]) == ("Int32", "Float32")  # int8, f4
    assert (typed["swing_int_high"], typed[KNOWN_AT]) == ("Float64", "Float64")  # price, time


def decision_times() -> pd.DatetimeIndex:
    """Decision times on and off the 5m grid, including before the first close."""
    on_grid = pd.date_range(START + pd.Timedelta(hours=3), periods=40, freq="55min", tz="UTC")
    off_grid = on_grid[::4] + pd.Timedelta(minutes=2, seconds=30)
    before = pd.DatetimeIndex([START - pd.Timedelta(hours=1)])
    return on_grid.append(off_grid).append(before)


def entity_rows() -> pd.DataFrame:
    times = decision_times()
    return pd.DataFrame(
        {
            "symbol": np.repeat(SYMBOLS, len(times)),
            EVENT_TIMESTAMP: np.tile(times, len(SYMBOLS)),
        }
    )


def test_asof_store_returns_the_rows_of_feasts_file_store(repo_copy: Repo) -> None:
    from features.feature_store import open_store

    refs = ["smc_5m:known_at", "smc_5m:struct_int_trend", "smc_1h:known_at", "mtf_5m:h1_bias"]
    entities = entity_rows()
    asof = historical_features(open_store(repo_copy.config()), entities, refs)
    dask = open_store(repo_copy.config(offline_store="file"))

    reference = dask.get_historical_features(
        entity_df=entities, features=refs, full_feature_names=True
    ).to_df()

    merged = asof.merge(reference, on=["symbol", EVENT_TIMESTAMP], suffixes=("", "_dask"))
    assert len(merged) == len(reference) > 0
    for ref in refs:
        column = ref.replace(":", "__")
        assert np.array_equal(merged[column], merged[f"{column}_dask"], equal_nan=True), column
    # Rows with nothing inside the TTL come back (NaN) instead of being dropped.
    assert len(asof) == len(entities) > len(reference)
    assert asof.loc[asof[EVENT_TIMESTAMP] < START, "smc_5m__known_at"].isna().all()


def test_training_rows_never_see_a_value_known_after_the_decision(repo: Repo) -> None:
    from features.feature_store import open_store

    store = open_store(repo.config())
    entities = entity_rows()
    service = store.get_feature_service(repo.features.inputs_service)

    dataset = historical_features(store, entities, service)
    hourly = historical_features(store, entities, ["smc_1h:known_at"])

    assert known_after(dataset).total == 0
    assert known_after(hourly).total == 0
    # The 1h candle is visible from its close on (exactly at it), never before.
    decided = pd.DatetimeIndex(hourly[EVENT_TIMESTAMP])
    seen = pd.to_datetime(hourly["smc_1h__known_at"], unit="s", utc=True)
    valid = decided >= START + pd.Timedelta(hours=1)
    assert (seen[valid] == decided[valid].floor("1h")).all()


def test_training_rows_equal_the_offline_rows_at_the_decision(repo: Repo) -> None:
    from features.feature_store import open_store

    store = open_store(repo.config())
    entities = entity_rows()
    entities = entities[entities[EVENT_TIMESTAMP].dt.minute % 5 == 0]
    entities = entities[entities[EVENT_TIMESTAMP] > START]
    service = store.get_feature_service(repo.features.inputs_service)

    dataset = historical_features(store, entities, service)

    for symbol, rows in dataset.groupby("symbol"):
        opened = pd.DatetimeIndex(rows[EVENT_TIMESTAMP]) - BASE.delta
        expected = repo.smc[symbol]["5m"].join(repo.mtf[symbol]).loc[opened]
        for column in repo.features.model_columns:
            view = "mtf_5m" if column in repo.mtf[symbol].columns else "smc_5m"
            got = rows[f"{view}__{column}"].to_numpy()
            want = column_float64(expected, column)  # compact "not yet known" -> NaN
            assert np.array_equal(got, want, equal_nan=True), column


def test_training_columns_have_their_specs_exact_float_dtype(repo: Repo) -> None:
    from features.feature_store import open_store

    store = open_store(repo.config())
    service = store.get_feature_service(repo.features.inputs_service)
    # Two slices: one where some int columns are missing in places, one where none is
    early = entity_rows()
    late = early[early[EVENT_TIMESTAMP] > START + DAY]

    for entities in (early, late):
        dataset = historical_features(store, entities, service)
        for column in dataset.columns[2:]:
            spec = spec_of(column.split("__", 1)[1])
            assert dataset[column].dtype == exact_float(spec.dtype), column


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(-7200, DAYS * 86_400 + 7200), min_size=1, max_size=25),
    symbol=st.sampled_from(SYMBOLS),
)
def test_point_in_time_join_equals_a_brute_force_lookup(
    repo: Repo, offsets: list[int], symbol: str
) -> None:
    from features.feature_store import open_store

    times = START + pd.to_timedelta(offsets, unit="s")
    entities = pd.DataFrame({"symbol": symbol, EVENT_TIMESTAMP: times})
    refs = ["smc_1h:known_at", "smc_1h:struct_int_trend"]

    got = historical_features(open_store(repo.config()), entities, refs)

    table = repo.tables.read("smc_1h", symbol)
    events = pd.DatetimeIndex(table[EVENT_TIMESTAMP])
    ttl = pd.Timedelta(hours=2)  # two 1h candles
    for row, t in enumerate(times):
        visible = np.flatnonzero((events <= t) & (events >= t - ttl))
        expected = table.iloc[visible[-1]] if len(visible) else None
        for ref in refs:
            value = got[ref.replace(":", "__")].iloc[row]
            if expected is None:
                assert np.isnan(value)
            else:
                assert value == expected[ref.split(":")[1]] or (
                    np.isnan(value) and np.isnan(expected[ref.split(":")[1]])
                )


def parity_times() -> list[pd.Timestamp]:
    """Materialization end times (candle closes) checked for online/offline parity."""
    return [START + pd.Timedelta(hours=h, minutes=5) for h in (7, 30, 55)] + [START + DAY * DAYS]


def assert_online_equals_offline(repo: Repo, config: FeatureStoreConfig) -> None:
    """Materialize up to each time; the served vector must equal the offline row."""
    from features.feature_store import apply_repo, open_store

    store = open_store(config)
    apply_repo(store, repo.features)
    for t in parity_times():
        store.materialize(
            start_date=(t - pd.Timedelta(hours=1)).to_pydatetime(),
            end_date=t.to_pydatetime(),
            feature_views=["model_5m", "smc_5m", "mtf_5m"],
        )
        for symbol in SYMBOLS:
            vector = online_vector(store, repo.features, symbol)
            offline = repo.tables.read("model_5m", symbol)
            row = offline[offline[EVENT_TIMESTAMP] == t].iloc[0]
            assert vector.known_at == t
            assert np.array_equal(vector.values, np.asarray(row[VECTOR]), equal_nan=True)
            named = store.get_online_features(
                features=[f"mtf_5m:{c}" for c in repo.features.mtf_columns],
                entity_rows=[{"symbol": symbol}],
            ).to_dict()
            served = np.array(
                [np.nan if named[c][0] is None else named[c][0] for c in repo.features.mtf_columns]
            )
            expected = repo.mtf[symbol].loc[t - BASE.delta].to_numpy()
            assert np.array_equal(served, expected, equal_nan=True)


def test_sqlite_online_vector_equals_the_offline_row(repo_copy: Repo) -> None:
    assert_online_equals_offline(repo_copy, repo_copy.config())


@pytest.mark.services
def test_redis_online_vector_equals_the_offline_row(repo_copy: Repo, redis_url: str) -> None:
    assert_online_equals_offline(
        repo_copy, repo_copy.config(online_store="redis", redis_url=redis_url)
    )


@pytest.mark.services
def test_postgres_online_vector_equals_the_offline_row(repo_copy: Repo, pg_dsn: str) -> None:
    assert_online_equals_offline(
        repo_copy, repo_copy.config(online_store="postgres", pg_dsn=pg_dsn)
    )


# ---------------------------------------------------------------- one feature path


def test_backtest_matrix_equals_what_feast_serves(tmp_path: Path) -> None:
    """The backtest's matrix is what the pipeline stores and Feast serves, bar for bar."""
    from features.candles.schema import OHLCV
    from features.feature_store import apply_repo, materialize_latest, open_store
    from features.frames import HTF_BIAS
    from features.mtf import tf_prefix
    from features.pipeline import mtf_months, smc_months
    from features.tables import features_frame
    from serving.engine.features import FeatureSpec, batch_features
    from serving.signals import SMCConfluence

    # Arrange: the feature assets' steps fill the offline tables of a fresh repo
    symbol, days = SYMBOLS[0], 6
    candles = synthetic(symbol, days=days)
    by_tf = by_timeframe(candles, TIMEFRAMES)
    features = feature_set(list(TIMEFRAMES), "5m")
    config = FeatureStoreConfig(repo_dir=tmp_path / "feast")
    tables, snapshots = config.tables, StreamSnapshots(tmp_path / "state")
    dates = [START + DAY * k for k in range(days)]
    for tf, frame in by_tf.items():
        smc_config = SMCConfig.for_timeframe(tf)
        for month in smc_months(
            frame, dates, symbol=symbol, config=smc_config, snapshots=snapshots, created=CREATED
        ):
            tables.write(view_name("smc", tf), tf, symbol, month.table, month.first_day, month.end)

    def load(
        tf: Timeframe, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        frame = by_tf[tf.label]
        stored = features_frame(tables.read(view_name("smc", tf), symbol, start, end))
        return frame[(frame.index >= start) & (frame.index < end)], stored

    for month in mtf_months(
        dates,
        load,
        symbol=symbol,
        trading=BASE,
        timeframes=[Timeframe.parse(tf) for tf in TIMEFRAMES],
        config=MTFConfig(),
        model_columns=features.model_columns,
        created=CREATED,
    ):
        tables.write("mtf_5m", BASE, symbol, month.mtf_table, month.start, month.end)
        tables.write("model_5m", BASE, symbol, month.model_table, month.start, month.end)
    store = open_store(config)
    apply_repo(store, features)
    inputs = SMCConfluence().inputs()
    assert inputs.htf_timeframe is not None
    prefix, htf = tf_prefix(inputs.htf_timeframe), Timeframe.parse(inputs.htf_timeframe).label
    served_as: dict[str, str] = {c: f"smc_5m:{c}" for c in inputs.columns if c not in OHLCV}
    for c in inputs.htf_columns:
        served_as[f"htf_{c}"] = f"mtf_5m:{prefix}{c}" if c in HTF_BIAS else f"smc_{htf}:{c}"
    entities = pd.DataFrame({"symbol": symbol, EVENT_TIMESTAMP: candles.index + BASE.delta})

    # Act
    matrix = batch_features(candles, FeatureSpec.build("5m", inputs)).matrix
    offline = historical_features(store, entities, list(served_as.values()))
    materialize_latest(store, features, tables)
    online = online_vector(store, features, symbol)

    # Assert: offline, every bar; online, the last bar's packed vector (its model inputs)
    assert len(served_as) == len(inputs.names) - 4  # all but the candle's open, high, low, close
    for j, name in enumerate(inputs.names):
        if name in served_as:
            column = offline[served_as[name].replace(":", "__")].to_numpy(np.float64)
            assert np.array_equal(column, matrix[:, j], equal_nan=True), name
    assert np.isfinite(matrix[-1]).all()  # warm: the comparison covers defined values
    shared = 0
    for j, name in enumerate(inputs.names):
        model_name = served_as.get(name, "").split(":")[-1]
        if name.startswith("htf_") and name[4:] in HTF_BIAS:
            model_name = f"{prefix}{name[4:]}"
        if model_name in online.names:
            assert online.values[online.names.index(model_name)] == matrix[-1, j], name
            shared += 1
    assert shared >= 20
