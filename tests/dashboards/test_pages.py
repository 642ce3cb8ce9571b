"""Every page through ``streamlit.testing.v1.AppTest``: seeded, interacted with, and empty."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.figures import OVERLAYS

APP = Path(__file__).resolve().parents[2] / "dashboards"
PAGES = [
    "app.py",
    "pages/1_Market.py",
    "pages/2_Backtests.py",
    "pages/3_Signals.py",
    "pages/4_Trading.py",
    "pages/5_Models.py",
    "pages/6_Monitoring.py",
]
TIMEOUT = 300


def run(page: str) -> AppTest:
    return AppTest.from_file(str(APP / page), default_timeout=TIMEOUT).run()


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "warning", "error", "markdown", "caption")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_on_the_seeded_home_without_exception(home: Path, page: str) -> None:
    at = run(page)

    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value


def test_market_draws_candles_profile_and_mtf_panel(home: Path) -> None:
    at = run("pages/1_Market.py")

    assert not at.exception
    assert charts(at) == 3  # candles, volume profile, MTF bias
    assert at.selectbox(key="symbol").value == "BTC/USDT"
    assert at.selectbox(key="timeframe").options == ["5m", "15m", "1h", "4h"]
    assert "full detail" in texts(at)
    assert at.metric[0].label == "Confluence score"


def test_market_follows_symbol_timeframe_and_dates(home: Path) -> None:
    at = run("pages/1_Market.py")

    at.selectbox(key="symbol").select("ETH/USDT").run()
    at.selectbox(key="timeframe").select("1h").run()
    at.date_input(key="range").set_value((dt.date(2024, 1, 3), dt.date(2024, 1, 4))).run()

    assert not at.exception
    assert at.selectbox(key="symbol").value == "ETH/USDT"
    assert "48 1h bars, full detail." in texts(at)  # two days of 1h bars
    assert charts(at) == 3


def test_market_resamples_a_long_range(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMARKET_DASHBOARD_MAX_BARS", "500")
    at = run("pages/1_Market.py")

    at.date_input(key="range").set_value((dt.date(2024, 1, 1), dt.date(2024, 1, 10))).run()

    assert not at.exception
    assert "2,880 5m bars resampled to 30m (480 bars)" in texts(at)
    assert at.multiselect(key="overlays").value == list(OVERLAYS)


def test_market_with_the_highest_timeframe_explains_the_mtf_panel(home: Path) -> None:
    at = run("pages/1_Market.py")

    at.selectbox(key="timeframe").select("4h").run()

    assert not at.exception
    assert "no timeframe above 4h stored" in texts(at)


def test_backtests_compare_runs_and_show_one(home: Path) -> None:
    at = run("pages/2_Backtests.py")

    assert not at.exception
    assert at.multiselect(key="runs").value == ["backtests/BTC-USDT_5m", "backtests/ETH-USDT_5m"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["backtests/BTC-USDT_5m", "backtests/ETH-USDT_5m"]
    assert "total_return" in table.index
    assert charts(at) >= 2  # comparison and equity (+ trades on candles when there are trades)

    at.selectbox(key="run").select("backtests/ETH-USDT_5m").run()
    assert not at.exception


def test_backtests_with_no_run_selected_asks_for_one(home: Path) -> None:
    at = run("pages/2_Backtests.py")

    at.multiselect(key="runs").set_value([]).run()

    assert not at.exception
    assert "Pick at least one run." in texts(at)


def test_monitoring_shows_the_drift_of_the_chosen_day(home: Path) -> None:
    at = run("pages/6_Monitoring.py")

    assert not at.exception
    assert at.selectbox(key="drift_day").value == "2024-01-10"  # newest first
    shares = {m.label: m.value for m in at.metric}
    assert shares["Share drifted"] == "50%"  # three of six inputs shifted
    assert shares["Asset checks failing"] == "1 / 2"

    at.selectbox(key="drift_day").select("2024-01-09").run()
    assert {m.label: m.value for m in at.metric}["Share drifted"] == "0%"


def test_monitoring_shows_the_champions_prediction_drift_and_quality(home: Path) -> None:
    at = run("pages/6_Monitoring.py")

    metrics = {m.label: m.value for m in at.metric}
    [quality] = [d.value.set_index("measure") for d in at.dataframe if "measure" in d.value]

    assert not at.exception
    assert float(metrics["P drift (normed Wasserstein)"]) > 2.0  # beta(2,5) -> beta(5,2)
    assert metrics["Mean P reference / current"].startswith("0.2")
    assert quality.loc["AUC", "out of sample"] == 0.61
    assert quality.loc["AUC", "current window"] > 0.7


def test_monitoring_says_when_there_is_no_champion_or_label(home: Path) -> None:
    at = run("pages/6_Monitoring.py")
    with_champion = charts(at)

    at.selectbox(key="drift_day").select("2024-01-09").run()

    assert not at.exception
    assert charts(at) == with_champion - 1  # no P histogram
    assert "no champion model in the registry" in texts(at)
    assert "no labels yet" in texts(at)


def test_monitoring_sends_the_evidently_report_only_when_asked(
    home: Path, seeded_home: Path
) -> None:
    at = run("pages/6_Monitoring.py")
    assert not at.get("iframe")

    at.toggle(key="show_report").set_value(True).run()

    assert not at.exception
    [frame] = at.get("iframe")
    report = seeded_home / "monitoring" / "drift" / "2024-01-10" / "report.html"
    assert frame.proto.srcdoc == report.read_text()


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("app.py", "nothing yet"),
        ("pages/1_Market.py", "no candles stored; nothing yet: run `smartmarket run`"),
        ("pages/2_Backtests.py", "no backtest on disk; nothing yet: run `smartmarket run`"),
        ("pages/3_Signals.py", "start it with `smartmarket up`"),
        ("pages/4_Trading.py", "no trading yet: no ledger at"),
        ("pages/5_Models.py", "nothing yet: no MLflow store"),
        ("pages/6_Monitoring.py", "nothing yet: no drift snapshot"),
    ],
)
def test_page_on_an_empty_home_says_what_to_run(empty_home: Path, page: str, expected: str) -> None:
    at = run(page)

    assert not at.exception
    assert expected in texts(at)


def test_a_corrupt_summary_is_reported_and_other_runs_still_show(
    tmp_path: Path, seeded_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(seeded_home / "backtests", home / "backtests")
    (home / "backtests" / "ETH-USDT_5m" / "metrics.json").write_text("{not json")
    monkeypatch.setenv("SMARTMARKET_HOME", str(home))

    at = run("pages/2_Backtests.py")

    assert not at.exception
    assert at.multiselect(key="runs").options == ["backtests/BTC-USDT_5m"]


def test_bad_settings_are_one_line_on_the_page(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTMARKET_SYMBOLS", "BTCUSDT")

    at = run("pages/1_Market.py")

    assert not at.exception
    assert at.error[0].value.startswith("the settings do not load: SMARTMARKET_SYMBOLS")
