"""SignalCore with fakes: the signal equals the backtest's, computed once, fresh or refused."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.candles.schema import Timeframe
from serving.analysis import last_signal
from serving.service.core import history_start
from serving.service.errors import InvalidInput, StaleData, Unavailable
from tests.serving.conftest import ACTIVE
from tests.serving.service.conftest import (
    PLAN_MTF_BODY,
    PLAN_SMC_BODY,
    SYMBOL,
    FakeModel,
    FakeProvider,
    close_of,
    cut,
    make_runtime,
)


def test_the_signal_is_the_backtests_decision_on_the_same_candles(
    full_market: dict[str, pd.DataFrame], entry_bar: int, tmp_path: Path
) -> None:
    # Arrange: the store ends on a candle where the rule enters
    until = full_market["15m"].index[entry_bar] + Timeframe.parse("15m").delta
    frames = cut(full_market, until)
    runtime, _, _ = make_runtime(frames, tmp_path)

    # Act
    answer = runtime.core.signal("BTCUSDT", "15m")

    # Assert
    expected = last_signal(frames["15m"], "15m", SYMBOL, ACTIVE).to_dict()
    assert answer == {**expected, "model_status": "rule_only", "model_size": None}
    assert answer["type"] == "ENTRY"
    assert answer["model_version"] is None
    assert answer["confidence_score"] is None
    assert answer["entry_price"] is not None
    assert len(answer["take_profit"]) >= 1


def test_the_warm_state_advances_one_candle_and_stays_equal_to_the_batch(
    full_market: dict[str, pd.DataFrame], entry_bar: int, tmp_path: Path
) -> None:
    # Arrange
    delta = Timeframe.parse("15m").delta
    until = full_market["15m"].index[entry_bar] + delta
    runtime, store, clock = make_runtime(cut(full_market, until - delta), tmp_path)
    clock.now = until.timestamp() - delta.total_seconds() + 5
    first = runtime.core.signal(SYMBOL, "15m")

    # Act: the next candle lands and its close passes
    store.frames[(SYMBOL, "15m")] = full_market["15m"][full_market["15m"].index < until]
    clock.now = until.timestamp() + 5
    second = runtime.core.signal(SYMBOL, "15m")

    # Assert
    expected = last_signal(store.frames[(SYMBOL, "15m")], "15m", SYMBOL, ACTIVE).to_dict()
    assert second == {**expected, "model_status": "rule_only", "model_size": None}
    assert second["generated_at"] != first["generated_at"]
    assert runtime.core.metrics.computed._value.get() == 2


def test_a_signal_is_computed_once_however_many_clients_ask(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    # Arrange
    runtime, store, _ = make_runtime(full_market, tmp_path)
    answers: list[dict[str, object]] = []

    def ask() -> None:
        answers.append(runtime.core.signal("BTC/USDT", "15m"))

    threads = [threading.Thread(target=ask) for _ in range(16)]

    # Act
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reads = store.reads
    again = runtime.core.signal("btcusdt", "15m")

    # Assert
    assert runtime.core.metrics.computed._value.get() == 1
    assert len(answers) == 16
    assert all(a is answers[0] for a in answers)
    assert again is answers[0]
    assert store.reads == reads  # a cached answer reads nothing


def test_stale_candles_give_a_503_never_an_old_signal(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    # Arrange: a signal is cached, then the next candle is late beyond one bar plus grace
    runtime, _, clock = make_runtime(full_market, tmp_path)
    runtime.core.signal(SYMBOL, "15m")
    clock.now = close_of(full_market["15m"], "15m") + 15 * 60 + 61

    # Act / Assert
    with pytest.raises(StaleData, match=r"BTC/USDT 15m: the newest closed candle closed at") as e:
        runtime.core.signal(SYMBOL, "15m")
    assert e.value.status == 503


def test_a_late_candle_within_the_grace_still_answers(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    # Arrange
    runtime, _, clock = make_runtime(full_market, tmp_path)
    first = runtime.core.signal(SYMBOL, "15m")
    clock.now = close_of(full_market["15m"], "15m") + 15 * 60 + 30

    # Act
    second = runtime.core.signal(SYMBOL, "15m")

    # Assert
    assert second is first


def test_the_candle_store_down_is_a_503_and_the_service_recovers(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    # Arrange
    runtime, store, _ = make_runtime(full_market, tmp_path)
    store.down = True

    # Act / Assert
    with pytest.raises(Unavailable, match="candle store unavailable: ConnectionRefusedError") as e:
        runtime.core.signal(SYMBOL, "15m")
    assert "10.0.0.9" not in e.value.message  # no addresses or credentials in answers
    store.down = False
    assert runtime.core.signal(SYMBOL, "15m")["symbol"] == SYMBOL


@pytest.mark.parametrize(
    ("symbol", "timeframe", "field", "words"),
    [
        ("DOGEUSDT", "15m", "symbol", "unknown symbol 'DOGEUSDT'"),
        ("BTC", "15m", "symbol", "BASE/QUOTE"),
        ("BTCUSDT", "7x", "timeframe", "unknown timeframe '7x'"),
        ("BTCUSDT", "4h", "timeframe", "signals run on ['5m', '15m']"),
    ],
)
def test_unknown_symbols_and_timeframes_name_the_field(
    full_market: dict[str, pd.DataFrame],
    tmp_path: Path,
    symbol: str,
    timeframe: str,
    field: str,
    words: str,
) -> None:
    runtime, _, _ = make_runtime(full_market, tmp_path)

    with pytest.raises(InvalidInput) as e:
        runtime.core.signal(symbol, timeframe)

    assert e.value.field == field
    assert words in e.value.message


def test_a_loaded_model_scores_entries_with_its_version(
    full_market: dict[str, pd.DataFrame], entry_bar: int, tmp_path: Path
) -> None:
    # Arrange
    until = full_market["15m"].index[entry_bar] + Timeframe.parse("15m").delta
    model = FakeModel()
    runtime, _, _ = make_runtime(cut(full_market, until), tmp_path, model=FakeProvider(model))

    # Act
    answer = runtime.core.signal(SYMBOL, "15m")

    # Assert
    assert answer["type"] == "ENTRY"
    assert answer["confidence_score"] == 80
    assert answer["model_version"] == "smc-tcn@7"
    assert answer["model_status"] == "scored"
    assert answer["model_size"] == 1.5
    assert model.calls == 1


def test_a_failing_model_leaves_the_signal_rule_only(
    full_market: dict[str, pd.DataFrame], entry_bar: int, tmp_path: Path
) -> None:
    # Arrange: a model whose scorer raises on every bar
    until = full_market["15m"].index[entry_bar] + Timeframe.parse("15m").delta
    model = _BrokenModel()
    runtime, _, _ = make_runtime(cut(full_market, until), tmp_path, model=FakeProvider(model))

    # Act
    answer = runtime.core.signal(SYMBOL, "15m")

    # Assert
    assert answer["type"] == "ENTRY"
    assert answer["model_status"] == "rule_only"
    assert answer["confidence_score"] is None


class _BrokenModel(FakeModel):
    def scorer(self, timeframes: Sequence[str]) -> _Broken:  # type: ignore[override]
        return _Broken()


class _Broken:
    def update(self, ts_ns: int, ohlcv: np.ndarray) -> float:
        raise RuntimeError("model crashed")

    def warm(self, ts_ns: np.ndarray, ohlcv: np.ndarray) -> float:
        raise RuntimeError("model crashed")

    def size(self, p: float) -> float:
        raise RuntimeError("model crashed")


def test_an_entry_below_the_models_threshold_is_declined_by_the_model(
    full_market: dict[str, pd.DataFrame], entry_bar: int, tmp_path: Path
) -> None:
    # Arrange
    until = full_market["15m"].index[entry_bar] + Timeframe.parse("15m").delta
    model = FakeModel(p=0.3, threshold=0.5)
    runtime, _, _ = make_runtime(cut(full_market, until), tmp_path, model=FakeProvider(model))

    # Act
    answer = runtime.core.signal(SYMBOL, "15m")

    # Assert
    assert answer["type"] == "NONE"
    assert answer["reason"].endswith("entry refused by the risk manager: declined by the model")
    assert answer["confidence_score"] == 30
    assert answer["model_status"] == "scored"
    assert answer["model_size"] == 0.0
    assert answer["entry_price"] is None


def test_recent_signals_are_filtered_newest_first(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    runtime, _, _ = make_runtime(full_market, tmp_path)
    runtime.core.signal(SYMBOL, "15m")

    assert [s["timeframe"] for s in runtime.core.recent(timeframe="15m")] == ["15m"]
    assert runtime.core.recent(symbol="BTCUSDT", timeframe="5m") == []
    with pytest.raises(InvalidInput) as e:
        runtime.core.recent(type="MAYBE")
    assert e.value.field == "type"


def test_the_plans_analysis_bodies_work_verbatim(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    runtime, _, _ = make_runtime(full_market, tmp_path)

    smc = runtime.core.analyze_smc(PLAN_SMC_BODY)
    mtf = runtime.core.analyze_multi_timeframe(PLAN_MTF_BODY)

    assert smc["symbol"] == "BTC/USDT"
    assert smc["analysis_types"] == ["order_blocks", "fair_value_gaps", "liquidity_levels"]
    assert {"order_blocks", "fair_value_gaps", "liquidity_levels"} <= set(smc)
    assert set(smc["timeframes"]) == {"1d", "4h", "1h", "15m"}
    assert mtf["primary_timeframe"] == "15m"
    assert mtf["analysis_timeframes"] == ["1h", "4h", "1d"]
    assert {"higher_timeframe_bias", "discount_zones", "premium_zones", "entry_signals"} <= set(mtf)


@pytest.mark.parametrize(
    ("call", "body", "field"),
    [
        ("smc", {"symbol": "BTCUSDT", "analysis_type": []}, "analysis_type"),
        ("smc", {"symbol": "BTCUSDT", "analysis_type": ["fvg", "elliott"]}, "analysis_type[1]"),
        ("smc", {"symbol": "BTCUSDT", "timeframes": ["15m", "2h"]}, "timeframes[1]"),
        ("smc", {"symbol": "BTCUSDT", "timeframes": []}, "timeframes"),
        ("mtf", {"symbol": "BTCUSDT", "primary_timeframe": "1h", "analysis_timeframes": ["15m"]},
         "analysis_timeframes[0]"),
        ("mtf", {"symbol": "BTCUSDT", "primary_timeframe": "1d"}, "primary_timeframe"),
        ("mtf", {"symbol": "XRP/EUR", "primary_timeframe": "15m"}, "symbol"),
    ],
)  # fmt: skip
def test_empty_unknown_or_contradictory_analysis_requests_name_the_field(
    full_market: dict[str, pd.DataFrame],
    tmp_path: Path,
    call: str,
    body: dict[str, object],
    field: str,
) -> None:
    runtime, _, _ = make_runtime(full_market, tmp_path)
    method = runtime.core.analyze_smc if call == "smc" else runtime.core.analyze_multi_timeframe

    with pytest.raises(InvalidInput) as e:
        method(body)

    assert e.value.field == field
    assert e.value.status == 422


def test_readiness_reports_fresh_markets_and_the_model_state(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    runtime, _, clock = make_runtime(full_market, tmp_path)

    ready = runtime.core.readiness()
    clock.now += 3600
    stale = runtime.core.readiness()

    assert ready["ready"] is True
    assert set(ready["markets"]) == {"BTC/USDT 5m", "BTC/USDT 15m"}
    assert ready["model"] == {
        "status": "none", "version": None,
        "reason": "no champion model registered: signals are rule-only",
    }  # fmt: skip
    assert stale["ready"] is False
    assert stale["markets"]["BTC/USDT 15m"]["fresh"] is False


def test_the_warm_state_starts_on_a_shared_candle_of_at_least_history_bars() -> None:
    tf = Timeframe.parse("15m")
    bars = 100
    step = tf.seconds * 1_000_000_000
    first = int(pd.Timestamp("2026-01-01 10:00", tz="UTC").value)

    starts = {history_start(first + k * step, tf, bars) for k in range(5)}

    assert len(starts) == 1
    (start,) = starts
    assert start % (bars * step) == 0
    assert bars <= (first - start) // step + 1 <= 2 * bars


def test_a_rewound_store_restarts_the_warm_state(
    full_market: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    # Arrange: a signal on the full store, then the store loses its last two candles
    runtime, store, clock = make_runtime(full_market, tmp_path)
    runtime.core.signal(SYMBOL, "15m")
    shorter = full_market["15m"].iloc[:-2]
    store.frames[(SYMBOL, "15m")] = shorter
    clock.now = close_of(shorter, "15m") + 10.0
    runtime.core.markets[(SYMBOL, "15m")].entry = None  # as after the cache lapsed

    # Act
    answer = runtime.core.signal(SYMBOL, "15m")

    # Assert
    expected = last_signal(shorter, "15m", SYMBOL, ACTIVE).to_dict()
    assert answer == {**expected, "model_status": "rule_only", "model_size": None}
