"""The trading engine: one state machine for backtest, paper and live trading (pure domain code).

Strategy (``serving.signals``: ``smc_confluence``) -> risk manager -> protections -> orders ->
execution model -> portfolio accounting, all in numba-compiled functions over float64 state
arrays, so the fast backtest loop and the bar-by-bar runners share every decision. Import from
the modules (``serving.engine.config.BacktestConfig``, ``serving.engine.risk.plan_order``...);
see ``docs/backtest.md``.
"""

from pathlib import Path

from features.smc.jitcache import cache_dir_of, ensure_fresh
from serving.engine import machine

# numba re-validates a cached function only against its own file, not the files of the compiled
# functions it calls (the whole state machine is one call tree): drop the package's cached
# machine code whenever any of its sources changed, before anything is loaded from the cache.
ensure_fresh(cache_dir_of(machine.run), package=Path(__file__).resolve().parent)
