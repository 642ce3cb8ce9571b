"""``BacktestResult``: what a run produced, as arrays and as readable frames."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from serving.engine import records
from serving.engine.simulate import EngineLogs


@dataclass(frozen=True)
class BacktestResult:
    """One run: the engine's logs, its final account, and the bars it ran over."""

    symbol: str
    timeframe: Timeframe
    index: pd.DatetimeIndex
    initial_cash: float
    logs: EngineLogs
    acct: np.ndarray

    @cached_property
    def close_times(self) -> pd.DatetimeIndex:
        """Each bar's close time (when its equity is known)."""
        return self.index + self.timeframe.delta

    @cached_property
    def equity(self) -> pd.Series:
        """Equity marked at each bar's close."""
        return pd.Series(self.logs.equity, index=self.close_times, name="equity")

    @cached_property
    def position(self) -> pd.Series:
        """Net position (base units) held at each bar's close."""
        return pd.Series(self.logs.position, index=self.close_times, name="position")

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every order request."""
        return records.orders_frame(self.logs.orders)

    @cached_property
    def fills(self) -> pd.DataFrame:
        """Every fill."""
        return records.fills_frame(self.logs.fills)

    @cached_property
    def trades(self) -> pd.DataFrame:
        """Every closed trade."""
        return records.trades_frame(self.logs.trades)

    @cached_property
    def events(self) -> pd.DataFrame:
        """Every protection that fired, with the reason."""
        return records.events_frame(self.logs.events)

    @property
    def blocked(self) -> dict[str, int]:
        """Entry intents refused, by reason."""
        return records.blocked_counts(self.acct)

    @property
    def hard_stop(self) -> dict[str, object]:
        """When the account hard stop fired (None: never), its drawdown, the bars halted."""
        return records.hard_stop(self.acct)

    @property
    def fees_paid(self) -> float:
        """Fees paid over the run."""
        return records.account_totals(self.acct)["fees_paid"]

    @property
    def funding_paid(self) -> float:
        """Funding paid over the run (negative: received)."""
        return records.account_totals(self.acct)["funding_paid"]

    @property
    def turnover(self) -> float:
        """Traded notional over the run."""
        return records.account_totals(self.acct)["turnover"]
