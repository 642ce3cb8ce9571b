"""Multi-timeframe analysis: higher-timeframe features joined point-in-time onto a trading one.

``compute_mtf(frames, trading_tf, config)`` returns per-bar bias, alignment, discount/premium,
zone flags, confluence components and score, regime flags; ``htf_asof_join`` is the
point-in-time join it rests on; ``input_window`` cuts the warm-up for an exact incremental
recomputation; ``analyze_smc`` and ``analyze_multi_timeframe`` answer the product's two
analysis calls as JSON-ready dicts. See ``docs/mtf.md``.
"""

from features.mtf.analysis import analyze_multi_timeframe, analyze_smc
from features.mtf.compute import compute_mtf, input_window, output_columns
from features.mtf.config import BiasWeights, ConfluenceWeights, MTFConfig
from features.mtf.join import htf_asof_join, tf_prefix, visible_rows

__all__ = [
    "BiasWeights",
    "ConfluenceWeights",
    "MTFConfig",
    "analyze_multi_timeframe",
    "analyze_smc",
    "compute_mtf",
    "htf_asof_join",
    "input_window",
    "output_columns",
    "tf_prefix",
    "visible_rows",
]
