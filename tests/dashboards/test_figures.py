"""Figure builders, tested on their values (AppTest sees a Plotly chart only as a blob)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboards import figures

T0 = pd.Timestamp("2024-01-01", tz="UTC")
NAT = pd.NaT


def bars(n: int, freq: str = "5min", start: pd.Timestamp = T0) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    close = 100 + np.arange(n, dtype=float) % 7
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0},
        index=index,
    )


def record(
    kind: str, direction: float, top: float, bottom: float, confirmed: str, **events: str
) -> dict:
    row = {"kind": kind, "direction": direction, "level": "", "top": top, "bottom": bottom,
           "formed_at": pd.Timestamp(confirmed, tz="UTC"),
           "confirmed_at": pd.Timestamp(confirmed, tz="UTC"), "count": np.nan}  # fmt: skip
    for field in ("touched_at", "mitigated_at", "filled_at", "swept_at", "invalidated_at",
                  "expired_at"):  # fmt: skip
        row[field] = pd.Timestamp(events[field], tz="UTC") if field in events else NAT
    row.update({k: v for k, v in events.items() if k == "count"})
    return row


def records(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for column in frame.columns:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_downsample_keeps_bars_that_fit() -> None:
    candles = bars(100)

    out, label = figures.downsample(candles, "5m", 100)

    assert label == "5m"
    assert out is candles


def test_downsample_aggregates_to_the_smallest_multiple_that_fits() -> None:
    candles = bars(2880)  # ten days of 5m

    out, label = figures.downsample(candles, "5m", 500)

    assert label == "30m"
    assert len(out) == 480
    first = candles.iloc[:6]
    assert out.iloc[0]["high"] == first["high"].max()
    assert out.iloc[0]["low"] == first["low"].min()
    assert out.iloc[0]["open"] == first["open"].iloc[0]
    assert out.iloc[0]["close"] == first["close"].iloc[-1]
    assert out["volume"].sum() == pytest.approx(candles["volume"].sum())


def test_volume_profile_conserves_volume_and_finds_the_heavy_price() -> None:
    candles = bars(50)
    candles.iloc[10, candles.columns.get_loc("volume")] = 1000.0
    heavy_mid = float(candles["close"].iloc[10])

    profile = figures.volume_profile(candles, bins=20)

    assert len(profile) == 20
    assert profile["volume"].sum() == pytest.approx(candles["volume"].sum())
    poc = float(profile["price"].iloc[int(profile["volume"].to_numpy().argmax())])
    assert abs(poc - heavy_mid) <= 1.0


def test_volume_profile_of_one_price_candles_keeps_their_volume() -> None:
    candles = bars(5)
    candles[["open", "high", "low", "close"]] = 50.0

    profile = figures.volume_profile(candles)

    assert profile["volume"].sum() == pytest.approx(5.0)


def test_zone_shapes_draw_live_zones_until_their_end() -> None:
    zones = records(
        record("order_block", 1, 101, 99, "2024-01-01 01:00", mitigated_at="2024-01-01 02:00"),
        record("fvg", -1, 105, 104, "2024-01-01 00:10"),  # alive to the window's end
        record("order_block", -1, 110, 108, "2023-12-31 10:00",
               invalidated_at="2023-12-31 12:00"),  # ended before the window
        record("breaker", 1, 90, 89, "2024-01-05 00:00"),  # confirmed after the window
        record("liquidity", 1, 120, 120, "2024-01-01 00:30"),  # a level, not a zone
    )  # fmt: skip
    t0, t1 = T0, pd.Timestamp("2024-01-01 04:00", tz="UTC")

    shapes = figures.zone_shapes(zones, t0, t1)

    assert [s["name"] for s in shapes] == ["order_block", "fvg"]
    block, gap = shapes
    assert block["x1"] == pd.Timestamp("2024-01-01 02:00", tz="UTC")
    assert (block["y0"], block["y1"]) == (99, 101)
    assert block["fillcolor"] == figures.ZONE_KINDS["order_block"][0]
    assert gap["x1"] == t1
    assert gap["fillcolor"] == figures.ZONE_KINDS["fvg"][1]


def test_level_shapes_end_at_the_sweep_and_equal_highs_are_thicker() -> None:
    zones = records(
        record("liquidity", 1, 120, 120, "2024-01-01 00:30", swept_at="2024-01-01 01:00",
               count=2),
        record("prev_day", -1, 95, 95, "2024-01-01 00:00"),
    )  # fmt: skip

    shapes = figures.level_shapes(zones, T0, pd.Timestamp("2024-01-01 04:00", tz="UTC"))

    pool, day = shapes
    assert pool["x1"] == pd.Timestamp("2024-01-01 01:00", tz="UTC")
    assert pool["line"]["width"] == 2
    assert day["line"]["dash"] == "dot"


def test_kill_zone_shapes_cover_each_run_of_bars() -> None:
    features = pd.DataFrame(
        {"sess_kz_london": [0, 1, 1, 0, 0, 1], "sess_kz_ny_am": [0, 0, 0, 0, 1, 0]},
        index=pd.date_range(T0, periods=6, freq="5min", tz="UTC"),
        dtype=float,
    )

    shapes = figures.kill_zone_shapes(features, "5m")

    assert [(s["x0"], s["x1"]) for s in shapes] == [
        (features.index[1], features.index[3]),
        (features.index[4], features.index[5] + pd.Timedelta(minutes=5)),
    ]


def test_premium_discount_uses_the_last_dealing_range() -> None:
    features = pd.DataFrame(
        {"pd_high": [np.nan, 110.0, 120.0], "pd_low": [np.nan, 90.0, 100.0],
         "pd_eq": [np.nan, 100.0, 110.0]},
        index=pd.date_range(T0, periods=3, freq="5min", tz="UTC"),
    )  # fmt: skip

    premium, discount, eq = figures.premium_discount_shapes(features, T0, T0)

    assert (premium["y0"], premium["y1"]) == (110.0, 120.0)
    assert (discount["y0"], discount["y1"]) == (100.0, 110.0)
    assert eq["y0"] == 110.0


@pytest.fixture(scope="module")
def smc_window() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from features.smc import SMCConfig, compute_smc, detect_zones
    from serving.backtest.main import synthetic_candles

    candles = synthetic_candles("BTC/USDT", "5m", "2024-01-01", days=3, seed=7)
    cfg = SMCConfig.for_timeframe("5m")
    return candles, detect_zones(candles, cfg), compute_smc(candles, cfg)


def test_candles_figure_draws_every_overlay_inside_the_window(smc_window) -> None:
    candles, zones, features = smc_window
    window = candles.iloc[-300:]

    fig = figures.candles_figure(window, timeframe="5m", zones=zones, features=features)

    names = [t.name for t in fig.data]
    assert names[:2] == ["candles", "volume"]
    assert len(fig.data[0].x) == 300
    kinds = {s.name for s in fig.layout.shapes}
    assert {"premium", "discount", "kill_zone"} <= kinds
    assert kinds & set(figures.ZONE_KINDS)
    assert kinds & set(figures.LEVEL_KINDS)
    assert {"BOS", "CHOCH"} & set(names)
    breaks = [t for t in fig.data if t.name in ("BOS", "CHOCH")]
    assert {int(s) for t in breaks for s in t.marker.size} <= {6, 12}  # internal, swing
    t0, t1 = window.index[0], window.index[-1]
    assert all(t0 <= pd.Timestamp(s.x0) <= t1 for s in fig.layout.shapes)


def test_candles_figure_without_overlays_has_no_shapes(smc_window) -> None:
    candles, zones, features = smc_window

    fig = figures.candles_figure(candles.iloc[-100:], timeframe="5m", zones=zones,
                                 features=features, overlays=())  # fmt: skip

    assert len(fig.layout.shapes) == 0
    assert [t.name for t in fig.data] == ["candles", "volume"]


def test_candles_figure_refuses_an_unknown_overlay() -> None:
    with pytest.raises(ValueError, match="unknown overlays \\['fibonacci'\\]"):
        figures.candles_figure(bars(10), timeframe="5m", overlays=("fibonacci",))


def test_candles_figure_marks_trades_in_the_window() -> None:
    candles = bars(20)
    trades = pd.DataFrame({
        "direction": ["long", "short"], "entry_bar": [candles.index[2], candles.index[30 % 20]],
        "exit_bar": [candles.index[5], candles.index[12]], "entry_price": [100.0, 101.0],
        "exit_price": [102.0, 99.0],
    })  # fmt: skip

    fig = figures.candles_figure(candles, timeframe="5m", trades=trades, overlays=())

    by_name = {t.name: t for t in fig.data}
    assert list(by_name["long entry"].y) == [100.0]
    assert list(by_name["short entry"].y) == [101.0]
    assert list(by_name["exit"].y) == [102.0, 99.0]


def test_mtf_figure_signs_the_bias_and_shows_the_score() -> None:
    reading = {
        "higher_timeframe_bias": "bullish",
        "confluence_score": 0.7,
        "timeframes": {"1h": {"bias": "bullish", "strength": 0.5},
                       "4h": {"bias": "bearish", "strength": 0.25}},
    }  # fmt: skip

    fig = figures.mtf_figure(reading)

    assert list(fig.data[0].y) == [0.5, -0.25]
    assert fig.data[1].value == 0.7


def test_drift_figure_lists_the_top_inputs_and_colours_the_drifted() -> None:
    scores = {f"x{k}": k / 10 for k in range(10)}

    fig = figures.drift_figure(scores, threshold=0.5, top=3)

    bar = fig.data[0]
    assert list(bar.y) == ["x7", "x8", "x9"]
    assert all(c.startswith("rgba(218") for c in bar.marker.color)


def test_equity_figure_has_strategy_benchmark_and_drawdown() -> None:
    index = pd.date_range(T0, periods=4, freq="h", tz="UTC")
    equity = pd.DataFrame({"equity": [1.0, 1.1, 1.0, 1.2], "buy_and_hold": [1, 1, 1, 1.0],
                           "drawdown": [0, 0, 0.09, 0]}, index=index)  # fmt: skip

    fig = figures.equity_figure(equity)

    assert [t.name for t in fig.data] == ["strategy", "buy and hold", "drawdown"]
    assert list(fig.data[2].y) == [0, 0, -0.09, 0]


def test_thin_keeps_at_most_max_points_and_the_last_row() -> None:
    frame = pd.DataFrame({"v": range(10_001)})

    out = figures.thin(frame, 1000)

    assert len(out) <= 1001
    assert out["v"].iloc[-1] == 10_000


def test_structure_marks_are_capped_to_the_most_recent() -> None:
    candles = bars(500)
    breaks = records(*[
        {**record("bos", 1, 100.0, 100.0, str(candles.index[k])), "level": "swing"}
        for k in range(400)
    ])  # fmt: skip

    fig = figures.candles_figure(candles, timeframe="5m", zones=breaks, overlays=("structure",))

    [marks] = [t for t in fig.data if t.name == "BOS"]
    assert len(marks.x) == figures.MAX_MARKS
    assert pd.Timestamp(marks.x[-1]) == candles.index[399]


def test_r_multiples_are_bars_of_closed_trades_coloured_by_sign() -> None:
    trades = pd.DataFrame({
        "symbol": ["a", "b", "c"], "entry_bar": [T0 + pd.Timedelta(hours=h) for h in (2, 1, 3)],
        "r_multiple": [-1.1, 2.0, np.nan],
    })  # fmt: skip

    fig = figures.r_multiples_figure(trades)

    [bar] = fig.data
    assert list(bar.y) == [2.0, -1.1]  # oldest first, the open trade left out
    assert list(bar.marker.color) == ["#2ca02c", "#d62728"]
    assert "(2)" in fig.layout.title.text


def test_calibration_draws_the_bins_against_the_diagonal_sized_by_count() -> None:
    table = pd.DataFrame({"mean_predicted": [0.2, 0.5, 0.8], "observed": [0.1, 0.5, 0.9],
                          "count": [100, 25, 1]})  # fmt: skip

    fig = figures.calibration_figure(table)

    diagonal, model = fig.data
    assert list(diagonal.x) == [0, 1]
    assert list(diagonal.y) == [0, 1]
    assert list(model.x) == [0.2, 0.5, 0.8]
    assert list(model.y) == [0.1, 0.5, 0.9]
    assert model.marker.size[0] == pytest.approx(30.0)  # the fullest bin is the largest
    assert model.marker.size[0] > model.marker.size[1] > model.marker.size[2]


def test_importance_shows_the_top_inputs_most_important_on_top() -> None:
    table = pd.DataFrame({"input": [f"x{i}" for i in range(40)],
                          "auc_drop": np.linspace(0.2, 0.0, 40)})  # fmt: skip

    fig = figures.importance_figure(table, top=10)

    [bar] = fig.data
    assert len(bar.y) == 10
    assert bar.y[-1] == "x0"  # plotly draws the last bar at the top
    assert "top 10 of 40" in fig.layout.title.text


def test_folds_are_grouped_bars_per_variant() -> None:
    folds = pd.DataFrame({"fold": [0, 1], "auc": [0.5, 0.6], "rules_return": [0.01, -0.02],
                          "model_filtered_return": [0.03, 0.0]})  # fmt: skip

    fig = figures.folds_figure(folds)

    assert [t.name for t in fig.data] == ["rules", "model_filtered"]
    assert list(fig.data[1].y) == [0.03, 0.0]
    assert list(fig.data[0].x) == ["0", "1"]


def test_prediction_drift_figure_overlays_both_p_histograms_and_the_threshold() -> None:
    from dashboards.drift import prediction_drift

    rng = np.random.default_rng(0)
    pred = prediction_drift(rng.beta(2, 5, 500), rng.beta(5, 2, 100), 0.55, version="7")

    fig = figures.prediction_drift_figure(pred.__dict__)

    assert [t.name for t in fig.data] == ["reference (training window)", "current (the day)"]
    assert list(fig.data[1].y) == list(pred.current_hist)
    assert fig.layout.shapes[0].x0 == 0.55
    assert "model 7" in fig.layout.title.text
