"""Where the trading bar's close sits relative to a higher timeframe's range and zones.

Everything is read from the HTF row visible at the trading bar (the last one closed by its
close) and compared with the trading bar's own close, so it follows price inside the HTF
candle that is still forming without ever looking at it.

- **Discount / premium**: the close's position in the HTF dealing range, ``(close - pd_low) /
  (pd_high - pd_low)`` clipped to 0..1; zone -1 (discount) below ``0.5 - equilibrium_band``,
  +1 (premium) above ``0.5 + equilibrium_band``, 0 in between.
- **In an HTF order block / FVG**: the SMC engine reports, per HTF row, the signed distance
  ``d`` (in ATRs) from that row's close ``C`` to the nearest live zone of each kind (0 inside,
  NaN when there is none). One edge of that zone is therefore exact: ``E = C - d * atr`` (the
  top of a zone below price, the bottom of one above). The flag is 1 when the HTF candle
  closed inside the zone (``d == 0``), or when the trading close has since reached the zone's
  near edge (at or below ``E`` for a zone below, at or above it for a zone above); 0 when it
  has not or there is no live zone; NaN before the first visible HTF row. A zone's far edge is
  not in the SMC columns, so a close that has run through the whole zone still counts as in it
  until the HTF candle's close invalidates the zone.
"""

from __future__ import annotations

import numpy as np

from features.mtf.inputs import Frame
from features.mtf.join import take_rows

ZONE_KINDS: tuple[tuple[str, str], ...] = (
    ("in_ob_bull", "ob_bull_dist"),
    ("in_ob_bear", "ob_bear_dist"),
    ("in_fvg_bull", "fvg_bull_dist"),
    ("in_fvg_bear", "fvg_bear_dist"),
)


def range_position(
    close: np.ndarray, htf: Frame, rows: np.ndarray, band: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(position 0..1, zone -1/0/+1)`` of ``close`` in the visible HTF dealing range."""
    high = take_rows(htf.col("pd_high"), rows)
    low = take_rows(htf.col("pd_low"), rows)
    width = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = np.where(width > 0, (close - low) / width, 0.5)
    pos = np.clip(pos, 0.0, 1.0)
    pos[np.isnan(width)] = np.nan
    zone = np.where(pos < 0.5 - band, -1.0, np.where(pos > 0.5 + band, 1.0, 0.0))
    zone[np.isnan(pos)] = np.nan
    return pos, zone


def in_zone(
    close: np.ndarray,
    dist: np.ndarray,
    htf_close: np.ndarray,
    htf_atr: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Return the in-zone flag of ``close`` for one zone kind.

    ``dist``, ``htf_close`` and ``htf_atr`` are the visible HTF row's zone distance, close and
    ATR per trading bar (already taken with ``rows``; NaN where ``rows`` is -1).
    """
    edge = htf_close - dist * htf_atr
    reached = np.where(dist > 0, close <= edge, close >= edge)
    flag = np.where(dist == 0, 1.0, np.where(np.isnan(edge), 0.0, reached.astype(np.float64)))
    flag[rows < 0] = np.nan
    return flag
