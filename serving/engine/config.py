"""``BacktestConfig``: every engine setting in one frozen config, buildable from a mapping.

``BacktestConfig.from_mapping({...})`` (the parsed YAML/JSON config file) builds the nested
frozen configs; an unknown field anywhere is an error naming its dotted path and the known
fields, and each config validates its own values. ``params(timeframe)`` packs the numbers the
state machine reads.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.candles.schema import Timeframe
from serving.engine import params as P
from serving.engine.execution import ExecutionConfig
from serving.engine.protections import ProtectionsConfig
from serving.engine.risk import RiskConfig
from serving.engine.validation import ConfigError, choice, duration_ns, in_range, integer
from serving.signals import SMCConfluenceConfig

OBJECTIVES = ("sharpe", "total_return", "expectancy_r")


@dataclass(frozen=True)
class EvaluationConfig:
    """Baselines and the walk-forward search.

    Attributes:
        random_seeds: Random-entry runs under the same risk management (0: none).
        walk_forward: Run the walk-forward parameter search.
        train: Length of each training window.
        test: Length of each out-of-sample window that follows it (windows roll by ``test``).
        objective: What a training window maximizes: ``sharpe``, ``total_return`` or
            ``expectancy_r``.
        min_trades: Fewest trades a parameter set needs in a training window to be chosen.
        grid: Parameter values to search, by dotted path (``strategy.min_score``,
            ``risk.min_reward_risk``, ...); every combination is one trial.
    """

    random_seeds: int = 100
    walk_forward: bool = False
    train: str = "180d"
    test: str = "60d"
    objective: str = "sharpe"
    min_trades: int = 5
    grid: Mapping[str, tuple[Any, ...]] = field(
        default_factory=lambda: {
            "strategy.min_score": (3.0, 4.0, 5.0),
            "strategy.poi_atr": (0.25, 0.5, 1.0),
            "risk.min_reward_risk": (2.0, 3.0),
        }
    )

    def __post_init__(self) -> None:
        o = "EvaluationConfig"
        integer(o, "random_seeds", self.random_seeds, 0, 100_000)
        if not isinstance(self.walk_forward, bool):
            raise ConfigError(f"{o}.walk_forward must be true or false, got {self.walk_forward!r}")
        duration_ns(o, "train", self.train, allow_none=False)
        duration_ns(o, "test", self.test, allow_none=False)
        choice(o, "objective", self.objective, OBJECTIVES)
        integer(o, "min_trades", self.min_trades, 0, 1_000_000)
        if not isinstance(self.grid, Mapping):
            raise ConfigError(f"{o}.grid must map dotted field paths to lists of values")
        grid: dict[str, tuple[Any, ...]] = {}
        for key, values in self.grid.items():
            if not isinstance(values, list | tuple) or not values:
                raise ConfigError(f"{o}.grid[{key!r}] must be a non-empty list of values")
            grid[str(key)] = tuple(values)
        object.__setattr__(self, "grid", grid)


@dataclass(frozen=True)
class BacktestConfig:
    """The strategy, risk, protections, execution and evaluation settings of a backtest."""

    initial_cash: float = 10_000.0
    strategy: SMCConfluenceConfig = field(default_factory=SMCConfluenceConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    protections: ProtectionsConfig = field(default_factory=ProtectionsConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        in_range("BacktestConfig", "initial_cash", self.initial_cash, 0.0, 1e15, lo_open=True)
        for name, kind in typing.get_type_hints(BacktestConfig).items():
            is_part = isinstance(kind, type) and dataclasses.is_dataclass(kind)
            if is_part and not isinstance(getattr(self, name), kind):
                raise ConfigError(f"BacktestConfig.{name} must be a {kind.__name__}")
        if self.execution.market == "spot" and self.strategy.directions != "long":
            raise ConfigError(
                "strategy.directions must be 'long' on a spot market (execution.market='spot' "
                "cannot be shorted)"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> BacktestConfig:
        """Build the config from a (parsed YAML/JSON) mapping; unknown fields are errors."""
        return typing.cast(BacktestConfig, _build(cls, data or {}, "config"))

    def params(self, timeframe: str | Timeframe) -> np.ndarray:
        """Return the engine parameter vector for candles of ``timeframe``."""
        vector = np.zeros(P.NP)
        self.risk.fill(vector)
        self.protections.fill(vector)
        self.execution.fill(vector)
        vector[P.P_INITIAL_CASH] = self.initial_cash
        vector[P.P_TF_NS] = Timeframe.parse(timeframe).ns
        return vector

    def replace(self, path: str, value: Any) -> BacktestConfig:
        """Return a copy with the dotted field ``path`` (e.g. ``risk.min_reward_risk``) set."""
        head, _, rest = path.partition(".")
        known = {f.name for f in dataclasses.fields(self)}
        if head not in known:
            raise ConfigError(f"unknown config field {path!r}; known sections: {sorted(known)}")
        if not rest:
            return dataclasses.replace(self, **{head: value})
        part = getattr(self, head)
        return dataclasses.replace(self, **{head: _replace_in(part, rest, value, head)})

    def grid(self) -> Iterator[tuple[dict[str, Any], BacktestConfig]]:
        """Yield every combination of ``evaluation.grid`` as ``(values, config)``."""
        keys = list(self.evaluation.grid)
        for combo in itertools.product(*(self.evaluation.grid[k] for k in keys)):
            values = dict(zip(keys, combo, strict=True))
            config = self
            for key, value in values.items():
                config = config.replace(key, value)
            yield values, config


def _replace_in(obj: Any, path: str, value: Any, where: str) -> Any:
    head, _, rest = path.partition(".")
    known = {f.name for f in dataclasses.fields(obj)}
    if head not in known:
        raise ConfigError(
            f"unknown config field '{where}.{head}'; known fields of {where}: {sorted(known)}"
        )
    if rest:
        value = _replace_in(getattr(obj, head), rest, value, f"{where}.{head}")
    return dataclasses.replace(obj, **{head: value})


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ConfigError(
            f"unknown config field '{where}.{unknown[0]}'; known fields of {where}: {sorted(known)}"
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            values[name] = _build(kind, value, f"{where}.{name}")
        elif isinstance(value, list) and name != "grid":
            values[name] = tuple(value)
        else:
            values[name] = value
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
