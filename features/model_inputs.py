"""The model's inputs: which feature columns a model reads, and their packed vector.

A model fed raw price levels learns the price regime of its training period, so the columns in
price units are left out, and so are time/key columns (:func:`features.schema.is_model_input`,
read from each column's declared spec); everything kept is in ATRs, ratios, counts, ages, codes
or flags, i.e. invariant when every price is scaled (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from features.layout import VECTOR
from features.schema import is_model_input, spec_of, to_float64


def model_input_columns(smc_columns: Sequence[str], mtf_columns: Sequence[str]) -> tuple[str, ...]:
    """Return the model's inputs, in order: the SMC ones, then the MTF ones.

    Raises:
        KeyError: A column has no spec (declare it in its feature module).
        ValueError: A name appears twice (the packed vector needs unique names).
    """
    names = [c for c in (*smc_columns, *mtf_columns) if is_model_input(spec_of(c))]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise ValueError(f"model input columns appear twice: {duplicated}")
    return tuple(names)


def pack_vector(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return a one-column frame (``vector``): each row's ``columns`` as a float64 array.

    Compact columns are read through :func:`features.schema.to_float64` ("not yet known" ->
    NaN).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot pack the model vector: missing column(s) {missing}")
    values = to_float64(frame, columns)
    packed = pd.Series(list(values), index=frame.index, dtype=object)
    return pd.DataFrame({VECTOR: packed}, index=frame.index)
