"""Figure builders: frames in, Plotly figures out (no Streamlit, no file access).

The candle chart draws the SMC overlays of ``detect_zones`` records and ``compute_smc``
columns inside the visible window only, so a chart's size follows the window, not the history:
order blocks, breakers, FVGs and inverse FVGs as rectangles from confirmation to their end,
BOS/CHoCH as marks at the level broken, liquidity pools and previous day/week levels as lines
until swept or run (sweeps marked), the dealing range's premium and discount halves at the last
bar, and kill zones as shaded columns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from features.candles.schema import OHLCV, Timeframe

ZONE_KINDS: dict[str, tuple[str, str]] = {
    # kind: (bullish / support colour, bearish / resistance colour)
    "order_block": ("rgba(46,160,67,0.22)", "rgba(218,54,51,0.22)"),
    "breaker": ("rgba(210,153,34,0.22)", "rgba(210,153,34,0.22)"),
    "fvg": ("rgba(56,139,253,0.20)", "rgba(163,113,247,0.20)"),
    "inverse_fvg": ("rgba(56,139,253,0.10)", "rgba(163,113,247,0.10)"),
}
LEVEL_KINDS = ("liquidity", "prev_day", "prev_week")
BREAK_KINDS = ("bos", "choch")
OVERLAYS: tuple[str, ...] = (
    "zones",
    "structure",
    "liquidity",
    "premium_discount",
    "kill_zones",
)
KILL_ZONE_COLUMNS = (
    "sess_kz_asia",
    "sess_kz_london",
    "sess_kz_ny_am",
    "sess_kz_london_close",
    "sess_kz_ny_pm",
)
KILL_ZONE_COLOR = "rgba(120,120,120,0.08)"
MAX_ZONES = 80
MAX_LEVELS = 40
MAX_MARKS = 300  # structure breaks and sweeps drawn per chart, the most recent
ZONE_ENDS = ("invalidated_at", "filled_at", "mitigated_at", "expired_at")
LEVEL_ENDS = ("swept_at", "invalidated_at", "expired_at")


def downsample(candles: pd.DataFrame, timeframe: str, max_bars: int) -> tuple[pd.DataFrame, str]:
    """Return candles resampled to the smallest multiple of ``timeframe`` giving ``<= max_bars``.

    Returns the candles unchanged (and ``timeframe``) when they already fit.
    """
    tf = Timeframe.parse(timeframe)
    if len(candles) <= max_bars or candles.empty:
        return candles, tf.label
    span = (candles.index[-1] - candles.index[0]) + tf.delta
    factor = int(np.ceil(span / (tf.delta * max_bars)))
    seconds = tf.seconds * factor
    label = _label(seconds)
    frame = (
        candles[list(OHLCV)]
        .resample(pd.Timedelta(seconds=seconds), origin="epoch", label="left", closed="left")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    )
    return frame.dropna(subset=["open"]), label


def _label(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def volume_profile(candles: pd.DataFrame, bins: int = 40) -> pd.DataFrame:
    """Return volume by price bin (each candle's volume spread evenly over its range).

    Columns: ``price`` (bin middle), ``volume``; ``bins`` rows, empty without candles.
    """
    if candles.empty:
        return pd.DataFrame({"price": [], "volume": []})
    lo, hi = float(candles["low"].min()), float(candles["high"].max())
    if hi <= lo:
        return pd.DataFrame({"price": [lo], "volume": [float(candles["volume"].sum())]})
    edges = np.linspace(lo, hi, bins + 1)
    low = candles["low"].to_numpy(np.float64)
    high = candles["high"].to_numpy(np.float64)
    vol = candles["volume"].to_numpy(np.float64)
    width = np.maximum(high - low, 1e-12)
    # overlap of each candle's range with each bin, as a share of the candle's range
    overlap = np.clip(
        np.minimum(high[:, None], edges[None, 1:]) - np.maximum(low[:, None], edges[None, :-1]),
        0.0,
        None,
    )
    share = np.where((high - low)[:, None] > 0, overlap / width[:, None], 0.0)
    flat = (high - low) <= 0
    if flat.any():  # a one-price candle puts its volume in its bin
        idx = np.clip(np.searchsorted(edges, low[flat], side="right") - 1, 0, bins - 1)
        share[np.flatnonzero(flat), idx] = 1.0
    volume = (share * vol[:, None]).sum(axis=0)
    return pd.DataFrame({"price": (edges[:-1] + edges[1:]) / 2, "volume": volume})


def _visible(
    records: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp, ends: Sequence[str]
) -> pd.DataFrame:
    """Records confirmed by ``t1`` and not ended before ``t0``, with their drawn end ``_end``."""
    if records.empty:
        return records.assign(_end=pd.Series(dtype="datetime64[ns, UTC]"))
    z = records[records["confirmed_at"].notna() & (records["confirmed_at"] <= t1)]
    end = z[list(ends)].min(axis=1).fillna(t1)
    end = end.where(end <= t1, t1)
    z = z.assign(_end=end)
    return z[z["_end"] >= t0]


def zone_shapes(zones: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> list[dict[str, Any]]:
    """Return rectangles of the blocks, breakers and gaps alive inside ``[t0, t1]``.

    A zone is drawn from its confirmation until it was invalidated, filled, mitigated or
    dropped from tracking, whichever came first; the most recent ``MAX_ZONES``.
    """
    z = _visible(zones[zones["kind"].isin(list(ZONE_KINDS))], t0, t1, ZONE_ENDS).tail(MAX_ZONES)
    shapes = []
    for kind, direction, start, end, top, bottom in zip(
        z["kind"], z["direction"], z["confirmed_at"], z["_end"], z["top"], z["bottom"], strict=True
    ):
        color = ZONE_KINDS[str(kind)][0 if float(direction) > 0 else 1]
        shapes.append(
            {
                "type": "rect", "x0": max(start, t0), "x1": end, "y0": bottom, "y1": top,
                "fillcolor": color, "line": {"width": 0}, "layer": "below", "name": kind,
            }
        )  # fmt: skip
    return shapes


def level_shapes(zones: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> list[dict[str, Any]]:
    """Return lines of liquidity pools and previous day/week levels alive inside ``[t0, t1]``."""
    z = _visible(zones[zones["kind"].isin(list(LEVEL_KINDS))], t0, t1, LEVEL_ENDS).tail(MAX_LEVELS)
    shapes = []
    for kind, direction, start, end, price, count in zip(
        z["kind"], z["direction"], z["confirmed_at"], z["_end"], z["top"], z["count"], strict=True
    ):
        equal = kind == "liquidity" and float(count) >= 2 if count == count else False
        color = "rgba(218,54,51,0.8)" if float(direction) > 0 else "rgba(46,160,67,0.8)"
        shapes.append(
            {
                "type": "line", "x0": max(start, t0), "x1": end, "y0": price, "y1": price,
                "line": {"width": 2 if equal else 1, "color": color,
                         "dash": "solid" if kind == "liquidity" else "dot"},
                "name": kind,
            }
        )  # fmt: skip
    return shapes


def kill_zone_shapes(features: pd.DataFrame, timeframe: str) -> list[dict[str, Any]]:
    """Return shaded columns over the runs of bars inside any kill zone."""
    columns = [c for c in KILL_ZONE_COLUMNS if c in features.columns]
    if features.empty or not columns:
        return []
    inside = (features[columns].fillna(0.0).to_numpy() > 0).any(axis=1).astype(np.int8)
    edges = np.diff(np.concatenate(([0], inside, [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    index = features.index
    delta = Timeframe.parse(timeframe).delta
    return [
        {
            "type": "rect", "xref": "x", "yref": "paper", "x0": index[a],
            "x1": index[b - 1] + delta, "y0": 0, "y1": 1, "fillcolor": KILL_ZONE_COLOR,
            "line": {"width": 0}, "layer": "below", "name": "kill_zone",
        }
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    ]  # fmt: skip


def premium_discount_shapes(
    features: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp
) -> list[dict[str, Any]]:
    """Return the premium (above equilibrium) and discount halves of the last dealing range."""
    needed = {"pd_high", "pd_low", "pd_eq"}
    if features.empty or not needed <= set(features.columns):
        return []
    last = features[["pd_high", "pd_low", "pd_eq"]].dropna()
    if last.empty:
        return []
    high, low, eq = (float(v) for v in last.iloc[-1])
    return [
        {"type": "rect", "x0": t0, "x1": t1, "y0": eq, "y1": high, "name": "premium",
         "fillcolor": "rgba(218,54,51,0.05)", "line": {"width": 0}, "layer": "below"},
        {"type": "rect", "x0": t0, "x1": t1, "y0": low, "y1": eq, "name": "discount",
         "fillcolor": "rgba(46,160,67,0.05)", "line": {"width": 0}, "layer": "below"},
        {"type": "line", "x0": t0, "x1": t1, "y0": eq, "y1": eq, "name": "equilibrium",
         "line": {"width": 1, "dash": "dash", "color": "gray"}},
    ]  # fmt: skip


def candles_figure(
    candles: pd.DataFrame,
    *,
    timeframe: str,
    zones: pd.DataFrame | None = None,
    features: pd.DataFrame | None = None,
    overlays: Collection[str] = OVERLAYS,
    trades: pd.DataFrame | None = None,
    title: str = "",
    height: int = 640,
) -> go.Figure:
    """Return candles with volume and the chosen SMC ``overlays`` (see ``OVERLAYS``).

    Args:
        candles: Canonical candles of the window to draw (already downsampled if needed).
        timeframe: Their timeframe label (bar width of kill-zone columns).
        zones: ``detect_zones`` records (times are candle open times).
        features: ``compute_smc`` rows of the same bars (premium/discount, kill zones).
        overlays: Which overlays to draw.
        trades: Backtest trades (``entry_bar``, ``exit_bar``, prices, ``direction``).
        title: Figure title.
        height: Pixels.
    """
    unknown = set(overlays) - set(OVERLAYS)
    if unknown:
        raise ValueError(f"unknown overlays {sorted(unknown)}: expected some of {OVERLAYS}")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2],
                        vertical_spacing=0.02)  # fmt: skip
    if candles.empty:
        fig.update_layout(title=title or "no candles", height=height)
        return fig
    fig.add_trace(
        go.Candlestick(
            x=candles.index, open=candles["open"], high=candles["high"], low=candles["low"],
            close=candles["close"], name="candles", showlegend=False,
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Bar(x=candles.index, y=candles["volume"], name="volume", showlegend=False,
               marker_color="rgba(120,120,120,0.5)"),
        row=2, col=1,
    )  # fmt: skip
    t0, t1 = candles.index[0], candles.index[-1]
    shapes: list[dict[str, Any]] = []
    if zones is not None and len(zones):
        if "zones" in overlays:
            shapes += zone_shapes(zones, t0, t1)
        if "liquidity" in overlays:
            shapes += level_shapes(zones, t0, t1)
            _add_sweeps(fig, zones, t0, t1)
        if "structure" in overlays:
            _add_breaks(fig, zones, t0, t1)
    if features is not None and len(features):
        window = features.loc[t0:t1]
        if "premium_discount" in overlays:
            shapes += premium_discount_shapes(window, t0, t1)
        if "kill_zones" in overlays:
            shapes += kill_zone_shapes(window, timeframe)
    if trades is not None and len(trades):
        _add_trades(fig, trades, t0, t1)
    for shape in shapes:
        shape.setdefault("xref", "x")
        shape.setdefault("yref", "y")
    fig.update_layout(
        shapes=shapes,
        title=title,
        height=height,
        xaxis_rangeslider_visible=False,
        margin={"t": 40, "b": 20, "l": 40, "r": 20},
        legend={"orientation": "h", "y": 1.02},
        uirevision=title,  # keep the zoom when the page reruns
    )
    return fig


def _add_breaks(fig: go.Figure, zones: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> None:
    z = zones[zones["kind"].isin(list(BREAK_KINDS))]
    z = z[(z["confirmed_at"] >= t0) & (z["confirmed_at"] <= t1)].tail(MAX_MARKS)
    for kind, symbol in (("bos", "line-ew-open"), ("choch", "star-diamond")):
        rows = z[z["kind"] == kind]
        if rows.empty:
            continue
        text = [f"{kind.upper()} {lv} {'up' if d > 0 else 'down'}"
                for lv, d in zip(rows["level"], rows["direction"], strict=True)]  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=rows["confirmed_at"], y=rows["top"], mode="markers", name=kind.upper(),
                text=text, hoverinfo="text+y",
                marker={"symbol": symbol, "line": {"width": 2},
                        "size": np.where(rows["level"] == "swing", 12, 6),
                        "color": np.where(rows["direction"] > 0, "green", "red")},
            ),
            row=1, col=1,
        )  # fmt: skip


def _add_sweeps(fig: go.Figure, zones: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> None:
    z = zones[zones["kind"].isin(list(LEVEL_KINDS)) & zones["swept_at"].notna()]
    z = z[(z["swept_at"] >= t0) & (z["swept_at"] <= t1)].sort_values("swept_at").tail(MAX_MARKS)
    if z.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=z["swept_at"], y=z["top"], mode="markers", name="sweep",
            text=[f"{k} swept" for k in z["kind"]], hoverinfo="text+y",
            marker={"symbol": "x-thin", "size": 10, "line": {"width": 2, "color": "orange"}},
        ),
        row=1, col=1,
    )  # fmt: skip


def _add_trades(fig: go.Figure, trades: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> None:
    inside = trades[(trades["entry_bar"] >= t0) & (trades["entry_bar"] <= t1)]
    for side, symbol, color in (
        ("long", "triangle-up", "green"),
        ("short", "triangle-down", "red"),
    ):
        rows = inside[inside["direction"] == side]
        if rows.empty:
            continue
        fig.add_trace(
            go.Scatter(x=rows["entry_bar"], y=rows["entry_price"], mode="markers",
                       name=f"{side} entry", marker={"symbol": symbol, "size": 11, "color": color}),
            row=1, col=1,
        )  # fmt: skip
    if len(inside):
        fig.add_trace(
            go.Scatter(x=inside["exit_bar"], y=inside["exit_price"], mode="markers", name="exit",
                       marker={"symbol": "x", "size": 9, "color": "black"}),
            row=1, col=1,
        )  # fmt: skip


def volume_profile_figure(profile: pd.DataFrame, height: int = 640) -> go.Figure:
    """Return the volume profile as horizontal bars, the point of control highlighted."""
    fig = go.Figure()
    if len(profile):
        poc = int(profile["volume"].to_numpy().argmax())
        colors = ["rgba(56,139,253,0.9)" if k == poc else "rgba(120,120,120,0.5)"
                  for k in range(len(profile))]  # fmt: skip
        fig.add_trace(go.Bar(x=profile["volume"], y=profile["price"], orientation="h",
                             marker_color=colors, name="volume"))  # fmt: skip
    fig.update_layout(title="Volume profile", height=height, showlegend=False,
                      margin={"t": 40, "b": 20, "l": 40, "r": 10})  # fmt: skip
    return fig


def mtf_figure(reading: Mapping[str, Any]) -> go.Figure:
    """Return each timeframe's bias strength (signed) and the confluence score."""
    frames = reading.get("timeframes", {})
    names = list(frames)
    sign = {"bullish": 1.0, "bearish": -1.0}
    values = [sign.get(str(frames[n].get("bias")), 0.0) * float(frames[n].get("strength") or 0.0)
              for n in names]  # fmt: skip
    fig = make_subplots(rows=1, cols=2, column_widths=[0.65, 0.35],
                        specs=[[{"type": "bar"}, {"type": "indicator"}]])  # fmt: skip
    fig.add_trace(
        go.Bar(x=names, y=values, marker_color=["green" if v > 0 else "red" for v in values],
               text=[str(frames[n].get("bias")) for n in names], name="bias"),
        row=1, col=1,
    )  # fmt: skip
    score = reading.get("confluence_score")
    fig.add_trace(
        go.Indicator(mode="gauge+number", value=float(score) if score is not None else 0.0,
                     title={"text": "confluence"}, gauge={"axis": {"range": [0, 1]}}),
        row=1, col=2,
    )  # fmt: skip
    fig.update_yaxes(range=[-1, 1], title_text="bias strength", row=1, col=1)
    fig.update_layout(title=f"HTF bias: {reading.get('higher_timeframe_bias')}", height=300,
                      showlegend=False, margin={"t": 40, "b": 20})  # fmt: skip
    return fig


def equity_figure(equity: pd.DataFrame, title: str = "Equity vs buy-and-hold") -> go.Figure:
    """Return equity against buy-and-hold with the drawdown below (``equity.csv`` columns)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)  # fmt: skip
    fig.add_trace(go.Scatter(x=equity.index, y=equity["equity"], name="strategy"), row=1, col=1)
    if "buy_and_hold" in equity.columns:
        fig.add_trace(go.Scatter(x=equity.index, y=equity["buy_and_hold"], name="buy and hold"),
                      row=1, col=1)  # fmt: skip
    if "drawdown" in equity.columns:
        fig.add_trace(go.Scatter(x=equity.index, y=-equity["drawdown"], fill="tozeroy",
                                 name="drawdown"), row=2, col=1)  # fmt: skip
        fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_layout(title=title, height=480, margin={"t": 40, "b": 20})
    return fig


def equity_comparison_figure(curves: Mapping[str, pd.Series]) -> go.Figure:
    """Return several runs' equity, each divided by its first value (growth of 1)."""
    fig = go.Figure()
    for name, curve in curves.items():
        if len(curve):
            fig.add_trace(go.Scatter(x=curve.index, y=curve / float(curve.iloc[0]), name=name))
    fig.update_layout(title="Equity (growth of 1)", height=380, margin={"t": 40, "b": 20})
    return fig


def thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Return every k-th row so that at most ``max_points`` remain (the last row kept)."""
    if len(frame) <= max_points:
        return frame
    step = int(np.ceil(len(frame) / max_points))
    keep = np.unique(np.append(np.arange(0, len(frame), step), len(frame) - 1))
    return frame.iloc[keep]


def drift_figure(scores: Mapping[str, float], threshold: float, top: int = 30) -> go.Figure:
    """Return the ``top`` inputs by drift distance, the per-input threshold as a line."""
    items = sorted(scores.items(), key=lambda kv: -kv[1])[:top][::-1]
    names = [k for k, _ in items]
    values = [v for _, v in items]
    fig = go.Figure(go.Bar(
        x=values, y=names, orientation="h",
        marker_color=["rgba(218,54,51,0.8)" if v >= threshold else "rgba(120,120,120,0.6)"
                      for v in values],
    ))  # fmt: skip
    fig.add_vline(x=threshold, line_dash="dash", annotation_text="drift threshold")
    fig.update_layout(title=f"Most drifted inputs (top {len(items)})",
                      xaxis_title="normed Wasserstein distance",
                      height=max(300, 18 * len(items) + 80), margin={"t": 40, "b": 20})  # fmt: skip
    return fig


def prediction_drift_figure(predictions: Mapping[str, Any]) -> go.Figure:
    """Return the champion's P(take) histograms, reference and current, with its threshold."""
    edges = list(predictions.get("edges") or [])
    centers = [(a + b) / 2 for a, b in pairwise(edges)]
    fig = go.Figure()
    for key, name in (("reference_hist", "reference (training window)"),
                      ("current_hist", "current (the day)")):  # fmt: skip
        fig.add_trace(go.Bar(x=centers, y=list(predictions.get(key) or []), name=name,
                             opacity=0.6))  # fmt: skip
    threshold = predictions.get("model_threshold")
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", annotation_text="model threshold")
    distance = predictions.get("distance")
    moved = "n/a" if distance is None else f"{distance:.2f}"
    fig.update_layout(title=f"P(take) of model {predictions.get('version', '?')}: "
                      f"normed Wasserstein {moved}", barmode="overlay",
                      xaxis_title="calibrated P(take)", xaxis_range=[0, 1],
                      yaxis_title="share of rows", yaxis_tickformat=".0%",
                      height=320, margin={"t": 40, "b": 20})  # fmt: skip
    return fig


def drift_history_figure(
    days: Sequence[str], shares: Sequence[float], threshold: float
) -> go.Figure:
    """Return the share of drifted inputs per daily snapshot."""
    fig = go.Figure(go.Scatter(x=list(days), y=list(shares), mode="lines+markers", name="share"))
    fig.add_hline(y=threshold, line_dash="dash", annotation_text="retraining threshold")
    fig.update_layout(title="Share of drifted inputs per day", yaxis_tickformat=".0%",
                      yaxis_range=[0, 1], height=300, margin={"t": 40, "b": 20})  # fmt: skip
    return fig


def freshness_figure(table: pd.DataFrame) -> go.Figure:
    """Return the age of each asset's last materialization (hours)."""
    fig = go.Figure(go.Bar(x=table["age (hours)"], y=table["asset"], orientation="h"))
    fig.update_layout(title="Hours since each asset was last materialized",
                      height=max(260, 22 * len(table) + 80), margin={"t": 40, "b": 20})  # fmt: skip
    return fig


__all__ = [
    "OVERLAYS",
    "candles_figure",
    "downsample",
    "drift_figure",
    "drift_history_figure",
    "equity_comparison_figure",
    "equity_figure",
    "freshness_figure",
    "kill_zone_shapes",
    "level_shapes",
    "mtf_figure",
    "premium_discount_shapes",
    "thin",
    "volume_profile",
    "volume_profile_figure",
    "zone_shapes",
]


def r_multiples_figure(trades: pd.DataFrame) -> go.Figure:
    """Return each closed trade's R multiple as a bar (green win, red loss), oldest first."""
    closed = trades.dropna(subset=["r_multiple"]).sort_values("entry_bar")
    r = closed["r_multiple"].to_numpy(np.float64)
    colors = np.where(r > 0, "#2ca02c", "#d62728")
    fig = go.Figure(go.Bar(x=closed["entry_bar"], y=r, marker_color=colors,
                           customdata=closed["symbol"], name="R",
                           hovertemplate="%{customdata}: %{y:.2f}R<extra></extra>"))  # fmt: skip
    fig.update_layout(title=f"R multiple per closed trade ({len(r)})", height=280,
                      margin={"t": 40, "b": 20}, yaxis_title="R")  # fmt: skip
    return fig


def calibration_figure(
    table: pd.DataFrame, title: str = "Calibration (out of sample)"
) -> go.Figure:
    """Return observed frequency against mean predicted probability per bin, and the diagonal.

    ``table`` is ``calibration.csv``: ``mean_predicted``, ``observed``, ``count`` per bin.
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                             line={"dash": "dot", "color": "grey"}))  # fmt: skip
    counts = table["count"].to_numpy(np.float64)
    size = 8 + 22 * np.sqrt(counts / counts.max()) if len(counts) and counts.max() > 0 else 8
    fig.add_trace(go.Scatter(x=table["mean_predicted"], y=table["observed"],
                             mode="lines+markers", name="model", marker={"size": size},
                             customdata=table["count"],
                             hovertemplate="predicted %{x:.2f}, observed %{y:.2f} "
                                           "(%{customdata} intents)<extra></extra>"))  # fmt: skip
    fig.update_layout(title=title, height=380, margin={"t": 40, "b": 20},
                      xaxis={"title": "mean predicted P", "range": [0, 1]},
                      yaxis={"title": "observed share of wins", "range": [0, 1]})  # fmt: skip
    return fig


def importance_figure(table: pd.DataFrame, top: int = 25) -> go.Figure:
    """Return the ``top`` inputs by permutation importance (ROC AUC lost when shuffled)."""
    shown = table.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=shown["auc_drop"], y=shown["input"], orientation="h",
                           name="AUC drop"))  # fmt: skip
    fig.update_layout(title=f"Permutation importance (top {len(shown)} of {len(table)} inputs)",
                      height=max(300, 18 * len(shown) + 80), margin={"t": 40, "b": 20},
                      xaxis_title="ROC AUC lost when shuffled (validation windows)")  # fmt: skip
    return fig


def folds_figure(folds: pd.DataFrame) -> go.Figure:
    """Return each walk-forward fold's test-window return per variant (grouped bars)."""
    fig = go.Figure()
    names = [c for c in folds.columns if c.endswith("_return")]
    for column in names:
        fig.add_trace(go.Bar(x=folds["fold"].astype(str), y=folds[column],
                             name=column.removesuffix("_return")))  # fmt: skip
    fig.update_layout(title="Return per fold (test windows)", barmode="group", height=340,
                      margin={"t": 40, "b": 20}, xaxis_title="fold",
                      yaxis={"tickformat": ".1%"})  # fmt: skip
    return fig
