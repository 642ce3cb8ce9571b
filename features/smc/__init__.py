"""Smart Money Concepts: a causal, streaming, numba-fused feature engine.

``compute_smc(candles, config)`` returns every feature for every bar, each known at that bar's
close; ``iter_smc`` yields the same rows chunk by chunk, in bounded memory;
``SMCStream(config).update(bar)`` returns the same row for one new bar;
``detect_zones(candles, config)`` lists the zones and levels as records. See ``docs/smc.md``.
"""

from features.smc import jitcache
from features.smc.config import SMCConfig
from features.smc.engine import columns, compute_smc, run
from features.smc.stream import SMCStream, iter_smc
from features.smc.zones import detect_zones

# Before any kernel is loaded from numba's cache: drop it if any source of the package changed.
jitcache.ensure_fresh(jitcache.cache_dir_of(run))

__all__ = ["SMCConfig", "SMCStream", "columns", "compute_smc", "detect_zones", "iter_smc"]
