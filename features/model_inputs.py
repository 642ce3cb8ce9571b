"""The model's inputs: which feature columns a model reads, and their packed vector.

A model fed raw price levels learns the price regime of its training period, so the columns in
price units are left out; everything kept is in ATRs, ratios, counts, ages or flags, i.e.
invariant when every price is scaled (tested).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.layout import KNOWN_AT, VECTOR

# Columns in price units (levels).
PRICE_LEVEL = re.compile(
    r"^(smc|ctx)_atr$|_(high|low|level|eq|top|bottom|poc|vah|val|target|stop)$"
    r"|^liq_p[dwm][hl]$"
)


def model_input_columns(smc_columns: Sequence[str], mtf_columns: Sequence[str]) -> tuple[str, ...]:
    """Return the model's inputs, in order: scale-free SMC columns, then every MTF column.

    Raises:
        ValueError: A name appears twice (the packed vector needs unique names).
    """
    names = [c for c in smc_columns if not PRICE_LEVEL.search(c) and c != KNOWN_AT]
    names += [c for c in mtf_columns if c != KNOWN_AT]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise ValueError(f"model input columns appear twice: {duplicated}")
    return tuple(names)


def pack_vector(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return a one-column frame (``vector``): each row's ``columns`` as a float64 array."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot pack the model vector: missing column(s) {missing}")
    values = frame[list(columns)].to_numpy(dtype=np.float64)
    packed = pd.Series(list(values), index=frame.index, dtype=object)
    return pd.DataFrame({VECTOR: packed}, index=frame.index)
