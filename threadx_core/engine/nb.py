"""The strategy (docs/ARCHITECTURE.md, Strategy) as a compiled state machine — the oracle every
sweep kernel copies.

Layout
------
* :class:`LoopParams` (scalars), :class:`State` (the whole per-run state: cash, position, stop,
  pending order) and :class:`Closed` (a trade closed during a step, or none) are NamedTuples of
  scalars: no allocation, no Python object in the per-bar path.
* The bar-step functions (:func:`fill_pending`, :func:`check_stop`, :func:`trail_stop`,
  :func:`decide_at_close`, :func:`step_bar`, :func:`close_at_end`, :func:`mark`) are pure
  functions ``(State, bar values, LoopParams) -> (State, Closed)`` decorated with
  :func:`numba.extending.register_jitable`: they compile inside CPU ``@njit`` loops and CUDA
  kernels alike (Numba's "generic" target), and run as plain Python in a debugger. They never
  record anything.
* Drivers: :func:`run_nb` runs them over arrays and records equity, position, cash and the
  trade log (:func:`record`); :func:`run_metrics_nb` runs the *same* steps and only feeds the
  metric accumulators of :mod:`threadx_core.metrics.nb` (:func:`account`) — the body a
  metrics-only sweep runs per parameter combination.
* Carried state (:data:`CARRY_COLUMNS`, :func:`load_carry`, :func:`store_carry`): everything a
  run holds at the end of a window — the :class:`State`, the previous bar's close and bands, the
  last daily sample, the calendar minutes run and both metric accumulators — as one float64 row,
  so the next window (the next month) continues the *same* run: started from that row, a window
  gives the trades, equity and accumulators of one run over both (the same operations in the
  same order). Bar numbers in the
  row are relative to the next window (``entry_bar`` −1 = the last bar of the window that
  stored it). :mod:`threadx_core.engine.carry` types the rows as a frame.

Accounting (exact by construction): ``flat_cash`` is the cash while flat = initial capital + Σ
realised trade pnl, summed in trade order. Opening sets ``cash = flat_cash − side·qty·fill −
fee``; closing computes the trade's net pnl = side·qty·(exit − entry) − fees and sets ``cash =
flat_cash = flat_cash + pnl``. So the final equity (always flat) *is* initial + Σ pnl, bitwise
equal to the sequential sum. Equity at a close is ``cash + position·close``.

Conventions settled here where the strategy rules (docs/ARCHITECTURE.md, Strategy) are silent:

* "flat at this close" means flat once the bar's open fills and stops are done: a position that
  is exited at this close (``fill="close"``) does not allow an entry at the same close;
* when take-profit and max-hold both hold, the reason is ``take_profit``;
* the trailing stop does not move on a bar whose ATR is NaN;
* an entry needs a finite ATR at the signal bar; with ATR 0 the size is the leverage cap;
* the fee is charged on the notional at the fill price (slippage included);
* with ``fill="close"`` an entry signalled on the last bar fills and is closed at once ("end");
* a trade's return = pnl / (qty·entry price).

The shared functions avoid the ``min``/``max`` builtins (explicit comparisons instead): Numba's
CUDA target fails to compile them in this code (checked with ``cuda.compile_ptx``).
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
from numba import njit
from numba.extending import register_jitable

from threadx_core.metrics import nb as metrics_nb
from threadx_core.metrics.nb import (
    EquityAcc,
    TradeAcc,
    equity_acc_add,
    equity_acc_new,
    metrics_into,
    trade_acc_add,
    trade_acc_new,
)

#: Exit reasons (codes in the trade log) and their names.
NO_EXIT, TAKE_PROFIT, STOP, MAX_HOLD, END = 0, 1, 2, 3, 4
EXIT_REASONS: dict[int, str] = {TAKE_PROFIT: "take_profit", STOP: "stop", MAX_HOLD: "max_hold",
                                END: "end"}
#: Pending order kinds (``State.pending``): entries carry the side (+1 long, −1 short).
NO_ORDER, EXIT_ORDER = 0, 2


class LoopParams(NamedTuple):
    """The scalars the loop needs (rates, not bps). Build with :func:`loop_params`."""

    atr_mult: float
    trailing: bool
    take_profit_mid: bool
    max_hold_bars: int
    allow_short: bool
    risk_per_trade: float
    leverage: float
    fee_rate: float
    slip_rate: float
    fill_close: bool
    initial_capital: float


class State(NamedTuple):
    """Everything the strategy carries from bar to bar.

    ``side`` +1 long, −1 short, 0 flat; ``qty`` > 0 while in position; ``entry_bar`` the bar of
    the entry fill; ``pending`` NO_ORDER, ±1 (entry of that side) or EXIT_ORDER, to fill at the
    next open, with ``pending_qty``/``pending_dist`` (atr_mult·ATR of the signal bar) or
    ``pending_reason``.
    """

    cash: float
    flat_cash: float
    side: int
    qty: float
    entry_price: float
    entry_fee: float
    entry_bar: int
    stop: float
    pending: int
    pending_qty: float
    pending_dist: float
    pending_reason: int


class Closed(NamedTuple):
    """A trade closed during a step (``reason`` NO_EXIT: none). Prices include slippage."""

    reason: int
    side: int
    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    qty: float
    fees: float
    pnl: float


@register_jitable
def loop_params(atr_mult: float, trailing: bool, take_profit_mid: bool, max_hold_bars: int,
                allow_short: bool, risk_per_trade: float, leverage: float, fee_bps: float,
                slippage_bps: float, fill_close: bool, initial_capital: float) -> LoopParams:
    """Typed :class:`LoopParams` from user units (bps → rates)."""
    return LoopParams(float(atr_mult), bool(trailing), bool(take_profit_mid), int(max_hold_bars),
                      bool(allow_short), float(risk_per_trade), float(leverage),
                      fee_bps / 10_000.0, slippage_bps / 10_000.0, bool(fill_close),
                      float(initial_capital))


@register_jitable
def initial_state(initial_capital: float) -> State:
    """Flat, all cash, no pending order."""
    return State(initial_capital, initial_capital, 0, 0.0, np.nan, 0.0, -1, np.nan, NO_ORDER,
                 0.0, 0.0, NO_EXIT)


@register_jitable
def with_stop(st: State, stop: float) -> State:
    """``st`` with another stop (NamedTuple._replace is not available in compiled code)."""
    return State(st.cash, st.flat_cash, st.side, st.qty, st.entry_price, st.entry_fee,
                 st.entry_bar, stop, st.pending, st.pending_qty, st.pending_dist,
                 st.pending_reason)


@register_jitable
def with_order(st: State, pending: int, qty: float, dist: float, reason: int) -> State:
    """``st`` with another pending order (NO_ORDER, ±1 entry, EXIT_ORDER)."""
    return State(st.cash, st.flat_cash, st.side, st.qty, st.entry_price, st.entry_fee,
                 st.entry_bar, st.stop, pending, qty, dist, reason)


@register_jitable
def no_trade() -> Closed:
    """The 'nothing closed' event."""
    return Closed(NO_EXIT, 0, -1, -1, np.nan, np.nan, 0.0, 0.0, 0.0)


@register_jitable
def open_position(st: State, side: int, qty: float, price: float, dist: float, t: int,
                  p: LoopParams) -> State:
    """Fill an entry of ``side`` at ``price`` (before slippage) on bar ``t``; the stop is set at
    ``dist`` from the fill price."""
    fill = price * (1.0 + side * p.slip_rate)
    fee = p.fee_rate * (qty * fill)
    return State(st.flat_cash - side * qty * fill - fee, st.flat_cash, side, qty, fill, fee, t,
                 fill - side * dist, NO_ORDER, 0.0, 0.0, NO_EXIT)


@register_jitable
def close_position(st: State, price: float, t: int, reason: int,
                   p: LoopParams) -> tuple[State, Closed]:
    """Close the whole position at ``price`` (before slippage) on bar ``t``."""
    side, qty = st.side, st.qty
    fill = price * (1.0 - side * p.slip_rate)
    fee = p.fee_rate * (qty * fill)
    fees = st.entry_fee + fee
    pnl = side * qty * (fill - st.entry_price) - fees
    flat_cash = st.flat_cash + pnl
    closed = Closed(reason, side, st.entry_bar, t, st.entry_price, fill, qty, fees, pnl)
    return State(flat_cash, flat_cash, 0, 0.0, np.nan, 0.0, -1, np.nan, NO_ORDER, 0.0, 0.0,
                 NO_EXIT), closed


@register_jitable
def fill_pending(st: State, t: int, o: float, p: LoopParams) -> tuple[State, Closed]:
    """Step 1: fill the order pending from the previous close at this bar's open."""
    if st.pending == EXIT_ORDER:
        return close_position(st, o, t, st.pending_reason, p)
    if st.pending != NO_ORDER:
        return open_position(st, st.pending, st.pending_qty, o, st.pending_dist, t, p), no_trade()
    return st, no_trade()


@register_jitable
def check_stop(st: State, t: int, o: float, h: float, lo: float,
               p: LoopParams) -> tuple[State, Closed]:
    """Step 2: intrabar stop, gap-through included (long: low ≤ stop → exit at min(stop, open);
    short: high ≥ stop → exit at max(stop, open)); slippage is applied by the close."""
    if st.side > 0 and lo <= st.stop:
        return close_position(st, st.stop if st.stop < o else o, t, STOP, p)
    if st.side < 0 and h >= st.stop:
        return close_position(st, st.stop if st.stop > o else o, t, STOP, p)
    return st, no_trade()


@register_jitable
def mark(st: State, c: float) -> float:
    """Equity at price ``c``: cash + position·c."""
    return st.cash + (st.side * st.qty) * c


@register_jitable
def trail_stop(st: State, c: float, atr: float, p: LoopParams) -> State:
    """Step 3a: ratchet a trailing stop to close ∓ atr_mult·ATR (never loosens it)."""
    if not p.trailing or st.side == 0 or not math.isfinite(atr):
        return st
    if st.side > 0:
        level = c - p.atr_mult * atr
        return with_stop(st, level) if level > st.stop else st
    level = c + p.atr_mult * atr
    return with_stop(st, level) if level < st.stop else st


@register_jitable
def exit_reason(st: State, t: int, c: float, mid: float, p: LoopParams) -> int:
    """Step 3b, in position: TAKE_PROFIT when close has reached the middle band, else MAX_HOLD
    when held bars (t − entry fill bar) ≥ max_hold_bars > 0, else NO_EXIT."""
    if p.take_profit_mid and ((st.side > 0 and c >= mid) or (st.side < 0 and c <= mid)):
        return TAKE_PROFIT
    if p.max_hold_bars > 0 and t - st.entry_bar >= p.max_hold_bars:
        return MAX_HOLD
    return NO_EXIT


@register_jitable
def entry_side(c: float, c_prev: float, up: float, lo: float, up_prev: float, lo_prev: float,
               atr: float, allow_short: bool) -> int:
    """Step 3c, flat: +1 when close crosses below the lower band, −1 when it crosses above the
    upper band (if shorts are allowed), else 0. NaN anywhere (or a non-finite ATR) → 0."""
    if not math.isfinite(atr):
        return 0
    if c < lo and c_prev >= lo_prev:
        return 1
    if allow_short and c > up and c_prev <= up_prev:
        return -1
    return 0


@register_jitable
def entry_qty(equity: float, c: float, dist: float, p: LoopParams) -> float:
    """Risk-based size risk·equity/dist (dist = atr_mult·ATR), capped at leverage·equity/close."""
    cap = p.leverage * equity / c
    if dist > 0.0:
        qty = p.risk_per_trade * equity / dist
        return qty if qty < cap else cap
    return cap


@register_jitable
def decide_at_close(st: State, t: int, c: float, c_prev: float, mid: float, up: float, lo: float,
                    up_prev: float, lo_prev: float, atr: float,
                    p: LoopParams) -> tuple[State, Closed]:
    """Step 3 after marking: trail, then exit (in position) or entry (flat) decisions; the order
    fills now with ``fill="close"``, else it is left pending for the next open."""
    if st.side != 0:
        st = trail_stop(st, c, atr, p)
        reason = exit_reason(st, t, c, mid, p)
        if reason == NO_EXIT:
            return st, no_trade()
        if p.fill_close:
            return close_position(st, c, t, reason, p)
        return with_order(st, EXIT_ORDER, 0.0, 0.0, reason), no_trade()
    equity = mark(st, c)
    side = entry_side(c, c_prev, up, lo, up_prev, lo_prev, atr, p.allow_short)
    if side == 0 or not equity > 0.0:
        return st, no_trade()
    dist = p.atr_mult * atr
    qty = entry_qty(equity, c, dist, p)
    if p.fill_close:
        return open_position(st, side, qty, c, dist, t, p), no_trade()
    return with_order(st, side, qty, dist, NO_EXIT), no_trade()


@register_jitable
def step_bar(st: State, t: int, o: float, h: float, lo_px: float, c: float, c_prev: float,
             mid: float, up: float, lo: float, up_prev: float, lo_prev: float, atr: float,
             p: LoopParams) -> tuple[State, Closed]:
    """One bar, steps 1–4 of the strategy rules (docs/ARCHITECTURE.md, Strategy). At most one trade
    closes per step (an open fill that exits
    leaves nothing to stop; a stop leaves nothing to exit at the close)."""
    st, closed = fill_pending(st, t, o, p)
    if closed.reason == NO_EXIT:
        st, closed = check_stop(st, t, o, h, lo_px, p)
    st, at_close = decide_at_close(st, t, c, c_prev, mid, up, lo, up_prev, lo_prev, atr, p)
    if at_close.reason != NO_EXIT:
        closed = at_close
    return st, closed


@register_jitable
def close_at_end(st: State, t: int, c: float, p: LoopParams) -> tuple[State, Closed]:
    """Step 5, after the last bar's step: drop a pending order, close a position at the close."""
    st = with_order(st, NO_ORDER, 0.0, 0.0, NO_EXIT)
    if st.side == 0:
        return st, no_trade()
    return close_position(st, c, t, END, p)


#: Columns of the trade log written by :func:`record` (bars and codes stored as exact floats).
LOG_COLUMNS = ("reason", "side", "entry_bar", "exit_bar", "entry_price", "exit_price", "qty",
               "fees", "pnl")


@register_jitable
def record(log: np.ndarray, k: int, closed: Closed) -> int:
    """Write ``closed`` as row ``k`` of ``log`` if it is a trade; return the next free row."""
    if closed.reason == NO_EXIT:
        return k
    log[k, 0], log[k, 1] = closed.reason, closed.side
    log[k, 2], log[k, 3] = closed.entry_bar, closed.exit_bar
    log[k, 4], log[k, 5], log[k, 6] = closed.entry_price, closed.exit_price, closed.qty
    log[k, 7], log[k, 8] = closed.fees, closed.pnl
    return k + 1


@register_jitable
def previous(x: np.ndarray, t: int, before: float) -> float:
    """``x[t − 1]``; at t = 0 ``before``, the value carried from the previous window (NaN when
    the run starts here)."""
    if t > 0:
        return x[t - 1]
    return before


#: The carried state, in row order: the :class:`State` fields, the previous bar's values, the
#: equity at the last daily sample, the calendar minutes run so far, the equity accumulator
#: (``eq_``) and trade accumulator (``tr_``) fields, the entry time (epoch ms, −1 when flat;
#: filled by the Python callers, which know the bar times).
CARRY_COLUMNS: tuple[str, ...] = (
    *State._fields, "prev_close", "prev_upper", "prev_lower", "day_start", "minutes",
    *(f"eq_{name}" for name in EquityAcc._fields), *(f"tr_{name}" for name in TradeAcc._fields),
    "entry_time",
)
#: Offsets of the groups in a carry row.
_PREV, _EQ = len(State._fields), len(State._fields) + 5
_TR = _EQ + len(EquityAcc._fields)
ENTRY_TIME = _TR + len(TradeAcc._fields)


@register_jitable
def load_carry(row: np.ndarray) -> tuple[State, EquityAcc, TradeAcc, float, float, float, float,
                                         float]:
    """A carry row → ``(state, equity acc, trade acc, prev close, prev upper, prev lower, day
    start equity, minutes run)``, the start of a window (the inverse of :func:`store_carry`)."""
    st = State(row[0], row[1], int(row[2]), row[3], row[4], row[5], int(row[6]), row[7],
               int(row[8]), row[9], row[10], int(row[11]))
    e = _EQ
    eq = EquityAcc(int(row[e]), row[e + 1], row[e + 2], int(row[e + 3]), row[e + 4], row[e + 5],
                   row[e + 6], row[e + 7] != 0.0, row[e + 8], int(row[e + 9]), row[e + 10] != 0.0,
                   row[e + 11], int(row[e + 12]), row[e + 13], int(row[e + 14]), int(row[e + 15]))
    r = _TR
    tr = TradeAcc(int(row[r]), int(row[r + 1]), int(row[r + 2]), row[r + 3], row[r + 4],
                  row[r + 5], row[r + 6], row[r + 7], row[r + 8], row[r + 9], int(row[r + 10]))
    return st, eq, tr, row[_PREV], row[_PREV + 1], row[_PREV + 2], row[_PREV + 3], row[_PREV + 4]


@register_jitable
def store_carry(row: np.ndarray, st: State, eq: EquityAcc, tr: TradeAcc, c_prev: float,
                up_prev: float, lo_prev: float, day_start: float, minutes: float, n: int,
                entry_time: float) -> None:
    """Write the end of an ``n``-bar window into ``row`` (see :data:`CARRY_COLUMNS`): the entry
    bar becomes relative to the next window (entry_bar − n); ``entry_time`` is the carried one,
    kept while the position opened before this window is still open, else −1."""
    entry_bar = st.entry_bar - n if st.side != 0 else -1
    row[0], row[1], row[2], row[3] = st.cash, st.flat_cash, st.side, st.qty
    row[4], row[5], row[6], row[7] = st.entry_price, st.entry_fee, entry_bar, st.stop
    row[8], row[9], row[10], row[11] = st.pending, st.pending_qty, st.pending_dist, st.pending_reason
    row[_PREV], row[_PREV + 1], row[_PREV + 2] = c_prev, up_prev, lo_prev
    row[_PREV + 3], row[_PREV + 4] = day_start, minutes
    e = _EQ
    row[e], row[e + 1], row[e + 2], row[e + 3] = eq.bars, eq.first, eq.last, eq.n_ret
    row[e + 4], row[e + 5], row[e + 6] = eq.sum_r, eq.sum_r2, eq.first_r
    row[e + 7] = 1.0 if eq.same_r else 0.0
    row[e + 8], row[e + 9] = eq.down_sq, eq.nonzero
    row[e + 10] = 1.0 if eq.undefined else 0.0
    row[e + 11], row[e + 12], row[e + 13] = eq.peak, eq.peak_bar, eq.max_dd
    row[e + 14], row[e + 15] = eq.mdd_peak_bar, eq.mdd_end
    r = _TR
    row[r], row[r + 1], row[r + 2], row[r + 3] = tr.n, tr.wins, tr.losses, tr.gross_win
    row[r + 4], row[r + 5], row[r + 6] = tr.gross_loss, tr.largest_win, tr.largest_loss
    row[r + 7], row[r + 8], row[r + 9], row[r + 10] = tr.pnl_sum, tr.fees, tr.notional, tr.held
    row[ENTRY_TIME] = entry_time if st.side != 0 and st.entry_bar < 0 else -1.0


@njit(cache=True)
def run_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
           middle: np.ndarray, upper: np.ndarray, lower: np.ndarray, atr: np.ndarray,
           p: LoopParams, start: np.ndarray, close_end: bool, elapsed_minutes: float,
           end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the strategy over aligned arrays (indicators precomputed, NaN where undefined),
    from the carry row ``start`` (:data:`CARRY_COLUMNS`); write the carry row of the window's
    end into ``end``. ``close_end``: the evaluated window ends here (step 5: close and drop);
    else the position and pending order are carried in ``end``. ``elapsed_minutes``: the
    window's calendar span, added to the minutes carried.

    Returns ``(equity, position, cash, log)``: three per-bar arrays taken after the bar's close
    (the last one after the end-of-window close) and the trade log, one row per closed trade
    with :data:`LOG_COLUMNS` (a trade carried in has a negative entry bar).
    """
    n = close.size
    equity = np.empty(n)
    position = np.empty(n)
    cash = np.empty(n)
    log = np.empty((n + 1, len(LOG_COLUMNS)))
    k = 0
    st, eq, tr, c_before, up_before, lo_before, _, minutes = load_carry(start)
    for t in range(n):
        st, closed = step_bar(st, t, open_[t], high[t], low[t], close[t],
                              previous(close, t, c_before), middle[t], upper[t], lower[t],
                              previous(upper, t, up_before), previous(lower, t, lo_before),
                              atr[t], p)
        k = record(log, k, closed)
        tr = account(tr, closed)
        if t == n - 1 and close_end:
            st, closed = close_at_end(st, t, close[t], p)
            k = record(log, k, closed)
            tr = account(tr, closed)
        equity[t] = mark(st, close[t])
        eq = equity_acc_add(eq, equity[t])
        position[t] = st.side * st.qty
        cash[t] = st.cash
    # A window's last bar is always a daily sample of the sweeps (layout.day_ends), so the next
    # window's first day starts from the last equity.
    store_carry(end, st, eq, tr, close[n - 1], upper[n - 1], lower[n - 1], equity[n - 1],
                minutes + elapsed_minutes, n, start[ENTRY_TIME])
    return equity, position, cash, log[:k].copy()


@register_jitable
def account(acc: TradeAcc, closed: Closed) -> TradeAcc:
    """Feed ``closed`` to the trade accumulator if it is a trade."""
    if closed.reason == NO_EXIT:
        return acc
    notional = closed.qty * closed.entry_price + closed.qty * closed.exit_price
    return trade_acc_add(acc, closed.pnl, closed.fees, notional,
                         closed.exit_bar - closed.entry_bar)


def _metrics_loop(dependencies: str) -> Any:
    """Build :func:`run_metrics_nb`; see :func:`source_digest` for ``dependencies``."""

    @njit(cache=True)
    def run_metrics_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                       middle: np.ndarray, sigma: np.ndarray, bb_std: float, atr: np.ndarray,
                       p: LoopParams, bars_per_year: float, elapsed_minutes: float,
                       out: np.ndarray) -> None:
        """Metrics-only run for one parameter combination: the bands are derived per bar as
        ``middle ± bb_std·σ`` (the formula of :func:`threadx_core.indicators.bands`), the steps of
        :func:`run_nb` run unchanged, and ``out`` receives the :data:`metrics.OUTPUT_KEYS` row —
        bitwise equal to ``metrics.summarize`` of the :func:`run_nb` result. No allocation."""
        dependencies  # noqa: B018 -- a closure variable keys the on-disk cache on it
        n = close.size
        st = initial_state(p.initial_capital)
        eq = equity_acc_new()
        tr = trade_acc_new()
        up_prev, lo_prev = np.nan, np.nan
        for t in range(n):
            up = middle[t] + bb_std * sigma[t]
            lo = middle[t] - bb_std * sigma[t]
            st, closed = step_bar(st, t, open_[t], high[t], low[t], close[t],
                                  previous(close, t, np.nan), middle[t], up, lo, up_prev, lo_prev,
                                  atr[t], p)
            tr = account(tr, closed)
            if t == n - 1:
                st, closed = close_at_end(st, t, close[t], p)
                tr = account(tr, closed)
            eq = equity_acc_add(eq, mark(st, close[t]))
            up_prev, lo_prev = up, lo
        metrics_into(out, eq, tr, bars_per_year, elapsed_minutes)

    return run_metrics_nb


def source_digest(*modules: ModuleType) -> str:
    """SHA-256 of the modules' source files.

    Numba's on-disk cache (``cache=True``) is invalidated only when the *decorated function's
    own file* changes, not when code it inlines from another module does. A cached kernel that
    calls into other modules should therefore be built in a closure over this digest: Numba
    hashes closure variables into the cache key, so editing a dependency recompiles it instead
    of loading stale machine code.
    """
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


run_metrics_nb = _metrics_loop(source_digest(metrics_nb, sys.modules[__name__]))
