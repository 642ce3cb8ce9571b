"""The broker interface: where the engine's typed requests go and where fills come from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from serving.orders import BrokerAnswer, BrokerEvent, OrderRequest


class Broker(Protocol):
    """Where orders go: the paper broker, or an exchange."""

    def submit(self, requests: Sequence[OrderRequest]) -> list[BrokerAnswer]:
        """Send the engine's requests (they apply from now on); return the exchange's answers.

        An answer is an ``Ack`` or a definite ``Rejection`` per request that got one; a request
        without an answer yet (a timeout, say) is the broker's to resolve, not a rejection.
        """
        ...

    def poll(self, bar: Mapping[str, Any], sub_bars: np.ndarray | None = None) -> list[BrokerEvent]:
        """Return what happened during ``bar`` (a closed candle), in order.

        That is fills, whole or partial, and rejections that arrived after the submit.
        ``sub_bars`` (rows of open, high, low of a lower timeframe inside the bar) let a
        simulated broker replay the bar; a live broker ignores them.
        """
        ...
