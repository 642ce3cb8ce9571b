"""``detect_zones``: the engine's zones and levels as records, for charts and storage.

Each record is one zone or level with when it formed, when it became known, and what happened
to it afterwards. Times are candle *open* times of the bars where things became known (the
``compute_smc`` row that shows them; known at that bar's close). A field is NaT until its event
happens, so a record computed on a prefix of the data agrees with the full computation on every
field that is already known at the prefix's end (``count`` alone is a running value).

Kinds and their fields:

``order_block`` / ``breaker``
    ``top``/``bottom`` of the zone, ``formed_at`` the block candle, ``confirmed_at`` the
    structure break (for a breaker: the close through the block), ``touched_at`` first entry,
    ``mitigated_at`` (blocks only), ``invalidated_at``, ``strength`` (blocks: at formation).
``fvg`` / ``inverse_fvg``
    the gap; ``formed_at`` its first candle, ``confirmed_at`` its third candle (for an inverse
    gap: the close through the gap), ``filled_at`` (wick to the far side), ``invalidated_at``
    (close through), ``strength`` the gap size in ATRs.
``liquidity``
    a pool at ``top == bottom``; direction +1 buy-side (above highs), -1 sell-side;
    ``formed_at`` its first pivot, ``confirmed_at`` that pivot's confirmation, ``swept_at``
    (wick beyond, close back inside), ``invalidated_at`` (run: close beyond), ``count`` how many
    pivots rest there as of the last bar (2+: equal highs/lows).
``prev_day`` / ``prev_week``
    direction +1 the high, -1 the low of a completed UTC day / ISO week; ``formed_at`` its first
    candle, ``confirmed_at`` when complete, ``swept_at`` / ``invalidated_at`` (run).
``swing_high`` / ``swing_low``
    a confirmed pivot of ``level`` internal or swing: ``formed_at`` the pivot, ``confirmed_at``
    ``right`` bars later.
``bos`` / ``choch``
    a structure break of ``level``: direction of the break, the level broken, ``formed_at`` the
    broken pivot, ``confirmed_at`` the break bar.

``expired_at`` marks when a zone stopped being tracked because its table was full (the oldest
goes first); its later fate is unknown to the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import to_float64
from features.smc import engine, swings
from features.smc import tables as tb
from features.smc.config import SMCConfig
from features.smc.validate import candle_arrays

RECORD_COLUMNS: tuple[str, ...] = (
    "kind",
    "direction",
    "level",
    "top",
    "bottom",
    "formed_at",
    "confirmed_at",
    "touched_at",
    "mitigated_at",
    "filled_at",
    "swept_at",
    "invalidated_at",
    "expired_at",
    "strength",
    "count",
    "zone_id",
)
EVENT_FIELDS: tuple[str, ...] = (
    "touched_at",
    "mitigated_at",
    "filled_at",
    "swept_at",
    "invalidated_at",
    "expired_at",
)

_KINDS = {
    tb.KIND_OB: "order_block",
    tb.KIND_BREAKER: "breaker",
    tb.KIND_FVG: "fvg",
    tb.KIND_IFVG: "inverse_fvg",
    tb.KIND_POOL: "liquidity",
    tb.KIND_DAY: "prev_day",
    tb.KIND_WEEK: "prev_week",
}
_EVENT_OF = {
    "touched_at": tb.EV_TOUCH,
    "mitigated_at": tb.EV_MITIGATE,
    "filled_at": tb.EV_FILL,
    "swept_at": tb.EV_SWEEP,
    "expired_at": tb.EV_EXPIRE,
}
_LEVEL_NAMES = ("internal", "swing")


def _first_event(log: np.ndarray, ids: np.ndarray, codes: tuple[float, ...]) -> np.ndarray:
    """Return, per zone id, the bar of its first event with one of ``codes`` (or -1)."""
    out = np.full(ids.shape[0], -1, dtype=np.int64)
    mask = np.isin(log[:, tb.L_CODE], codes)
    if not mask.any():
        return out
    ev_ids = log[mask, tb.L_ID]
    ev_n = log[mask, tb.L_N]
    uniq, first = np.unique(ev_ids, return_index=True)  # the log is in time order
    pos = np.searchsorted(ids, uniq)
    found = (pos < ids.shape[0]) & (ids[np.minimum(pos, ids.shape[0] - 1)] == uniq)
    out[pos[found]] = ev_n[first[found]].astype(np.int64)
    return out


def _times(index: pd.DatetimeIndex, bars: np.ndarray) -> pd.DatetimeIndex:
    """Return the open times of bars ``bars`` (NaT where negative: no such event)."""
    bars = np.asarray(bars, dtype=np.int64)
    return pd.DatetimeIndex(index.take(np.clip(bars, 0, None)).where(bars >= 0))


def _tracked(log: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    creates = log[log[:, tb.L_CODE] == tb.EV_CREATE]
    ids = creates[:, tb.L_ID]
    kinds = creates[:, tb.L_KIND]
    events = {field: _first_event(log, ids, (code,)) for field, code in _EVENT_OF.items()}
    events["invalidated_at"] = _first_event(log, ids, (tb.EV_INVALIDATE, tb.EV_RUN))
    equal = log[log[:, tb.L_CODE] == tb.EV_EQUAL, tb.L_ID]
    count = np.where(kinds == tb.KIND_POOL, 1.0, np.nan)
    if equal.shape[0]:
        uniq, counts = np.unique(equal, return_counts=True)
        count[np.searchsorted(ids, uniq)] += counts
    ob = kinds == tb.KIND_OB
    level = np.where(ob, creates[:, tb.L_EXTRA], np.nan)
    strength = np.where(kinds == tb.KIND_FVG, creates[:, tb.L_EXTRA], creates[:, tb.L_STRENGTH])
    frame = pd.DataFrame(
        {
            "kind": [_KINDS[k] for k in kinds],
            "direction": creates[:, tb.L_DIR],
            "level": [_LEVEL_NAMES[int(x)] if x == x else "" for x in level],
            "top": creates[:, tb.L_TOP],
            "bottom": creates[:, tb.L_BOTTOM],
            "formed_at": _times(index, creates[:, tb.L_FORMED].astype(np.int64)),
            "confirmed_at": _times(index, creates[:, tb.L_N].astype(np.int64)),
            **{field: _times(index, bars) for field, bars in events.items()},
            "strength": strength,
            "count": count,
            "zone_id": ids.astype(np.int64),
        }
    )
    return frame


def _derived(frame: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Swing points and structure breaks, read from the feature columns."""
    cols = [c for c in frame.columns if c.startswith(("swing_", "struct_"))]
    values = to_float64(frame, cols, order="F")
    pos = {c: k for k, c in enumerate(cols)}
    out = values
    parts: list[tuple[str, np.ndarray, str, np.ndarray, np.ndarray, np.ndarray]] = []
    for lv, name in zip(swings.LEVELS, _LEVEL_NAMES, strict=True):
        for side, kind, sign in (("high", "swing_high", 1.0), ("low", "swing_low", -1.0)):
            new = out[:, pos[f"swing_{lv}_{side}_new"]] == 1.0
            rows = np.flatnonzero(new)
            price = out[rows, pos[f"swing_{lv}_{side}"]]
            pivot = rows - out[rows, pos[f"swing_{lv}_{side}_age"]].astype(np.int64)
            parts.append((kind, np.full(rows.shape, sign), name, price, pivot, rows))
        for flag, kind in (("bos", "bos"), ("choch", "choch")):
            col = out[:, pos[f"struct_{lv}_{flag}"]]
            rows = np.flatnonzero(col != 0.0)
            broke = col[rows]
            level = out[rows, pos[f"struct_{lv}_level"]]
            # The broken swing is the one the swing columns showed on the bar before the break.
            prev = rows - 1
            age = np.where(
                broke > 0,
                out[prev, pos[f"swing_{lv}_high_age"]],
                out[prev, pos[f"swing_{lv}_low_age"]],
            )
            pivot = prev - age.astype(np.int64)
            parts.append((kind, broke, name, level, pivot, rows))
    frames = []
    for kind, signs, name, price, pivot, rows in parts:
        if rows.shape[0] == 0:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "direction": signs.astype(float),
                    "level": name,
                    "top": price,
                    "bottom": price,
                    "formed_at": _times(index, pivot),
                    "confirmed_at": _times(index, rows),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["kind"])
    return pd.concat(frames, ignore_index=True)


def detect_zones(candles: pd.DataFrame, config: SMCConfig | None = None) -> pd.DataFrame:
    """Return every zone and level the engine finds in ``candles``, one record per row.

    Columns: ``RECORD_COLUMNS`` (see the module docstring). Sorted by ``confirmed_at`` then
    kind. Input rules and errors are those of ``compute_smc``.
    """
    cfg = engine._config(config)
    lay = engine.layout(cfg)
    arrays = candle_arrays(candles, cfg.bar.ns)
    groups, log = engine.execute(lay, arrays, with_log=True)
    index = pd.DatetimeIndex(candles.index)
    records = pd.concat(
        [_tracked(log, index), _derived(lay.frame(groups, index), index)], ignore_index=True
    )
    for field in EVENT_FIELDS:
        records[field] = pd.to_datetime(records[field], utc=True)
    records["zone_id"] = records["zone_id"].astype("Int64")
    records = records.reindex(columns=list(RECORD_COLUMNS))
    order = np.lexsort((records["kind"].to_numpy(dtype=str), records["confirmed_at"].to_numpy()))
    return records.iloc[order].reset_index(drop=True)


__all__ = ["EVENT_FIELDS", "RECORD_COLUMNS", "detect_zones"]
