"""Write a backtest's outputs: metrics.json, trades.csv, equity.csv and an offline report.html.

The HTML report embeds plotly.js once (no network needed to open it) and shows equity against
buy-and-hold, the drawdown, a monthly-returns heatmap, the strategy among random entries, the
walk-forward out-of-sample equity when it ran, and trades on candles with the SMC zones of
``detect_zones`` (order blocks, FVGs, liquidity) around the latest trades.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.backtest.evaluate import HEADLINE, Evaluation
from serving.backtest.result import BacktestResult
from serving.engine.metrics import drawdown, json_ready

MAX_POINTS = 4000
CHART_BARS = 400
MAX_ZONES = 60
HEATMAP_ROW_PX = 40
HEATMAP_MARGIN = (60, 50)  # top (title), bottom (month axis) in pixels
ZONE_COLORS = {
    "order_block": ("rgba(46,160,67,0.18)", "rgba(218,54,51,0.18)"),
    "fvg": ("rgba(56,139,253,0.16)", "rgba(163,113,247,0.16)"),
    "breaker": ("rgba(210,153,34,0.16)", "rgba(210,153,34,0.16)"),
}


def write_outputs(
    out_dir: str | Path,
    result: BacktestResult,
    evaluation: Evaluation,
    candles: pd.DataFrame,
    zones: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write every output file into ``out_dir``; return their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.json",
        "trades": out / "trades.csv",
        "equity": out / "equity.csv",
        "orders": out / "orders.csv",
        "fills": out / "fills.csv",
        "events": out / "protections.csv",
        "report": out / "report.html",
    }
    paths["metrics"].write_text(json.dumps(json_ready(evaluation.metrics), indent=2) + "\n")
    result.trades.to_csv(paths["trades"], index=False)
    equity_frame(result, evaluation).to_csv(paths["equity"], float_format="%.6f")
    result.orders.to_csv(paths["orders"], index=False)
    result.fills.to_csv(paths["fills"], index=False)
    result.events.to_csv(paths["events"], index=False)
    paths["report"].write_text(render_html(result, evaluation, candles, zones))
    return paths


def equity_frame(result: BacktestResult, evaluation: Evaluation) -> pd.DataFrame:
    """Return equity, position, drawdown and buy-and-hold at each bar's close."""
    frame = pd.DataFrame(
        {
            "equity": result.equity,
            "position": result.position,
            "drawdown": drawdown(result.equity),
            "buy_and_hold": evaluation.buy_and_hold.to_numpy(),
        }
    )
    frame.index.name = "close_time"
    return frame


def _thin(series: pd.Series) -> pd.Series:
    step = max(1, math.ceil(len(series) / MAX_POINTS))
    return series.iloc[::step] if step > 1 else series


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _figures(
    result: BacktestResult,
    evaluation: Evaluation,
    candles: pd.DataFrame,
    zones: pd.DataFrame | None,
) -> list[Any]:
    import plotly.graph_objects as go

    figs: list[Any] = []
    eq = _thin(result.equity)
    bh = _thin(evaluation.buy_and_hold)
    fig = go.Figure()
    fig.add_scatter(x=eq.index, y=eq.to_numpy(), name="strategy", line={"width": 1.5})
    fig.add_scatter(x=bh.index, y=bh.to_numpy(), name="buy and hold", line={"width": 1})
    fig.update_layout(title="Equity vs buy-and-hold", yaxis_title="equity", height=420)
    figs.append(fig)
    dd = _thin(drawdown(result.equity))
    fig = go.Figure(go.Scatter(x=dd.index, y=-dd.to_numpy(), fill="tozeroy", name="drawdown"))
    fig.update_layout(title="Drawdown", yaxis_tickformat=".0%", height=280)
    figs.append(fig)
    monthly = evaluation.metrics.get("monthly_returns", {})
    if monthly:
        figs.append(monthly_heatmap(monthly))
    if evaluation.random is not None and evaluation.random.total_returns.size:
        fig = go.Figure(go.Histogram(x=evaluation.random.total_returns, nbinsx=40, name="random"))
        total = evaluation.metrics["total_return"]
        fig.add_vline(x=total, line_color="red", annotation_text="strategy")
        pct = evaluation.metrics.get("random_entry_percentile", math.nan)
        fig.update_layout(
            title=f"Total return among {evaluation.random.total_returns.size} random-entry runs "
            f"(strategy percentile {pct:.0f})",
            xaxis_tickformat=".0%",
            height=320,
        )
        figs.append(fig)
    wf = evaluation.walk_forward
    if wf is not None and len(wf.oos_equity):
        oos = _thin(wf.oos_equity)
        fig = go.Figure(go.Scatter(x=oos.index, y=oos.to_numpy(), name="out of sample"))
        fig.update_layout(title="Walk-forward: out-of-sample equity only", height=320)
        figs.append(fig)
    figs.append(_trades_chart(result, candles, zones))
    return figs


def monthly_heatmap(monthly: Mapping[str, float]) -> Any:
    """Return the monthly-returns heatmap: a row per year, ``HEATMAP_ROW_PX`` pixels each."""
    import plotly.graph_objects as go

    months = pd.Series(monthly, dtype=np.float64)
    years = sorted({k[:4] for k in months.index})
    z = [[months.get(f"{y}-{m:02d}", np.nan) for m in range(1, 13)] for y in years]
    text = [[("" if not np.isfinite(v) else f"{v:.1%}") for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[f"{m:02d}" for m in range(1, 13)], y=years, text=text,
            texttemplate="%{text}", colorscale="RdYlGn", zmid=0.0, xgap=1, ygap=1,
        )
    )  # fmt: skip
    top, bottom = HEATMAP_MARGIN
    fig.update_layout(
        title="Monthly returns",
        height=top + bottom + HEATMAP_ROW_PX * len(years),
        margin={"t": top, "b": bottom},
        xaxis={"type": "category", "title": "month"},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig


def _trades_chart(result: BacktestResult, candles: pd.DataFrame, zones: pd.DataFrame | None) -> Any:
    import plotly.graph_objects as go

    trades = result.trades
    end = len(candles)
    if len(trades):
        last_exit = candles.index.searchsorted(trades["exit_bar"].iloc[-1])
        end = min(len(candles), int(last_exit) + CHART_BARS // 4)
    lo = max(0, end - CHART_BARS)
    window = candles.iloc[lo:end]
    fig = go.Figure(
        go.Candlestick(
            x=window.index, open=window["open"], high=window["high"], low=window["low"],
            close=window["close"], name="candles",
        )
    )  # fmt: skip
    shapes: list[dict[str, Any]] = []
    if len(window) and zones is not None and len(zones):
        shapes += _zone_shapes(zones, window.index[0], window.index[-1])
    if len(window) and len(trades):
        inside = trades[
            (trades["entry_bar"] >= window.index[0]) & (trades["entry_bar"] <= window.index[-1])
        ]
        for side, symbol, color in (
            ("long", "triangle-up", "green"),
            ("short", "triangle-down", "red"),
        ):
            rows = inside[inside["direction"] == side]
            fig.add_scatter(
                x=rows["entry_bar"], y=rows["entry_price"], mode="markers", name=f"{side} entry",
                marker={"symbol": symbol, "size": 11, "color": color},
            )  # fmt: skip
        fig.add_scatter(
            x=inside["exit_bar"], y=inside["exit_price"], mode="markers", name="exit",
            marker={"symbol": "x", "size": 9, "color": "black"},
        )  # fmt: skip
        for t in inside.itertuples():
            for level, dash in ((t.stop, "dot"), (t.target, "dash")):
                shapes.append(
                    {
                        "type": "line", "x0": t.entry_bar, "x1": t.exit_bar, "y0": level,
                        "y1": level, "line": {"dash": dash, "width": 1, "color": "gray"},
                    }
                )  # fmt: skip
    fig.update_layout(
        shapes=shapes,
        title="Latest trades on candles with SMC zones "
        "(green/red: order blocks, blue/purple: FVGs)",
        xaxis_rangeslider_visible=False,
        height=560,
    )
    return fig


def _zone_shapes(zones: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> list[dict[str, Any]]:
    """Return rectangles of the order blocks, breakers and FVGs alive inside ``[t0, t1]``.

    A zone is drawn from its confirmation until it was invalidated, filled, mitigated or
    dropped from tracking (whichever came first), the most recent ``MAX_ZONES`` of them.
    """
    z = zones[zones["kind"].isin(list(ZONE_COLORS))]
    z = z[z["confirmed_at"].notna() & (z["confirmed_at"] <= t1)]
    ends = z[["invalidated_at", "filled_at", "mitigated_at", "expired_at"]].min(axis=1)
    ends = ends.fillna(t1)
    ends = ends.where(ends <= t1, t1)
    alive = ends >= t0
    z, ends = z[alive], ends[alive]
    z, ends = z.tail(MAX_ZONES), ends.tail(MAX_ZONES)
    shapes = []
    for kind, direction, start, end, top, bottom in zip(
        z["kind"], z["direction"], z["confirmed_at"], ends, z["top"], z["bottom"], strict=True
    ):
        color = ZONE_COLORS[str(kind)][0 if float(direction) > 0 else 1]
        shapes.append(
            {
                "type": "rect", "x0": max(start, t0), "x1": end, "y0": bottom, "y1": top,
                "fillcolor": color, "line": {"width": 0}, "layer": "below",
            }
        )  # fmt: skip
    return shapes


def _hard_stop_line(m: dict[str, Any]) -> str:
    """Say whether the account hard stop fired, when, at what drawdown, and for how long."""
    limit = m.get("hard_stop")
    if limit is None:
        return "off"
    at = m.get("hard_stop_at")
    if at is None:
        return f"{limit * 100:g}% of the equity's peak: not hit"
    return html.escape(
        f"{limit * 100:g}% of the equity's peak: hit at {at} (drawdown "
        f"{m.get('hard_stop_drawdown', math.nan):.1%}); every position closed and no entry for "
        f"the remaining {m.get('bars_halted', 0):,} bars (a backtest has nobody to re-arm it)"
    )


def render_html(
    result: BacktestResult,
    evaluation: Evaluation,
    candles: pd.DataFrame,
    zones: pd.DataFrame | None = None,
) -> str:
    """Return the self-contained HTML report (plotly.js inlined once)."""
    m = evaluation.metrics
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(m.get(k))}</td></tr>" for k in HEADLINE)
    blocked = "".join(
        f"<li>{html.escape(k)}: {v:,}</li>" for k, v in m.get("blocked_entries", {}).items()
    )
    events = result.events.head(30)
    event_rows = "".join(
        f"<li>{e.at:%Y-%m-%d %H:%M}: {html.escape(str(e.reason))}</li>" for e in events.itertuples()
    )
    hard = _hard_stop_line(m)
    parts = []
    for k, fig in enumerate(_figures(result, evaluation, candles, zones)):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if k == 0 else False))
    wf = m.get("walk_forward")
    wf_html = ""
    if wf:
        wf_html = (
            "<h2>Walk-forward (out of sample only)</h2><table>"
            + "".join(
                f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>"
                for k, v in wf.items()
                if k != "choices"
            )
            + "</table>"
        )
    title = f"Backtest {html.escape(str(m.get('symbol', '')))} {m.get('timeframe', '')}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:24px}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left}}</style></head>
<body><h1>{title}</h1><p>{m.get("start")} .. {m.get("end")}, {m.get("bars"):,} bars</p>
<table>{rows}</table>
<h3>Account hard stop</h3><p>{hard}</p>
<h3>Entry intents refused</h3><ul>{blocked or "<li>none</li>"}</ul>
<h3>Protections fired ({m.get("protections_fired", 0)}; first 30)</h3>
<ul>{event_rows or "<li>none</li>"}</ul>
{wf_html}
{"".join(parts)}
</body></html>
"""
