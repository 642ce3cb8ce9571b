"""The look-ahead audit: re-run on truncated data and compare with the full run.

For a sample of the full run's trades, the data is cut right after the bar where the entry was
decided and right after the bar the trade exited in; features and signals are recomputed on
each cut and that last bar's rows (strategy inputs, every SMC column, the signal row) must equal
the full run's. Then the whole pipeline is replayed on a few prefixes of the data and every
order, fill, closed trade, protection event and equity value up to each cut must equal the full
run's. Any difference means something at bar t depended on a later bar.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.candles.schema import Timeframe
from serving.backtest.config_file import load_config
from serving.backtest.data import load_candles
from serving.backtest.fast import make_bars, prepare
from serving.engine import layout as L
from serving.engine.config import BacktestConfig
from serving.engine.features import batch_features, open_ns
from serving.engine.lookahead import Check, prefix_mismatches, row_mismatches
from serving.engine.simulate import simulate
from serving.engine.strategy import Strategy

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class AuditReport:
    """Every check of the audit."""

    checks: list[Check]
    n_trades: int
    n_trades_checked: int

    @property
    def passed(self) -> bool:
        """Whether every check agreed with the full run."""
        return all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        """Return the checks that found a difference."""
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        """Return one line (plus one per failure) for people."""
        ok = sum(c.passed for c in self.checks)
        head = (
            f"look-ahead audit {'PASSED' if self.passed else 'FAILED'}: {ok}/{len(self.checks)} "
            f"checks agree with the full run ({self.n_trades_checked} of {self.n_trades} trades "
            "re-run at entry and exit, "
            f"{sum(c.kind == 'prefix' for c in self.checks)} prefix replays)"
        )
        lines = [head]
        for c in self.failures()[:20]:
            lines.append(f"  {c.kind} at {c.bar}: differs in {', '.join(c.mismatches[:12])}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "passed": self.passed,
            "n_trades": self.n_trades,
            "n_trades_checked": self.n_trades_checked,
            "checks": [
                {"kind": c.kind, "bar": c.bar, "passed": c.passed, "mismatches": list(c.mismatches)}
                for c in self.checks
            ],
        }


def audit(
    candles: pd.DataFrame,
    timeframe: str | Timeframe,
    config: BacktestConfig | None = None,
    max_trades: int = 20,
    prefixes: int = 4,
    strategy: Strategy | None = None,
    progress: Progress = _quiet,
) -> AuditReport:
    """Audit the strategy and engine on ``candles`` for look-ahead; see the module docstring."""
    tf = Timeframe.parse(timeframe)
    config = config or BacktestConfig()
    progress("full run")
    full = prepare(candles, tf, config, strategy=strategy)
    logs, _ = simulate(full.bars, full.signals, full.params)
    ts = open_ns(candles)
    checks: list[Check] = []
    trades = logs.trades
    picked = np.unique(np.linspace(0, len(trades) - 1, min(max_trades, len(trades))).astype(int))
    smc_names = tuple(full.features.smc.columns)
    for n, k in enumerate(picked if len(trades) else []):
        signal_bar = int(np.searchsorted(ts, int(trades[k, L.C_SIGNAL_TS]) - tf.ns))
        exit_bar = int(np.searchsorted(ts, int(trades[k, L.C_EXIT_TS])))
        progress(f"trade {n + 1}/{len(picked)}: re-runs cut at its entry and exit bars")
        for kind, bar in (("entry", signal_bar), ("exit", exit_bar)):
            cut = candles.iloc[: bar + 1]
            features = batch_features(cut, full.spec)
            signals = full.strategy.signals(features.matrix)
            bad = (
                row_mismatches(full.features.names, full.features.matrix[bar], features.matrix[bar])
                + row_mismatches(
                    smc_names,
                    full.features.smc.iloc[bar].to_numpy(),
                    features.smc.iloc[bar].to_numpy(),
                )
                + row_mismatches(
                    tuple(f"signal.{f}" for f in L.SIGNAL_FIELDS), full.signals[bar], signals[bar]
                )
            )
            checks.append(Check(kind, f"{candles.index[bar]}", tuple(dict.fromkeys(bad))))
    n_bars = len(candles)
    for q in range(1, prefixes + 1):
        end = n_bars * q // (prefixes + 1)
        if end < 2:
            continue
        progress(f"prefix replay {q}/{prefixes}: {end:,} bars")
        cut = candles.iloc[:end]
        features = batch_features(cut, full.spec)
        signals = full.strategy.signals(features.matrix)
        bars = make_bars(cut, tf, config.execution)
        cut_logs, _ = simulate(bars, signals, full.params)
        bad = prefix_mismatches(logs, cut_logs, int(ts[end - 1]), tf.ns)
        checks.append(Check("prefix", f"{candles.index[end - 1]}", bad))
    return AuditReport(
        checks, n_trades=len(trades), n_trades_checked=len(picked) if len(trades) else 0
    )


def audit_file(
    candles_path: str | Path,
    symbol: str,
    timeframe: str,
    config_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    max_trades: int = 20,
    prefixes: int = 4,
    progress: Progress = _quiet,
) -> AuditReport:
    """Audit a candle file (what ``smartmarket audit-lookahead`` runs); write lookahead.json."""
    config = load_config(config_path)
    progress(f"reading {candles_path}")
    loaded = load_candles(candles_path, symbol, timeframe)
    report = audit(loaded.candles, timeframe, config, max_trades, prefixes, progress=progress)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "lookahead.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return report
