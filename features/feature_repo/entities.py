"""Entities: the traded symbol (``BTC/USDT``) is the one key of every feature view.

The timeframe is not part of the key: each timeframe has its own view (``smc_5m``,
``smc_1h``, ...), so one online request for a symbol returns every timeframe at once, and a
point-in-time join reads each timeframe at its own candle closes (docs/features.md).
"""

from __future__ import annotations

from feast import Entity, ValueType

from features.layout import ENTITY


def symbol_entity() -> Entity:
    """Return the ``symbol`` entity."""
    return Entity(
        name=ENTITY,
        join_keys=[ENTITY],
        value_type=ValueType.STRING,
        description="Traded symbol, e.g. BTC/USDT (ccxt notation).",
    )
