"""Record layouts of the engine's state machine: one float64 row per record, fields by index.

The engine keeps all of its state in a few float64 arrays so that one set of numba functions
drives the backtest kernel, the bar-by-bar reference runner and the live runner alike:

- ``acct`` (``NA``): the account (cash, position, equity, protections, counters, rings);
- ``trades`` (``MAX_SLOTS x NT``): the engine's view of each trade slot;
- ``book`` (``MAX_SLOTS x NB``): the (simulated) exchange's bracket orders, one per slot;
- request rows (``NR``): what the engine asks the exchange at a bar's close;
- fill rows (``NF``): what the exchange reports back during a bar;
- closed-trade rows (``NTR``) and protection events (``NE``): the engine's logs;
- signal rows (``NS``): what a strategy says about one closed bar.

Times are int64 UTC nanoseconds stored in float64 (exact up to 2**53 ns, i.e. year 2255).
"""

from __future__ import annotations

from typing import Any

NO_REFCOUNT: dict[str, Any] = {"_nrt": False}
"""numba options of the state machine's functions, which allocate nothing: without reference
counting, passing a dozen arrays to a call costs nothing instead of an atomic increment and
decrement per array."""

MAX_SLOTS = 16
"""Most concurrent trades (open or pending) the engine supports."""

# -- signal row: a strategy's intents for one closed bar -------------------------------------------
SIG_ENTRY = 0  # +1 enter long, -1 enter short, 0 nothing
SIG_SCORE = 1  # confluence score of the entry (reporting)
SIG_LONG_STOP = 2  # structure stop for a long entered now (NaN: none)
SIG_SHORT_STOP = 3
SIG_LONG_TARGET = 4  # next buy-side liquidity above (NaN: none known)
SIG_SHORT_TARGET = 5  # next sell-side liquidity below
SIG_ATR = 6  # ATR at this bar's close
SIG_TRAIL_LONG = 7  # new trailing-stop candidate for longs (a confirmed swing low), else NaN
SIG_TRAIL_SHORT = 8
SIG_EXIT_LONG = 9  # 1: close longs at the next open
SIG_EXIT_SHORT = 10
SIG_FACTORS = 11  # bit mask of the confluence factors present (reporting)
SIG_SIZE = 12  # risk multiplier of the entry (a model's sizing); NaN: 1, the rules' own size
NS = 13
SIGNAL_FIELDS: tuple[str, ...] = (
    "entry", "score", "long_stop", "short_stop", "long_target", "short_target", "atr",
    "trail_long", "trail_short", "exit_long", "exit_short", "factors", "size",
)  # fmt: skip

# -- account ---------------------------------------------------------------------------------------
A_CASH = 0
A_QTY = 1  # net position (signed base units)
A_EQUITY = 2  # cash + qty * last close
A_PEAK = 3  # equity high-water mark of the drawdown protection
A_PREV_EQUITY = 4  # equity at the previous close
A_DAY = 5  # UTC day number of the last bar
A_DAY_START = 6  # equity at the start of that day
A_HALT_UNTIL = 7  # entries halted while a bar closes before this time (ns)
A_HALT_CODE = 8  # reason code of the halt
A_CONSEC_LOSSES = 9
A_FEES = 10
A_FUNDING = 11  # funding paid (negative: received)
A_REALIZED = 12  # realized gross PnL
A_NEXT_ID = 13  # next trade id
A_NEXT_REQ = 14  # next request id
A_VOL_EMA = 15  # EMA of ATR / close: the volatility scaling reference
A_VOL_N = 16
A_HIST_N = 17  # closed trades in the Kelly ring
A_HIST_HEAD = 18
A_GUARD_N = 19  # stop-outs in the stop-loss guard ring
A_GUARD_HEAD = 20
A_BARS = 21  # bars processed
A_TURNOVER = 22  # traded notional
A_N_FILLS = 23  # rows written to the logs
A_N_ORDERS = 24
A_N_TRADES = 25
A_N_EVENTS = 26
A_LAST_TS = 27  # open time of the last bar processed
A_LAST_CLOSE = 28
A_EXTERNAL = 29  # notional held in other symbols (set by a multi-symbol runner; 0 here)
A_HARD_PEAK = 30  # equity high-water mark of the account hard stop (reset only by re-arming)
A_HARD_HALTED = 31  # 1: the hard stop fired and is not re-armed (every trade closed, no entry)
A_HARD_AT = 32  # close time of the bar the hard stop last fired at (ns; 0: never)
A_HARD_DD = 33  # drawdown that fired it
A_HARD_BARS = 34  # bars closed with the hard stop in force (the firing bar included)
A_DERISK = 35  # 1 - the model-health risk multiplier (0: healthy; 1: new entries paused)
A_BLOCKED = 36  # first of N_REASONS counters of blocked entries, by reason
N_REASONS = 20
HIST_CAP = 256
GUARD_CAP = 64
A_HIST = A_BLOCKED + N_REASONS  # ring of the last closed trades' R multiples (Kelly)
A_GUARD = A_HIST + HIST_CAP  # ring of the last losing stop-out times (stop-loss guard)
NA = A_GUARD + GUARD_CAP

# -- reasons an entry was blocked; timed halts carry one of the first four -------------------------
R_NONE = 0
R_HALT_DRAWDOWN = 1
R_HALT_DAILY_LOSS = 2
R_HALT_COOLDOWN = 3
R_HALT_STOPLOSS_GUARD = 4
R_MAX_POSITIONS = 5
R_OPPOSITE = 6
R_NO_STOP = 7
R_STOP_WRONG_SIDE = 8
R_STOP_TOO_FAR = 9
R_MIN_RR = 10
R_EXPOSURE = 11
R_NO_EQUITY = 12
R_REJECTED = 13  # the exchange refused the entry order
R_MODEL = 14  # the model sized the entry to zero (a model-filtered strategy)
R_HARD_STOP = 15  # the account hard stop fired and nobody re-armed it
R_HEALTH = 16  # the model-health flag pauses new entries
REASONS: tuple[str, ...] = (
    "none",
    "halted: max drawdown",
    "halted: daily loss limit",
    "halted: cooldown after consecutive losses",
    "halted: stop-loss guard",
    "max concurrent positions",
    "opposite position open",
    "no structure stop",
    "stop on the wrong side",
    "stop too far",
    "reward:risk below minimum",
    "exposure/leverage cap leaves too small a size",
    "no equity",
    "rejected by the exchange",
    "declined by the model",
    "halted: account hard stop",
    "paused: model health",
)

# -- trade slot: the engine's view -----------------------------------------------------------------
T_STATE = 0  # 0 free, 1 entry pending, 2 open, 3 closing (market close requested)
T_ID = 1
T_DIR = 2
T_PLACED_TS = 3  # close time of the signal bar
T_ENTRY_TS = 4  # open time of the bar the entry filled in
T_ENTRY_PRICE = 5
T_QTY = 6  # open quantity
T_QTY0 = 7  # filled entry quantity
T_STOP = 8  # current stop
T_STOP0 = 9  # initial stop
T_TP1 = 10
T_TP2 = 11
T_TP3 = 12
T_TP_DONE = 13  # take-profit levels filled so far
T_BE = 14  # stop moved to breakeven
T_FEES = 15
T_FUNDING = 16
T_GROSS = 17  # realized gross PnL
T_EXIT_NOTIONAL = 18  # sum of exit price * qty
T_RISK = 19  # money at risk at entry: qty0 * |entry - stop0|
T_SCORE = 20
T_FACTORS = 21
T_PLAN_PRICE = 22  # reference entry price of the plan
T_QTY_EXITED = 23
T_LAST_KIND = 24
NT = 25
STATE_FREE, STATE_PENDING, STATE_OPEN, STATE_CLOSING = 0, 1, 2, 3

# -- exchange bracket order, one per slot ----------------------------------------------------------
B_STATE = 0  # 0 none, 1 entry working, 2 position open (stop and take-profits working)
B_ID = 1
B_DIR = 2
B_TYPE = 3  # ORDER_MARKET / ORDER_LIMIT / ORDER_STOP
B_PRICE = 4  # limit or stop price of the entry
B_QTY = 5  # entry quantity
B_ACTIVE_TS = 6  # matchable in bars opening at or after this time
B_POS = 7  # open position quantity
B_STOP = 8
B_TP1 = 9
B_TP2 = 10
B_TP3 = 11
B_F1 = 12  # fraction of the entry quantity taken at TP1
B_F2 = 13
B_Q1 = 14  # quantity still working at each level
B_Q2 = 15
B_Q3 = 16
B_CLOSE = 17  # 1: close at market at the next open
B_CLOSE_TS = 18  # matchable from this time
NB = 19
BOOK_NONE, BOOK_ENTRY, BOOK_OPEN = 0, 1, 2

ORDER_MARKET, ORDER_LIMIT, ORDER_STOP = 0, 1, 2
ORDER_TYPES: tuple[str, ...] = ("market", "limit", "stop")

# -- request row: engine -> exchange at a bar's close ----------------------------------------------
R_TS = 0  # close time of the bar the request was made at
R_REQ = 1  # request id
R_ID = 2  # trade id
R_SLOT = 3
R_ACTION = 4
R_DIR = 5
R_TYPE = 6
R_PRICE = 7
R_QTY = 8
R_STOP = 9
R_TP1 = 10
R_TP2 = 11
R_TP3 = 12
R_F1 = 13
R_F2 = 14
NR = 15
REQUEST_FIELDS: tuple[str, ...] = (
    "ts", "request_id", "trade_id", "slot", "action", "direction", "order_type", "price",
    "qty", "stop", "tp1", "tp2", "tp3", "tp1_fraction", "tp2_fraction",
)  # fmt: skip
ACT_NEW, ACT_AMEND_STOP, ACT_CANCEL, ACT_CLOSE = 0, 1, 2, 3
ACTIONS: tuple[str, ...] = ("new", "amend_stop", "cancel", "close")

# -- fill row: exchange -> engine ------------------------------------------------------------------
F_TS = 0  # open time of the bar the fill happened in
F_ID = 1  # trade id
F_SLOT = 2
F_KIND = 3
F_SIDE = 4  # +1 buy, -1 sell
F_PRICE = 5
F_QTY = 6
F_FEE = 7
F_MAKER = 8  # 1 maker (resting limit), 0 taker
F_CLOSED = 9  # 1 when this fill closed the slot's position
NF = 10
FILL_FIELDS: tuple[str, ...] = (
    "ts", "trade_id", "slot", "kind", "side", "price", "qty", "fee", "maker", "closed",
)  # fmt: skip
K_ENTRY, K_STOP, K_TP1, K_TP2, K_TP3, K_CLOSE = 0, 1, 2, 3, 4, 5
FILL_KINDS: tuple[str, ...] = ("entry", "stop", "tp1", "tp2", "tp3", "close")

# -- closed-trade row ------------------------------------------------------------------------------
C_ID = 0
C_DIR = 1
C_SIGNAL_TS = 2
C_ENTRY_TS = 3
C_EXIT_TS = 4
C_ENTRY_PRICE = 5
C_EXIT_PRICE = 6  # average exit price
C_QTY = 7
C_STOP0 = 8
C_TARGET = 9  # final take-profit level
C_GROSS = 10
C_FEES = 11
C_FUNDING = 12
C_NET = 13
C_R = 14  # net PnL / money at risk
C_EXIT_KIND = 15  # fill kind of the last exit
C_TP_DONE = 16
C_SCORE = 17
C_FACTORS = 18
C_RISK = 19
NTR = 20
TRADE_FIELDS: tuple[str, ...] = (
    "trade_id", "direction", "signal_ts", "entry_ts", "exit_ts", "entry_price", "exit_price",
    "qty", "stop", "target", "gross_pnl", "fees", "funding", "net_pnl", "r_multiple",
    "exit_kind", "take_profits_hit", "score", "factors", "risk",
)  # fmt: skip

# -- protection event row --------------------------------------------------------------------------
E_TS = 0  # close time of the bar that triggered it
E_CODE = 1  # R_HALT_* or R_HARD_STOP
E_UNTIL = 2  # entries halted until this time (NaN: until re-armed, the hard stop)
E_VALUE = 3  # the measured value (drawdown, loss, count)
E_LIMIT = 4  # the configured limit it reached
NE = 5
EVENT_FIELDS: tuple[str, ...] = ("ts", "code", "until", "value", "limit")

MAX_FILLS_PER_BAR = 5 * MAX_SLOTS
MAX_REQUESTS_PER_BAR = MAX_SLOTS + 1
MAX_EVENTS_PER_BAR = 5
