"""Multi-timeframe analysis: higher-timeframe features joined point-in-time onto a trading one.

``compute_mtf(frames, trading_tf, config)`` returns per-bar bias, alignment, discount/premium,
zone flags, confluence components and score, regime flags; ``htf_asof_join`` is the
point-in-time join it rests on; ``input_window`` cuts the warm-up for an exact incremental
recomputation; ``analyze_smc`` and ``read_multi_timeframe`` describe the SMC picture and the
top-down reading at the last closed candle as JSON-ready dicts (the product's
``analyze_multi_timeframe`` adds the entry signals in ``serving.analysis``). See
``docs/mtf.md``.
"""

from features.mtf.analysis import (
    AnalysisConfig,
    StaleDataError,
    analyze_smc,
    canonical_symbol,
    read_multi_timeframe,
)
from features.mtf.compute import compute_mtf, input_window, output_columns
from features.mtf.config import BiasWeights, ConfluenceWeights, MTFConfig
from features.mtf.join import htf_asof_join, tf_prefix, visible_rows

__all__ = [
    "AnalysisConfig",
    "BiasWeights",
    "ConfluenceWeights",
    "MTFConfig",
    "StaleDataError",
    "analyze_smc",
    "canonical_symbol",
    "compute_mtf",
    "htf_asof_join",
    "input_window",
    "output_columns",
    "read_multi_timeframe",
    "tf_prefix",
    "visible_rows",
]
