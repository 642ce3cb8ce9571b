"""The engine's parameter vector: every config value the numba state machine reads, by index.

One float64 vector instead of many typed arguments keeps the compiled functions' signatures
fixed: a parameter sweep never recompiles. :func:`serving.engine.config.BacktestConfig.params`
fills it from the frozen configs.
"""

from __future__ import annotations

# risk manager
P_RISK = 0  # fraction of equity risked per trade
P_MAX_RISK = 1  # cap after volatility scaling and Kelly (<= HARD_RISK_CAP)
P_VOL_SCALING = 2  # 1: scale risk by reference volatility / current volatility
P_VOL_ALPHA = 3  # EMA weight of the volatility reference
P_VOL_MIN = 4  # bounds of the volatility multiplier
P_VOL_MAX = 5
P_KELLY_FRACTION = 6  # 0: off
P_KELLY_LOOKBACK = 7
P_KELLY_MIN_TRADES = 8
P_KELLY_FLOOR = 9  # lowest risk fraction Kelly may set
P_MIN_RR = 10
P_TP1_R = 11
P_TP2_R = 12
P_TP1_FRACTION = 13
P_TP2_FRACTION = 14
P_FINAL_R = 15  # final target in R when no liquidity level is used
P_MAX_TARGET_R = 16
P_TARGET_LIQUIDITY = 17  # 1: final target at the next liquidity level
P_BREAKEVEN = 18  # 1: stop to breakeven after TP1
P_TRAIL = 19  # 0 off, 1 after TP1, 2 always
P_MIN_STOP_ATR = 20
P_MAX_STOP_ATR = 21
P_MAX_POSITIONS = 22
P_MAX_SYMBOL_EXPOSURE = 23
P_MAX_TOTAL_EXPOSURE = 24
P_MAX_LEVERAGE = 25
P_ENTRY_TYPE = 26
P_ENTRY_OFFSET_ATR = 27
P_ENTRY_TIMEOUT_NS = 28
P_MAX_HOLD_NS = 29  # 0: no time stop
P_MIN_NOTIONAL = 30
P_QTY_STEP = 31  # 0: continuous quantities
# protections
P_MAX_DRAWDOWN = 32  # 0: off
P_DRAWDOWN_HALT_NS = 33
P_DAILY_LOSS = 34  # 0: off
P_COOLDOWN_LOSSES = 35  # 0: off
P_COOLDOWN_NS = 36
P_GUARD_TRADES = 37  # 0: off
P_GUARD_WINDOW_NS = 38
P_GUARD_HALT_NS = 39
# execution
P_TAKER_FEE = 40
P_MAKER_FEE = 41
P_SLIP_BPS = 42
P_SLIP_RANGE = 43
P_LIMIT_THROUGH = 44  # 1: a limit fills only when price trades beyond it
P_REPLAY = 45  # 1: match on lower-timeframe bars when given
# account and bars
P_INITIAL_CASH = 46
P_TF_NS = 47
P_BREAKEVEN_OFFSET_R = 48  # breakeven stop sits this many R beyond the entry (covers fees)
P_MIN_STOP_COSTS = 49  # a stop is at least this many times the estimated round-trip costs away
P_HARD_STOP = 50  # account hard stop: drawdown fraction that closes everything and halts; 0: off
NP = 51

HARD_RISK_CAP = 0.02
"""No configuration may risk more than 2% of equity on one trade."""
