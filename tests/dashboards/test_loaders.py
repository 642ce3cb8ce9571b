"""Loaders: data from each source, or a ``Missing`` that says what to run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from dashboards import loaders
from dashboards.loaders import DashboardSettings, Missing


def test_candle_series_lists_stored_timeframes_ascending(seeded_home: Path) -> None:
    from features.candles.store import make_store

    series = loaders.candle_series(make_store("parquet", root=seeded_home / "candles"))

    assert series == {"BTC/USDT": ["5m", "15m", "1h", "4h"], "ETH/USDT": ["5m", "15m", "1h", "4h"]}


def test_backtest_runs_and_their_metrics_side_by_side(seeded_home: Path) -> None:
    runs = loaders.backtest_runs(seeded_home)

    assert isinstance(runs, list)
    assert [r.name for r in runs] == ["backtests/BTC-USDT_5m", "backtests/ETH-USDT_5m"]
    table = loaders.metrics_table(runs, ["n_trades", "symbol"])
    stored = json.loads((seeded_home / "backtests/BTC-USDT_5m/metrics.json").read_text())
    assert table.loc["n_trades", "backtests/BTC-USDT_5m"] == stored["n_trades"]
    assert table.loc["symbol", "backtests/ETH-USDT_5m"] == "ETH/USDT"
    summary = loaders.backtest_summary(seeded_home)
    assert [r["symbol"] for r in summary] == ["BTC/USDT", "ETH/USDT"]  # type: ignore[index]


def test_trades_times_are_parsed_as_utc(seeded_home: Path) -> None:
    trades = loaders.load_trades(seeded_home / "backtests/BTC-USDT_5m")

    assert isinstance(trades, pd.DataFrame)
    for column in ("decided_at", "entry_bar", "exit_bar"):
        assert str(trades[column].dt.tz) == "UTC"
    equity = loaders.load_equity(seeded_home / "backtests/BTC-USDT_5m")
    assert isinstance(equity, pd.DataFrame)
    assert {"equity", "buy_and_hold", "drawdown"} <= set(equity.columns)


@pytest.mark.parametrize(
    ("loader", "expected"),
    [
        (loaders.backtest_runs, "no backtest on disk"),
        (loaders.backtest_summary, "no headline backtest yet"),
        (loaders.load_ledger, "no trading yet: no ledger at"),
        (loaders.load_models, "nothing yet: no MLflow store"),
        (loaders.drift_snapshots, "nothing yet: no drift snapshot"),
        (loaders.load_health, "no model-health flag yet"),
        (loaders.dagster_instance, "no Dagster instance"),
    ],
)
def test_an_empty_home_gives_missing_with_what_to_run(
    tmp_path: Path, loader, expected: str
) -> None:
    out = loader(tmp_path)

    assert isinstance(out, Missing)
    assert expected in out.message


def test_a_corrupt_summary_is_named(tmp_path: Path) -> None:
    (tmp_path / "backtests").mkdir()
    (tmp_path / "backtests" / "summary.json").write_text("[{")

    out = loaders.backtest_summary(tmp_path)

    assert isinstance(out, Missing)
    assert "summary.json is corrupt" in out.message


def test_a_corrupt_metrics_file_is_named_when_no_run_reads(tmp_path: Path) -> None:
    (tmp_path / "backtests" / "X_5m").mkdir(parents=True)
    (tmp_path / "backtests" / "X_5m" / "metrics.json").write_text("{")

    out = loaders.backtest_runs(tmp_path)

    assert isinstance(out, Missing)
    assert "X_5m: unreadable metrics.json" in out.message


def test_a_corrupt_health_flag_is_reported(tmp_path: Path) -> None:
    (tmp_path / "monitoring").mkdir()
    (tmp_path / "monitoring" / "model_health.json").write_text("nope")

    out = loaders.load_health(tmp_path)

    assert isinstance(out, Missing)
    assert "is not a model-health flag" in out.message


def test_parse_prometheus_reads_samples() -> None:
    text = (
        "# HELP x help\n# TYPE x counter\n"
        'requests_total{route="/api/signals",status="200"} 12\n'
        "model_age_seconds 3.5\n"
    )

    frame = loaders.parse_prometheus(text)

    assert frame.to_dict("records") == [
        {"name": "requests_total", "labels": 'route="/api/signals",status="200"', "value": 12.0},
        {"name": "model_age_seconds", "labels": "", "value": 3.5},
    ]


class _Signals(BaseHTTPRequestHandler):
    body = b"{}"
    status = 200
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(f"{self.path} {self.headers.get('Authorization')}")
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def service() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Signals)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_signals_come_from_the_service_with_the_api_key(service: str) -> None:
    _Signals.body = json.dumps(
        {"signals": [{"symbol": "BTC/USDT", "type": "ENTRY", "factors": {"htf": 0.5}}]}
    ).encode()
    _Signals.seen.clear()

    out = loaders.load_signals(DashboardSettings(service_url=service, service_api_key="k"), 5)

    assert isinstance(out, pd.DataFrame)
    assert out.to_dict("records") == [{"symbol": "BTC/USDT", "type": "ENTRY", "factors.htf": 0.5}]
    assert _Signals.seen == ["/api/signals?limit=5 Bearer k"]


def test_a_service_that_wants_a_key_says_which_setting(service: str) -> None:
    _Signals.status = 401
    try:
        out = loaders.load_signals(DashboardSettings(service_url=service))
    finally:
        _Signals.status = 200

    assert isinstance(out, Missing)
    assert out.message.endswith("HTTP 401 (set SMARTMARKET_DASHBOARD_SERVICE_API_KEY)")


def test_a_service_without_signals_says_so(service: str) -> None:
    _Signals.body = b'{"signals": []}'

    out = loaders.load_signals(DashboardSettings(service_url=service))

    assert isinstance(out, Missing)
    assert "has computed none" in out.message


def test_a_service_that_does_not_answer_says_how_to_start_it() -> None:
    out = loaders.load_signals(DashboardSettings(service_url="http://127.0.0.1:9"))

    assert isinstance(out, Missing)
    assert out.message.startswith("the signal service at http://127.0.0.1:9 does not answer")
    assert "smartmarket up" in out.message


def test_drift_snapshots_newest_first(seeded_home: Path) -> None:
    snaps = loaders.drift_snapshots(seeded_home)

    assert isinstance(snaps, list)
    assert [s.day for s in snaps] == ["2024-01-10", "2024-01-09"]
    assert set(snaps[0].summary["drifted"]) == {"a", "b", "c"}
    assert (snaps[0].folder / "report.html").stat().st_size > 10_000


def test_freshness_and_checks_from_the_dagster_instance(seeded_home: Path) -> None:
    instance = loaders.dagster_instance(seeded_home)
    assert not isinstance(instance, Missing)

    fresh = loaders.freshness(instance, pd.Timestamp.now(tz="UTC"))
    checks = loaders.check_results(instance)

    assert isinstance(fresh, pd.DataFrame)
    assert isinstance(checks, pd.DataFrame)
    assert sorted(fresh["asset"]) == ["candles_5m", "headline_backtest"]
    assert (fresh["age (hours)"] >= 0).all()
    by_check = {r["check"]: r["passed"] for r in checks.to_dict("records")}
    assert by_check == {"candle_suite": True, "feature_suite": False}
