"""Market-data sources: the synthetic market, CSV/Parquet files and ccxt exchanges.

Every source implements ``MarketDataSource`` (see ``base``) and returns raw frames; validation
happens downstream. ``make_source`` builds one by kind for configuration-driven wiring.
"""

from __future__ import annotations

from typing import Any

from features.candles.schema import CandleDataError
from features.candles.sources.base import MarketDataSource
from features.candles.sources.ccxt_source import CcxtSource, resume_start
from features.candles.sources.file import FileSource
from features.candles.sources.synthetic import (
    DEFAULT_SYMBOLS,
    SymbolSpec,
    SyntheticConfig,
    SyntheticSource,
    default_symbols,
)

SOURCE_KINDS: tuple[str, ...] = ("synthetic", "file", "ccxt")


def make_source(kind: str, **options: Any) -> MarketDataSource:
    """Build a source by kind: ``synthetic``, ``file`` or ``ccxt``.

    Options by kind:
        synthetic: ``now`` (clock) and any ``SyntheticConfig`` field (``seed``, ``symbols``...),
            or ``config`` (a ready ``SyntheticConfig``).
        file: the ``FileSource`` arguments (``path``, ``symbol``, ``tz``, ...).
        ccxt: ``exchange`` (a ccxt id such as ``"binance"``, or an exchange object),
            ``options`` (exchange options when built by id) and the ``CcxtSource`` arguments.

    Example:
        >>> src = make_source("synthetic", seed=7, symbols=("BTC/USDT", "ETH/USDT"))
    """
    if kind == "synthetic":
        now = options.pop("now", None)
        config = options.pop("config", None)
        if config is not None and options:
            raise CandleDataError(f"synthetic source: pass config or fields, not both: {options}")
        try:
            config = config if config is not None else SyntheticConfig(**options)
        except TypeError as exc:
            raise CandleDataError(f"synthetic source: {exc}") from exc
        return SyntheticSource(config, now=now)
    if kind == "file":
        try:
            return FileSource(**options)
        except TypeError as exc:
            raise CandleDataError(f"file source: {exc}") from exc
    if kind == "ccxt":
        exchange = options.pop("exchange", None)
        if exchange is None:
            raise CandleDataError("ccxt source needs exchange= (a ccxt id such as 'binance')")
        try:
            if isinstance(exchange, str):
                return CcxtSource.from_id(exchange, options.pop("options", None), **options)
            return CcxtSource(exchange, **options)
        except TypeError as exc:
            raise CandleDataError(f"ccxt source: {exc}") from exc
    raise CandleDataError(f"unknown source kind {kind!r}; known kinds: {', '.join(SOURCE_KINDS)}")


__all__ = [
    "DEFAULT_SYMBOLS",
    "SOURCE_KINDS",
    "CcxtSource",
    "FileSource",
    "MarketDataSource",
    "SymbolSpec",
    "SyntheticConfig",
    "SyntheticSource",
    "default_symbols",
    "make_source",
    "resume_start",
]
