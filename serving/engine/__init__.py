"""The trading engine: one state machine for backtest, paper and live trading (pure domain code).

Strategy (``smc_confluence``) -> risk manager -> protections -> orders -> execution model ->
portfolio accounting, all in numba-compiled functions over float64 state arrays, so the fast
backtest loop and the bar-by-bar runners share every decision. See ``docs/backtest.md``.
"""

from pathlib import Path

from features.smc.jitcache import cache_dir_of, ensure_fresh
from serving.engine import machine
from serving.engine.config import BacktestConfig, EvaluationConfig
from serving.engine.execution import ExecutionConfig
from serving.engine.protections import ProtectionsConfig
from serving.engine.risk import RiskConfig
from serving.engine.smc_confluence import FactorWeights, SMCConfluence, SMCConfluenceConfig
from serving.engine.strategy import Strategy, StrategyInputs
from serving.engine.validation import ConfigError

# numba re-validates a cached function only against its own file, not the files of the compiled
# functions it calls (the whole state machine is one call tree): drop the package's cached
# machine code whenever any of its sources changed, before anything is loaded from the cache.
ensure_fresh(cache_dir_of(machine.run), package=Path(__file__).resolve().parent)

__all__ = [
    "BacktestConfig",
    "ConfigError",
    "EvaluationConfig",
    "ExecutionConfig",
    "FactorWeights",
    "ProtectionsConfig",
    "RiskConfig",
    "SMCConfluence",
    "SMCConfluenceConfig",
    "Strategy",
    "StrategyInputs",
]
