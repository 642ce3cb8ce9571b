"""Render each SMC concept on a window of real candles to ``docs/img/smc/<concept>.png``.

Usage: ``python docs/smc_pictures.py [DATA_DIR] [--out docs/img/smc] [--symbol BTCUSDT]
[--timeframe 15m] [--bars 160]`` (``DATA_DIR`` defaults to ``../shared/data``). Features come
from ``compute_smc`` over a few thousand bars before the window (so every value is warm) and
zones from ``detect_zones`` when it is available; everything drawn at a bar is what the engine
knew at that bar's close. Each concept gets the window around one of its recent events.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from features.smc import SMCConfig, compute_smc  # noqa: E402

UP, DOWN, NEUTRAL = "#26a69a", "#ef5350", "#607d8b"
HISTORY = 4_000  # bars computed before a window: warm-up for every feature


def load(data_dir: Path, symbol: str, timeframe: str) -> pd.DataFrame:
    """Return the canonical candles of ``binance_<symbol>_<timeframe>.csv.gz``."""
    path = data_dir / f"binance_{symbol}_{timeframe}.csv.gz"
    if not path.exists():
        raise SystemExit(f"no candle file {path}: pass the data folder as the first argument")
    frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    frame.index = pd.DatetimeIndex(frame.index, name="ts").tz_convert("UTC")
    return frame[["open", "high", "low", "close", "volume"]].astype("float64")


class Window:
    """A slice of candles and their features, drawn on integer x positions."""

    def __init__(self, candles: pd.DataFrame, feats: pd.DataFrame, end: int, bars: int) -> None:
        start = max(0, end - bars)
        self.candles = candles.iloc[start:end]
        self.feats = feats.iloc[start:end]
        self.offset = start
        self.x = np.arange(len(self.candles))

    def col(self, name: str) -> np.ndarray:
        """Return a feature column of the window (NaN when the engine has no such column)."""
        if name not in self.feats:
            return np.full(len(self.feats), np.nan)
        return self.feats[name].to_numpy()

    def events(self, name: str, value: float | None = None) -> np.ndarray:
        """Return the x positions where a column is non-zero (or equals ``value``)."""
        col = np.nan_to_num(self.col(name))
        return np.flatnonzero(col != 0 if value is None else col == value)


def draw_candles(ax: Axes, w: Window, alpha: float = 1.0) -> None:
    """Draw OHLC candles with wicks."""
    o, h, lo, c = (w.candles[k].to_numpy() for k in ("open", "high", "low", "close"))
    colors = np.where(c >= o, UP, DOWN)
    ax.vlines(w.x, lo, h, colors=colors, linewidth=0.8, alpha=alpha, zorder=2)
    bottoms, heights = np.minimum(o, c), np.maximum(np.abs(c - o), (h - lo).mean() * 0.01)
    ax.bar(w.x, heights, bottom=bottoms, width=0.65, color=colors, alpha=alpha, zorder=3)
    ax.set_xlim(-1, len(w.x) + 1)
    pad = (h.max() - lo.min()) * 0.06
    ax.set_ylim(lo.min() - pad, h.max() + pad)
    ticks = w.x[:: max(1, len(w.x) // 8)]
    ax.set_xticks(ticks)
    ax.set_xticklabels([w.candles.index[t].strftime("%m-%d %H:%M") for t in ticks], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.15)


def _steps(ax: Axes, w: Window, name: str, color: str, label: str, style: str = "-") -> None:
    values = w.col(name)
    if np.isfinite(values).any():
        ax.step(w.x, values, where="mid", color=color, linestyle=style, lw=1.0, label=label)


def _marks(ax: Axes, xs: np.ndarray, ys: np.ndarray, marker: str, color: str, label: str) -> None:
    if len(xs):
        ax.scatter(xs, ys, marker=marker, color=color, s=36, zorder=5, label=label)


def _zones(
    w: Window, kinds: tuple[str, ...], candles: pd.DataFrame, cfg: SMCConfig, limit: int = 12
) -> list[Any]:
    """Return the last ``limit`` zone records of ``kinds`` that became known in the window."""
    try:
        from features.smc import detect_zones  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    start = max(0, w.offset - HISTORY)
    frame = detect_zones(candles.iloc[start : w.offset + len(w.x)], cfg)
    if frame.empty:
        return []
    first, last = w.candles.index[0], w.candles.index[-1]
    keep = frame["kind"].astype(str).isin(kinds)
    keep &= (frame["confirmed_at"] >= first) & (frame["confirmed_at"] <= last)
    return [row for _, row in frame[keep].tail(limit).iterrows()]


def _ends(row: Any) -> pd.Timestamp | None:
    """Return when a zone stopped mattering (filled, swept, run through or dropped), if it did."""
    ends = [row.get(k) for k in ("filled_at", "swept_at", "invalidated_at", "expired_at")]
    known = [pd.Timestamp(e) for e in ends if e is not None and not pd.isna(e)]
    return min(known) if known else None


def _box(ax: Axes, w: Window, row: Any, color: str, label: str) -> None:
    index = w.candles.index
    x0 = max(0, int(index.searchsorted(pd.Timestamp(row["confirmed_at"]))))
    end = _ends(row)
    x1 = len(index) if end is None else int(index.searchsorted(end))
    top, bottom = float(row["top"]), float(row["bottom"])
    ax.add_patch(
        Rectangle((x0 - 0.5, bottom), max(x1 - x0, 1), top - bottom, color=color, alpha=0.18)
    )
    formed = row.get("formed_at")
    if formed is not None and not pd.isna(formed) and pd.Timestamp(formed) >= index[0]:
        # Where the zone lies before it is known: outline only.
        xf = int(index.searchsorted(pd.Timestamp(formed)))
        ax.add_patch(
            Rectangle(
                (xf - 0.5, bottom), max(x0 - xf, 1), top - bottom, fill=False, ls=":", ec=color
            )
        )
    ax.text(x0, top, label, fontsize=6, color=color, va="bottom", clip_on=True)


def swings(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Swing highs/lows, drawn at the pivot and confirmed `right` bars later."""
    for level, size, tag in (("int", 30, "internal"), ("ext", 90, "swing")):
        for side, marker, color in (("high", "v", DOWN), ("low", "^", UP)):
            xs = w.events(f"swing_{level}_{side}_new")
            ages = np.nan_to_num(w.col(f"swing_{level}_{side}_age")[xs]).astype(int)
            levels = w.col(f"swing_{level}_{side}")[xs]
            pivots = xs - ages
            ax.scatter(
                pivots,
                levels,
                marker=marker,
                s=size,
                color=color,
                zorder=5,
                alpha=0.8,
                label=f"{tag} {side} (pivot)",
            )
            ax.hlines(levels, pivots, xs, colors=color, linewidth=0.6, alpha=0.6)
            ax.scatter(xs, levels, marker="o", s=8, color=color, zorder=5)
    ax.set_title("Swings: pivots (triangles) and their confirmation bars (dots)", fontsize=9)


def structure(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """BOS and CHoCH at the break bar, with the level broken."""
    for level, lw in (("int", 0.8), ("ext", 1.6)):
        for kind in ("bos", "choch"):
            for x in w.events(f"struct_{level}_{kind}"):
                value = w.col(f"struct_{level}_{kind}")[x]
                lvl = w.col(f"struct_{level}_level")[x]
                color = UP if value > 0 else DOWN
                ax.hlines(lvl, max(0, x - 25), x, colors=color, linewidth=lw, linestyle="--")
                ax.text(
                    x,
                    lvl,
                    f"{kind.upper()} ({level})",
                    fontsize=6,
                    color=color,
                    ha="right",
                    va="bottom" if value > 0 else "top",
                )
    trend = w.col("struct_ext_trend")
    ax.fill_between(
        w.x, 0, 1, where=trend > 0, color=UP, alpha=0.05, transform=ax.get_xaxis_transform()
    )
    ax.fill_between(
        w.x, 0, 1, where=trend < 0, color=DOWN, alpha=0.05, transform=ax.get_xaxis_transform()
    )
    ax.set_title("Market structure: BOS / CHoCH stamped at the break bar", fontsize=9)


def displacement(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Impulsive candles (range or body vs ATR)."""
    lo, hi = w.candles["low"].to_numpy(), w.candles["high"].to_numpy()
    for value, color in ((1.0, UP), (-1.0, DOWN)):
        xs = w.events("disp_dir", value)
        for x in xs:
            ax.axvspan(x - 0.5, x + 0.5, color=color, alpha=0.12)
        _marks(
            ax,
            xs,
            np.where(value > 0, lo[xs], hi[xs]),
            "*",
            color,
            "bullish displacement" if value > 0 else "bearish displacement",
        )
    ax.set_title("Displacement candles", fontsize=9)


def order_blocks(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Order blocks and breakers: boxes from detect_zones, else the formation events."""
    zones = _zones(w, ("order_block", "breaker"), candles, cfg)
    for row in zones:
        bull = float(row.get("direction", 1)) > 0
        kind = str(row["kind"]).lower()
        color = (UP if bull else DOWN) if kind != "breaker" else NEUTRAL
        tag = "OB" if kind == "order_block" else kind
        strength = float(row.get("strength", np.nan))
        _box(ax, w, row, color, f"{tag} {strength:.0f}" if np.isfinite(strength) else tag)
    if not zones:
        lo, hi = w.candles["low"].to_numpy(), w.candles["high"].to_numpy()
        _marks(
            ax, w.events("ob_bull_new"), lo[w.events("ob_bull_new")], "^", UP, "bullish OB known"
        )
        _marks(
            ax, w.events("ob_bear_new"), hi[w.events("ob_bear_new")], "v", DOWN, "bearish OB known"
        )
    ax.set_title(
        "Order blocks and breakers: dotted before they are known, filled from the structure break",
        fontsize=9,
    )


def fvg(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Fair value gaps: the gap between candle 1 and candle 3, from the third candle on."""
    zones = _zones(w, ("fvg", "inverse_fvg"), candles, cfg)
    for row in zones:
        bull = float(row.get("direction", 1)) > 0
        _box(ax, w, row, UP if bull else DOWN, "FVG" if row["kind"] == "fvg" else "iFVG")
    if not zones:
        hi, lo = w.candles["high"].to_numpy(), w.candles["low"].to_numpy()
        for name, color in (("fvg_bull_new", UP), ("fvg_bear_new", DOWN)):
            for x in w.events(name):
                if x < 2:
                    continue
                top, bottom = (lo[x], hi[x - 2]) if color == UP else (lo[x - 2], hi[x])
                ax.add_patch(
                    Rectangle((x - 2.5, bottom), 12, top - bottom, color=color, alpha=0.25)
                )
    ax.set_title(
        "Fair value gaps: filled from the third candle until filled or closed through", fontsize=9
    )


def liquidity(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Previous day high/low, equal highs/lows and sweeps/runs."""
    _steps(ax, w, "liq_pdh", DOWN, "previous day high", "--")
    _steps(ax, w, "liq_pdl", UP, "previous day low", "--")
    hi, lo = w.candles["high"].to_numpy(), w.candles["low"].to_numpy()
    _marks(ax, w.events("liq_eqh_new"), hi[w.events("liq_eqh_new")], "_", DOWN, "equal highs")
    _marks(ax, w.events("liq_eql_new"), lo[w.events("liq_eql_new")], "_", UP, "equal lows")
    for name, ys, marker, color, label in (
        ("liq_bsl_sweep", hi, "x", DOWN, "BSL sweep"),
        ("liq_ssl_sweep", lo, "x", UP, "SSL sweep"),
        ("liq_bsl_run", hi, "P", UP, "BSL run"),
        ("liq_ssl_run", lo, "P", DOWN, "SSL run"),
    ):
        _marks(ax, w.events(name), ys[w.events(name)], marker, color, label)
    ax.set_title("Liquidity: pools swept (wick beyond, close back) or run", fontsize=9)


def premium_discount(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Dealing range, equilibrium and the OTE band."""
    _steps(ax, w, "pd_high", DOWN, "range high")
    _steps(ax, w, "pd_low", UP, "range low")
    _steps(ax, w, "pd_eq", NEUTRAL, "equilibrium", "--")
    top, bottom = w.col("pd_ote_top"), w.col("pd_ote_bottom")
    ok = np.isfinite(top) & np.isfinite(bottom)
    ax.fill_between(
        w.x, bottom, top, where=ok, step="mid", color="#ffb300", alpha=0.2, label="OTE 62-79%"
    )
    ax.set_title("Premium / discount of the current dealing range", fontsize=9)


def sessions(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Sessions (shaded), kill zones (bands at the bottom), session ranges so far."""
    shades = {"asia": "#7e57c2", "london": "#29b6f6", "ny_am": "#ffa726", "ny_pm": "#8d6e63"}
    for name, color in shades.items():
        inside = w.col(f"sess_{name}") > 0
        ax.fill_between(
            w.x,
            0,
            1,
            where=inside,
            step="mid",
            color=color,
            alpha=0.08,
            transform=ax.get_xaxis_transform(),
            label=name,
        )
        _steps(ax, w, f"sess_{name}_high", color, "")
        _steps(ax, w, f"sess_{name}_low", color, "")
    for k, name in enumerate(("asia", "london", "ny_am", "london_close", "ny_pm")):
        inside = w.col(f"sess_kz_{name}") > 0
        ax.fill_between(
            w.x,
            0.03 * k,
            0.03 * (k + 1),
            where=inside,
            step="mid",
            color="k",
            alpha=0.45,
            transform=ax.get_xaxis_transform(),
        )
        for x in np.flatnonzero(inside & ~np.r_[False, inside[:-1]]):
            ax.text(
                x,
                0.03 * k + 0.004,
                f"KZ {name}",
                fontsize=5.5,
                color="white",
                transform=ax.get_xaxis_transform(),
            )
    swept = w.events("sess_asia_prev_high_swept")
    if len(swept):
        first = swept[np.r_[True, np.diff(swept) > 1]]
        _marks(ax, first, w.candles["high"].to_numpy()[first], "x", DOWN, "Asia high swept")
    ax.set_title(
        "Sessions (shaded, New York / London local time) and kill zones (bottom bands)", fontsize=9
    )


def crt(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """CRT: previous HTF range, the sweeping HTF candle's signal, target and stop."""
    from features.smc import crt as crt_module

    feats = crt_module.compute(w.candles, crt_module.CRTConfig(timeframe="15m", htf="4h"))
    sub = Window(w.candles, feats, len(w.candles), len(w.candles))
    _steps(ax, sub, "crt_htf_high", NEUTRAL, "last complete 4h high", ":")
    _steps(ax, sub, "crt_htf_low", NEUTRAL, "last complete 4h low", ":")
    for x in sub.events("crt_signal"):
        value = sub.col("crt_signal")[x]
        color = UP if value > 0 else DOWN
        span = slice(x, min(len(sub.x), x + 24))
        ax.hlines(sub.col("crt_target")[x], span.start, span.stop, colors=color, lw=1.4)
        ax.hlines(sub.col("crt_stop")[x], span.start, span.stop, colors=color, lw=0.8, ls="--")
        ax.annotate(
            "CRT " + ("bull" if value > 0 else "bear"),
            (x, sub.col("crt_stop")[x]),
            fontsize=7,
            color=color,
        )
    ax.set_title("CRT on 4h candles built from 15m bars: target (solid), stop (dashed)", fontsize=9)


def patterns(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Candlestick patterns, labelled at their last candle with their strength."""
    from features.smc import patterns as pat

    feats = pat.compute(candles.iloc[max(0, w.offset - 200) : w.offset + len(w.x)])
    feats = feats.iloc[-len(w.x) :]
    hi, lo = w.candles["high"].to_numpy(), w.candles["low"].to_numpy()
    # (column, tag, bearish when the value is positive); weak inside/outside/doji are left out.
    shown = (
        ("engulfing", "Eng", False),
        ("pin_bar", "Pin", False),
        ("star", "Star", False),
        ("three", "3x", False),
        ("hammer", "Ham", False),
        ("inverted_hammer", "InvH", False),
        ("shooting_star", "SStar", True),
        ("hanging_man", "HMan", True),
        ("doji", "Doji", False),
        ("inside", "In", False),
        ("outside", "Out", False),
    )
    above: dict[int, int] = {}
    below: dict[int, int] = {}
    for name, tag, bearish in shown:
        values = np.nan_to_num(feats[f"pat_{name}"].to_numpy())
        strength = np.nan_to_num(feats[f"pat_{name}_str"].to_numpy())
        for x in np.flatnonzero(values != 0):
            if name in ("inside", "outside", "doji") and strength[x] < 0.6:
                continue
            bull = values[x] > 0 and not bearish and name not in ("doji", "inside", "outside")
            stack = below if bull else above
            k = stack.get(x, 0)
            stack[x] = k + 1
            ax.annotate(
                f"{tag} {strength[x]:.2f}",
                (x, lo[x] if bull else hi[x]),
                xytext=(0, -8 - 8 * k if bull else 4 + 8 * k),
                textcoords="offset points",
                fontsize=6,
                ha="center",
                color=UP if bull else (DOWN if values[x] < 0 or bearish else NEUTRAL),
            )
    ax.set_title(
        "Candlestick patterns at their last candle, with strength (bullish below, others above)",
        fontsize=9,
    )


def context(ax: Axes, w: Window, candles: pd.DataFrame, cfg: SMCConfig) -> None:
    """Volume profile of the last window, ADX regime shading."""
    from features.smc import context as ctx

    c = ctx.ContextConfig()
    part = candles.iloc[max(0, w.offset - HISTORY) : w.offset + len(w.x)]
    feats = ctx.compute(part, c).iloc[-len(w.x) :]
    sub = Window(w.candles, feats, len(w.candles), len(w.candles))
    regime = sub.col("ctx_regime")
    ax.fill_between(
        w.x,
        0,
        1,
        where=regime > 0,
        color="#ffb300",
        alpha=0.08,
        transform=ax.get_xaxis_transform(),
        label="ADX regime: trending",
    )
    _steps(ax, sub, "ctx_vp_poc", "#6a1b9a", "POC")
    _steps(ax, sub, "ctx_vp_vah", "#6a1b9a", "VAH / VAL", ":")
    _steps(ax, sub, "ctx_vp_val", "#6a1b9a", "", ":")
    # The profile of the last bar's window, drawn as a histogram on the right.
    width = math.log1p(c.vp_bin_bps / 1e4)
    last = part.iloc[-c.vp_window :]
    kl = np.floor(np.log(last["low"].to_numpy()) / width).astype(int)
    kh = np.floor(np.log(last["high"].to_numpy()) / width).astype(int)
    bins = np.zeros(kh.max() - kl.min() + 1)
    for a, b, v in zip(kl, kh, last["volume"].to_numpy(), strict=True):
        bins[a - kl.min() : b - kl.min() + 1] += v / (b - a + 1)
    edges = np.exp((kl.min() + np.arange(len(bins))) * width)
    scale = 0.25 * len(w.x) / bins.max()
    ax.barh(
        edges,
        bins * scale,
        height=np.diff(np.r_[edges, edges[-1] * (1 + width)]),
        left=len(w.x) - bins * scale,
        align="edge",
        color="#6a1b9a",
        alpha=0.25,
    )
    ax.set_title(
        f"Context: rolling volume profile ({c.vp_window} bars), POC / value area, ADX regime",
        fontsize=9,
    )


CONCEPTS: dict[str, tuple[Callable[..., None], str]] = {
    "swings": (swings, "swing_ext_high_new"),
    "structure": (structure, "struct_ext_choch"),
    "displacement": (displacement, "disp_dir"),
    "order_blocks": (order_blocks, "ob_bull_new"),
    "fvg": (fvg, "fvg_bull_new"),
    "liquidity": (liquidity, "liq_bsl_sweep"),
    "premium_discount": (premium_discount, "pd_in_ote"),
    "sessions": (sessions, "sess_asia_prev_high_swept"),
    "crt": (crt, ""),
    "patterns": (patterns, "disp_dir"),
    "context": (context, ""),
}


def render(
    name: str, candles: pd.DataFrame, feats: pd.DataFrame, cfg: SMCConfig, out: Path, bars: int
) -> Path:
    """Render one concept around its latest event; return the PNG path."""
    draw, anchor = CONCEPTS[name]
    end = len(candles)
    if anchor and anchor in feats:
        hits = np.flatnonzero(np.nan_to_num(feats[anchor].to_numpy()) != 0)
        hits = hits[hits < len(candles) - bars // 4]
        if hits.size:
            end = int(hits[-1]) + bars // 4
    window = Window(candles, feats, end, bars // 2 if name == "patterns" else bars)
    fig, ax = plt.subplots(figsize=(11, 5.2), dpi=90)
    draw_candles(ax, window, alpha=0.9)
    draw(ax, window, candles, cfg)
    handles, labels = ax.get_legend_handles_labels()
    unique = {
        lab: h for h, lab in zip(handles, labels, strict=True) if lab and not lab.startswith("_")
    }
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=6, loc="upper left", ncol=3)
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "smc"))
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--timeframe", default="15m")
    parser.add_argument("--bars", type=int, default=160)
    parser.add_argument("--only", nargs="*", choices=sorted(CONCEPTS), help="concepts to draw")
    args = parser.parse_args(argv)
    candles = load(Path(args.data_dir), args.symbol, args.timeframe).iloc[-HISTORY:]
    cfg = SMCConfig.for_timeframe(args.timeframe)
    feats = compute_smc(candles, cfg)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or CONCEPTS:
        path = render(name, candles, feats, cfg, out, args.bars)
        print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
