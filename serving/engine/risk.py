"""The risk manager: from a strategy's entry intent to a sized bracket order, or a refusal.

For an entry at reference price ``ref`` (the close for a market order, offset by
``entry_offset_atr`` ATRs for limit/stop entries) and the strategy's structure stop:

1. the stop must lie on the losing side of ``ref``; it is widened to ``min_stop_atr`` ATRs and
   to ``min_stop_costs`` times the estimated round-trip costs (taker fees and fixed slippage:
   a stop inside the costs makes R meaningless), and the entry is refused beyond
   ``max_stop_atr`` ATRs;
2. the final target is the next liquidity level (``final_target="liquidity"``; ``final_r`` R
   when none is known) or ``final_r`` R, capped at ``max_target_r``; the entry is refused when
   it offers less than ``min_reward_risk`` (2 by default);
3. the take-profit ladder takes ``take_profit_fractions`` at ``take_profit_r`` (1R and 2R by
   default) and the rest at the final target; after the first the stop moves to breakeven and
   may trail confirmed swings;
4. risk: ``risk_per_trade`` of equity (1% by default, never above the 2% hard cap), times the
   volatility multiplier ``clip(reference ATR% / current ATR%)`` when ``volatility_scaling``;
   with ``kelly_fraction > 0`` and enough closed trades, ``kelly_fraction`` times the Kelly
   fraction of the strategy's own R multiples replaces the base risk; the result is capped at
   ``max_risk_per_trade``, then multiplied by a model's size (``SIG_SIZE``) and by the
   model-health multiplier of a bar-by-bar run (``Stepper.set_health``; 1 in a backtest);
5. size: the risk divided by the stop distance plus the estimated round-trip costs, cut to fit
   the per-symbol exposure, total exposure and leverage caps (pending entries count); refused
   below ``min_notional``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from serving.engine import layout as L
from serving.engine import params as P
from serving.engine.layout import NO_REFCOUNT
from serving.engine.validation import ConfigError, choice, duration_ns, in_range, integer

FINAL_TARGETS = ("liquidity", "fixed")
TRAILING = ("off", "after_tp1", "always")
ENTRY_ORDERS = L.ORDER_TYPES


@dataclass(frozen=True)
class RiskConfig:
    """Position sizing, stops, targets and exposure limits (see the module docstring)."""

    risk_per_trade: float = 0.01
    max_risk_per_trade: float = 0.02
    volatility_scaling: bool = True
    volatility_span: int = 2016
    volatility_scale_min: float = 0.5
    volatility_scale_max: float = 1.5
    kelly_fraction: float = 0.0
    kelly_lookback: int = 50
    kelly_min_trades: int = 20
    kelly_floor: float = 0.0025
    min_reward_risk: float = 2.0
    take_profit_r: tuple[float, float] = (1.0, 2.0)
    take_profit_fractions: tuple[float, float] = (0.5, 0.25)
    final_target: str = "liquidity"
    final_r: float = 3.0
    max_target_r: float = 10.0
    breakeven_after_tp1: bool = True
    breakeven_offset_r: float = 0.1
    trailing: str = "after_tp1"
    min_stop_atr: float = 0.5
    min_stop_costs: float = 5.0
    max_stop_atr: float = 6.0
    max_positions: int = 1
    max_symbol_exposure: float = 3.0
    max_total_exposure: float = 3.0
    max_leverage: float = 5.0
    entry_order: str = "market"
    entry_offset_atr: float = 0.0
    entry_timeout: str = "1h"
    max_hold: str | None = None
    min_notional: float = 10.0
    qty_step: float = 0.0

    def __post_init__(self) -> None:
        o = "RiskConfig"
        cap = P.HARD_RISK_CAP
        in_range(o, "risk_per_trade", self.risk_per_trade, 0.0, cap, lo_open=True)
        in_range(o, "max_risk_per_trade", self.max_risk_per_trade, 0.0, cap, lo_open=True)
        if self.max_risk_per_trade < self.risk_per_trade:
            raise ConfigError(
                f"{o}.max_risk_per_trade ({self.max_risk_per_trade}) must be >= "
                f"risk_per_trade ({self.risk_per_trade})"
            )
        for flag in ("volatility_scaling", "breakeven_after_tp1"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{o}.{flag} must be true or false, got {getattr(self, flag)!r}")
        integer(o, "volatility_span", self.volatility_span, 2, 1_000_000)
        in_range(o, "volatility_scale_min", self.volatility_scale_min, 0.0, 1.0, lo_open=True)
        in_range(o, "volatility_scale_max", self.volatility_scale_max, 1.0, 10.0)
        in_range(o, "kelly_fraction", self.kelly_fraction, 0.0, 1.0)
        integer(o, "kelly_lookback", self.kelly_lookback, 2, L.HIST_CAP)
        integer(o, "kelly_min_trades", self.kelly_min_trades, 2, L.HIST_CAP)
        in_range(o, "kelly_floor", self.kelly_floor, 0.0, cap)
        in_range(o, "min_reward_risk", self.min_reward_risk, 1.0, 50.0)
        self._ladder(o)
        choice(o, "final_target", self.final_target, FINAL_TARGETS)
        in_range(o, "final_r", self.final_r, 1.0, 100.0)
        in_range(o, "max_target_r", self.max_target_r, self.final_r, 100.0)
        in_range(o, "breakeven_offset_r", self.breakeven_offset_r, -1.0, 1.0)
        choice(o, "trailing", self.trailing, TRAILING)
        in_range(o, "min_stop_atr", self.min_stop_atr, 0.0, 100.0)
        in_range(o, "min_stop_costs", self.min_stop_costs, 0.0, 1000.0)
        in_range(o, "max_stop_atr", self.max_stop_atr, 0.0, 1000.0, lo_open=True)
        if self.max_stop_atr <= self.min_stop_atr:
            raise ConfigError(f"{o}.max_stop_atr must be above min_stop_atr ({self.min_stop_atr})")
        integer(o, "max_positions", self.max_positions, 1, L.MAX_SLOTS)
        for name in ("max_symbol_exposure", "max_total_exposure", "max_leverage"):
            in_range(o, name, getattr(self, name), 0.0, 125.0, lo_open=True)
        choice(o, "entry_order", self.entry_order, ENTRY_ORDERS)
        in_range(o, "entry_offset_atr", self.entry_offset_atr, 0.0, 10.0)
        duration_ns(o, "entry_timeout", self.entry_timeout, allow_none=False)
        duration_ns(o, "max_hold", self.max_hold)
        in_range(o, "min_notional", self.min_notional, 0.0, 1e12)
        in_range(o, "qty_step", self.qty_step, 0.0, 1e12)

    def _ladder(self, o: str) -> None:
        for name in ("take_profit_r", "take_profit_fractions"):
            value = getattr(self, name)
            if not isinstance(value, tuple | list) or len(value) != 2:
                raise ConfigError(f"{o}.{name} must be a pair of numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(x) for x in value))
        r1, r2 = self.take_profit_r
        in_range(o, "take_profit_r[0]", r1, 0.0, 100.0, lo_open=True)
        in_range(o, "take_profit_r[1]", r2, r1, 100.0, lo_open=True)
        f1, f2 = self.take_profit_fractions
        in_range(o, "take_profit_fractions[0]", f1, 0.0, 1.0, hi_open=True)
        in_range(o, "take_profit_fractions[1]", f2, 0.0, 1.0, hi_open=True)
        if f1 + f2 >= 1.0:
            raise ConfigError(
                f"{o}.take_profit_fractions must leave a remainder for the final target, "
                f"got {f1} + {f2} >= 1"
            )

    def fill(self, vector: np.ndarray) -> None:
        """Write this config's values into the engine parameter vector."""
        o = "RiskConfig"
        v = vector
        v[P.P_RISK] = self.risk_per_trade
        v[P.P_MAX_RISK] = self.max_risk_per_trade
        v[P.P_VOL_SCALING] = 1.0 if self.volatility_scaling else 0.0
        v[P.P_VOL_ALPHA] = 2.0 / (self.volatility_span + 1.0)
        v[P.P_VOL_MIN] = self.volatility_scale_min
        v[P.P_VOL_MAX] = self.volatility_scale_max
        v[P.P_KELLY_FRACTION] = self.kelly_fraction
        v[P.P_KELLY_LOOKBACK] = self.kelly_lookback
        v[P.P_KELLY_MIN_TRADES] = self.kelly_min_trades
        v[P.P_KELLY_FLOOR] = self.kelly_floor
        v[P.P_MIN_RR] = self.min_reward_risk
        v[P.P_TP1_R], v[P.P_TP2_R] = self.take_profit_r
        v[P.P_TP1_FRACTION], v[P.P_TP2_FRACTION] = self.take_profit_fractions
        v[P.P_FINAL_R] = self.final_r
        v[P.P_MAX_TARGET_R] = self.max_target_r
        v[P.P_TARGET_LIQUIDITY] = 1.0 if self.final_target == "liquidity" else 0.0
        v[P.P_BREAKEVEN] = 1.0 if self.breakeven_after_tp1 else 0.0
        v[P.P_BREAKEVEN_OFFSET_R] = self.breakeven_offset_r
        v[P.P_TRAIL] = float(TRAILING.index(self.trailing))
        v[P.P_MIN_STOP_ATR] = self.min_stop_atr
        v[P.P_MIN_STOP_COSTS] = self.min_stop_costs
        v[P.P_MAX_STOP_ATR] = self.max_stop_atr
        v[P.P_MAX_POSITIONS] = self.max_positions
        v[P.P_MAX_SYMBOL_EXPOSURE] = self.max_symbol_exposure
        v[P.P_MAX_TOTAL_EXPOSURE] = self.max_total_exposure
        v[P.P_MAX_LEVERAGE] = self.max_leverage
        v[P.P_ENTRY_TYPE] = float(ENTRY_ORDERS.index(self.entry_order))
        v[P.P_ENTRY_OFFSET_ATR] = self.entry_offset_atr
        v[P.P_ENTRY_TIMEOUT_NS] = duration_ns(o, "entry_timeout", self.entry_timeout)
        v[P.P_MAX_HOLD_NS] = duration_ns(o, "max_hold", self.max_hold)
        v[P.P_MIN_NOTIONAL] = self.min_notional
        v[P.P_QTY_STEP] = self.qty_step


@njit(cache=True, **NO_REFCOUNT)
def update_volatility(acct: np.ndarray, atr: float, close: float, p: np.ndarray) -> None:
    """Advance the reference volatility (EMA of ATR / close) by one bar."""
    if not (np.isfinite(atr) and close > 0.0):
        return
    natr = atr / close
    if np.isnan(acct[L.A_VOL_EMA]):
        acct[L.A_VOL_EMA] = natr
    else:
        acct[L.A_VOL_EMA] += p[P.P_VOL_ALPHA] * (natr - acct[L.A_VOL_EMA])
    acct[L.A_VOL_N] += 1.0


@njit(cache=True, **NO_REFCOUNT)
def kelly(acct: np.ndarray, lookback: int) -> float:
    """Return the Kelly risk fraction of the last ``lookback`` closed trades' R multiples.

    For wins averaging ``W`` R and losses averaging ``-L`` R with win rate ``p``:
    ``f = p / L - (1 - p) / W`` (NaN when there is no history).
    """
    n = min(int(acct[L.A_HIST_N]), lookback)
    if n == 0:
        return np.nan
    head = int(acct[L.A_HIST_HEAD])
    wins = 0
    win_sum = 0.0
    loss_sum = 0.0
    for j in range(n):
        r = acct[L.A_HIST + (head - 1 - j) % L.HIST_CAP]
        if r > 0.0:
            wins += 1
            win_sum += r
        else:
            loss_sum -= r
    p_win = wins / n
    if wins == 0:
        return -1.0
    if wins == n or loss_sum <= 0.0:
        return 1.0
    avg_win = win_sum / wins
    avg_loss = loss_sum / (n - wins)
    return p_win / avg_loss - (1.0 - p_win) / avg_win


@njit(cache=True, **NO_REFCOUNT)
def risk_fraction(acct: np.ndarray, atr: float, close: float, p: np.ndarray) -> float:
    """Return the fraction of equity to risk on the next entry."""
    risk = p[P.P_RISK]
    if p[P.P_KELLY_FRACTION] > 0.0 and acct[L.A_HIST_N] >= p[P.P_KELLY_MIN_TRADES]:
        f = kelly(acct, int(p[P.P_KELLY_LOOKBACK]))
        risk = max(p[P.P_KELLY_FRACTION] * f, p[P.P_KELLY_FLOOR])
    if p[P.P_VOL_SCALING] > 0.5 and np.isfinite(acct[L.A_VOL_EMA]) and atr > 0.0:
        scale = acct[L.A_VOL_EMA] / (atr / close)
        risk *= min(max(scale, p[P.P_VOL_MIN]), p[P.P_VOL_MAX])
    return min(risk, p[P.P_MAX_RISK], P.HARD_RISK_CAP)


@njit(cache=True, **NO_REFCOUNT)
def committed_notional(acct: np.ndarray, trades: np.ndarray, price: float) -> float:
    """Return the notional held plus the notional of pending entries."""
    held = abs(acct[L.A_QTY]) * price
    for k in range(trades.shape[0]):
        if trades[k, L.T_STATE] == L.STATE_PENDING:
            held += trades[k, L.T_QTY0] * trades[k, L.T_PLAN_PRICE]
    return held


@njit(cache=True, **NO_REFCOUNT)
def plan_entry(
    acct: np.ndarray,
    trades: np.ndarray,
    d: float,
    close: float,
    sig: np.ndarray,
    p: np.ndarray,
    row: np.ndarray,
) -> int:
    """Size a bracket for an entry in direction ``d`` at this close; return a reason code.

    ``R_NONE`` means the request ``row`` holds the order (type, price, quantity, stop,
    take-profits and their fractions); any other code says why the entry is refused.
    """
    atr = sig[L.SIG_ATR]
    stop = sig[L.SIG_LONG_STOP] if d > 0 else sig[L.SIG_SHORT_STOP]
    if not (np.isfinite(stop) and np.isfinite(atr) and atr > 0.0):
        return L.R_NO_STOP
    kind = int(p[P.P_ENTRY_TYPE])
    offset = p[P.P_ENTRY_OFFSET_ATR] * atr
    ref = close
    if kind == L.ORDER_LIMIT:
        ref = close - d * offset
    elif kind == L.ORDER_STOP:
        ref = close + d * offset
    dist = d * (ref - stop)
    if dist <= 0.0:
        return L.R_STOP_WRONG_SIDE
    costs = ref * (2.0 * p[P.P_TAKER_FEE] + 2.0 * p[P.P_SLIP_BPS] * 1e-4)
    min_dist = max(p[P.P_MIN_STOP_ATR] * atr, p[P.P_MIN_STOP_COSTS] * costs)
    if dist < min_dist:
        dist = min_dist
        stop = ref - d * dist
    if dist > p[P.P_MAX_STOP_ATR] * atr:
        return L.R_STOP_TOO_FAR
    final_r = p[P.P_FINAL_R]
    if p[P.P_TARGET_LIQUIDITY] > 0.5:
        target = sig[L.SIG_LONG_TARGET] if d > 0 else sig[L.SIG_SHORT_TARGET]
        if np.isfinite(target):
            final_r = min(d * (target - ref) / dist, p[P.P_MAX_TARGET_R])
    if final_r < p[P.P_MIN_RR]:
        return L.R_MIN_RR
    equity = acct[L.A_EQUITY]
    if equity <= 0.0:
        return L.R_NO_EQUITY
    risk = risk_fraction(acct, atr, close, p)
    size = sig[L.SIG_SIZE]
    if np.isfinite(size):
        if size <= 0.0:
            return L.R_MODEL
        risk *= size
    if acct[L.A_DERISK] > 0.0:
        risk *= 1.0 - acct[L.A_DERISK]  # the model-health flag's de-risking
    qty = equity * risk / (dist + costs)
    held = committed_notional(acct, trades, close)
    room = min(
        p[P.P_MAX_SYMBOL_EXPOSURE] * equity - held,
        p[P.P_MAX_TOTAL_EXPOSURE] * equity - held - acct[L.A_EXTERNAL],
        p[P.P_MAX_LEVERAGE] * equity - held - acct[L.A_EXTERNAL],
    )
    qty = min(qty, room / ref)
    step = p[P.P_QTY_STEP]
    if step > 0.0:
        qty = math.floor(qty / step) * step
    if qty <= 0.0 or qty * ref < p[P.P_MIN_NOTIONAL]:
        return L.R_EXPOSURE
    row[L.R_TYPE] = kind
    row[L.R_PRICE] = ref if kind != L.ORDER_MARKET else np.nan
    row[L.R_QTY] = qty
    row[L.R_STOP] = stop
    row[L.R_TP1] = ref + d * p[P.P_TP1_R] * dist if p[P.P_TP1_R] < final_r else np.nan
    row[L.R_TP2] = ref + d * p[P.P_TP2_R] * dist if p[P.P_TP2_R] < final_r else np.nan
    row[L.R_TP3] = ref + d * final_r * dist
    row[L.R_F1] = p[P.P_TP1_FRACTION]
    row[L.R_F2] = p[P.P_TP2_FRACTION]
    return L.R_NONE


class EntryRefused(ValueError):
    """The risk manager refused an entry; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        """Keep the reason."""
        super().__init__(f"entry refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class EntryPlan:
    """A sized bracket order: what the risk manager would send for an entry."""

    direction: int
    order_type: str
    entry: float
    qty: float
    stop: float
    take_profits: tuple[float, ...]
    fractions: tuple[float, ...]
    reward_risk: float
    risk_amount: float


def plan_order(
    risk: RiskConfig,
    direction: int,
    price: float,
    stop: float,
    atr: float,
    equity: float,
    target: float | None = None,
    taker_fee: float = 0.0005,
    slippage_bps: float = 1.0,
    size: float | None = None,
) -> EntryPlan:
    """Size an entry with the engine's risk manager (the same compiled code as every runner).

    Args:
        risk: The risk settings.
        direction: +1 long, -1 short.
        price: The price the decision is made at (the bar's close).
        stop: The protective stop; must be below ``price`` for a long, above for a short.
        atr: The current ATR (stop limits and volatility are measured in it).
        equity: Account equity.
        target: The next liquidity level in the trade's direction, if known.
        taker_fee: Fee of the market entry and the stop, as a fraction of notional.
        slippage_bps: Expected slippage per taker fill, basis points.
        size: Risk multiplier of a model's sizing (``None``: the rules' own size; 0 declines).

    Raises:
        ValueError: A bad argument (names it), e.g. a stop on the wrong side of the price.
        EntryRefused: The risk rules refuse the entry (too far a stop, reward:risk below the
            minimum, the caps leave no size); ``reason`` says which.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be 1 (long) or -1 (short), got {direction!r}")
    for name, value in (("price", price), ("atr", atr), ("equity", equity)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(stop):
        raise ValueError(f"stop must be a number, got {stop!r}")
    if direction * (price - stop) <= 0:
        side, where = ("long", "below") if direction > 0 else ("short", "above")
        raise ValueError(
            f"stop {stop:g} is on the wrong side of the price {price:g}: a {side}'s stop must be "
            f"{where} it"
        )
    p = np.zeros(P.NP)
    risk.fill(p)
    p[P.P_TAKER_FEE] = taker_fee
    p[P.P_SLIP_BPS] = slippage_bps
    acct = np.zeros(L.NA)
    acct[L.A_EQUITY] = equity
    acct[L.A_VOL_EMA] = np.nan
    sig = np.full(L.NS, np.nan)
    sig[L.SIG_ATR] = atr
    sig[L.SIG_LONG_STOP if direction > 0 else L.SIG_SHORT_STOP] = stop
    if target is not None:
        sig[L.SIG_LONG_TARGET if direction > 0 else L.SIG_SHORT_TARGET] = target
    if size is not None:
        sig[L.SIG_SIZE] = size
    row = np.full(L.NR, np.nan)
    trades = np.zeros((L.MAX_SLOTS, L.NT))
    code = plan_entry(acct, trades, float(direction), float(price), sig, p, row)
    if code != L.R_NONE:
        raise EntryRefused(L.REASONS[code])
    ref = row[L.R_PRICE] if np.isfinite(row[L.R_PRICE]) else price
    dist = abs(ref - row[L.R_STOP])
    levels = [row[f] for f in (L.R_TP1, L.R_TP2, L.R_TP3)]
    fractions = [row[L.R_F1], row[L.R_F2]]
    kept = [(lv, fr) for lv, fr in zip(levels[:2], fractions, strict=True) if np.isfinite(lv)]
    rest = 1.0 - sum(fr for _, fr in kept)
    return EntryPlan(
        direction=direction,
        order_type=L.ORDER_TYPES[int(row[L.R_TYPE])],
        entry=float(ref),
        qty=float(row[L.R_QTY]),
        stop=float(row[L.R_STOP]),
        take_profits=(*tuple(float(lv) for lv, _ in kept), float(levels[2])),
        fractions=(*tuple(float(fr) for _, fr in kept), rest),
        reward_risk=float(abs(levels[2] - ref) / dist),
        risk_amount=float(row[L.R_QTY] * dist),
    )
