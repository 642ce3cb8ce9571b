"""The product's two analysis calls as the API answers them (pure: candles in, JSON-ready out).

``analyze_smc`` is ``features.mtf.analyze_smc`` (no trading decision in it);
``analyze_multi_timeframe`` is the top-down reading of ``features.mtf.read_multi_timeframe``
plus ``entry_signals``: the signal record (``serving.signals``) of the primary timeframe's last
closed candle when the one signal rule enters there and the risk manager accepts the plan, the
very rule, features and sizing code the backtest runs. See ``docs/mtf.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from features.candles.schema import CandleDataError, Timeframe
from features.mtf.analysis import AnalysisConfig, analyze_smc, read_multi_timeframe
from serving.engine.config import BacktestConfig
from serving.engine.features import FeatureSpec, batch_features
from serving.signals import ENTRY, Signal, SMCConfluence, make_signal

__all__ = ["analyze_multi_timeframe", "analyze_smc", "last_signal"]


def last_signal(
    candles: pd.DataFrame,
    timeframe: str | Timeframe,
    symbol: str,
    config: BacktestConfig,
    position: int = 0,
) -> Signal:
    """Return the signal record of the last closed candle of a canonical candle frame.

    The feature row is the backtest's (``batch_features`` over the whole frame), so the
    answer is the decision the backtest makes at that bar.

    Raises:
        CandleDataError: Invalid candles, or a strategy HTF that does not fit ``timeframe``.
    """
    strategy = SMCConfluence(config.strategy)
    spec = FeatureSpec.build(timeframe, strategy.inputs())
    matrix = batch_features(candles, spec).matrix
    return make_signal(
        matrix[-1],
        pd.Timestamp(candles.index[-1]),
        symbol=symbol,
        timeframe=spec.timeframe,
        config=config,
        position=position,
        strategy=strategy,
    )


def analyze_multi_timeframe(
    candles_by_tf: Mapping[str, pd.DataFrame],
    symbol: str,
    primary_timeframe: str,
    analysis_timeframes: Sequence[str] | None = None,
    *,
    config: AnalysisConfig | None = None,
    signal_config: BacktestConfig | None = None,
) -> dict[str, Any]:
    """Return the top-down reading of the primary timeframe with its entry signals, JSON-ready.

    The keyword names are the product plan's request fields, so its body can be passed as
    ``analyze_multi_timeframe(candles_by_tf, **body)``. The answer is
    :func:`features.mtf.read_multi_timeframe`'s with ``entry_signals``: a list holding the
    ``ENTRY`` signal record of the last primary candle (``Signal.to_dict``), or empty. When
    the rule cannot run on the primary timeframe (its higher timeframe does not fit) the list
    is empty and ``warnings`` says why.

    Args:
        candles_by_tf: Canonical candle frames per timeframe label.
        symbol: Market symbol, ``BTC/USDT`` or ``BTCUSDT``.
        primary_timeframe: The trading timeframe (a key of ``candles_by_tf``).
        analysis_timeframes: Higher timeframes to read (all above the primary when ``None``).
        config: Zone limits, staleness bound and multi-timeframe parameters.
        signal_config: Strategy, risk and execution settings of the signal (defaults).

    Raises:
        ValueError: As :func:`features.mtf.read_multi_timeframe`.
    """
    reading = read_multi_timeframe(
        candles_by_tf, symbol, primary_timeframe, analysis_timeframes, config=config
    )
    key = reading["primary_timeframe"]
    warnings = list(reading["warnings"])
    entries: list[dict[str, Any]] = []
    try:
        signal = last_signal(
            candles_by_tf[key], key, reading["symbol"], signal_config or BacktestConfig()
        )
    except CandleDataError as exc:
        warnings.append(f"entry signals: the smc_confluence rule cannot run on {key}: {exc}")
    else:
        if signal.type == ENTRY:
            entries.append(signal.to_dict())
    answer = {k: v for k, v in reading.items() if k not in ("confluence_score", "warnings")}
    answer["entry_signals"] = entries
    answer["confluence_score"] = reading["confluence_score"]
    answer["warnings"] = warnings
    return answer
