"""The CPU sweep kernel: every combination of a :class:`~threadx_core.sweep.layout.Layout`, in
parallel over combinations (Numba ``prange``), metrics and daily returns.

:func:`combo_nb` is the per-combination body shared with the CUDA kernel
(:mod:`threadx_core.sweep.cuda`): the steps of
:func:`threadx_core.engine.nb.run_metrics_nb` — the same step functions and
accumulators, fed in the same order, so the metrics are bitwise those of the reference engine on
the CPU — plus a sample of the equity at each day end.

Daily returns (row of ``daily``): r_k = E(day_end_k)/E(day_end_{k−1}) − 1 with E before the first
day = initial capital, E the equity after the bar's close (the last bar's after the end-of-window
close), so Π(1 + r_k) − 1 = total_return up to rounding.

Speed: LLVM declines to inline the large step functions (a call per bar, the State passed through
memory — about 3× slower). The CPU kernel therefore runs a *copy* of :func:`combo_nb` whose globals
resolve the step functions to ``inline="always"`` copies of the very same Python functions
(:func:`_inlined`): same source, same rules, inlined at Numba-IR level. It is also compiled with
``error_model="numpy"``: a float division by zero gives IEEE inf/NaN instead of a per-division
``ZeroDivisionError`` check (another 2×). Every division the engine performs is guarded or has a
positive divisor on the inputs the layout accepts (finite prices > 0), so results are unchanged
(bitwise: the parity tests compare against the reference engine). The reference engine and the
CUDA kernel keep the originals.

The CPU body is :func:`combo_fast_nb`, :func:`combo_nb` with a fast path over flat stretches
(figures in docs/BENCHMARKS.md): see its docstring for why that path changes no result bit.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
from numba import njit, parallel_chunksize, prange
from numba.extending import register_jitable

from threadx_core.engine import nb as engine_nb
from threadx_core.engine.nb import (
    ENTRY_TIME,
    NO_ORDER,
    account,
    close_at_end,
    load_carry,
    loop_params,
    mark,
    source_digest,
    step_bar,
    store_carry,
)
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.metrics import nb as metrics_nb
from threadx_core.metrics.nb import (
    equity_acc_add,
    equity_acc_repeat,
    metrics_into,
)
from threadx_core.sweep.layout import Layout

#: Functions of :mod:`engine_nb` and :mod:`metrics_nb` force-inlined in the CPU kernel.
ENGINE_HOT = ("step_bar", "fill_pending", "check_stop", "decide_at_close", "trail_stop",
              "exit_reason", "entry_side", "entry_qty", "open_position", "close_position",
              "with_stop", "with_order", "no_trade", "mark", "close_at_end", "account")
METRICS_HOT = ("equity_acc_add", "equity_acc_repeat", "trade_acc_add")
#: Combinations per scheduling unit of the parallel loop: small, so threads balance dynamically
#: (neighbouring combinations share a window and cost alike; far ones differ a lot).
PARALLEL_CHUNK = 2


@register_jitable
def combo_params(scalars: np.ndarray, i: int) -> engine_nb.LoopParams:
    """The loop parameters of combination ``i`` from its :data:`layout.SCALAR_COLUMNS` row."""
    return loop_params(scalars[i, 1], scalars[i, 2] != 0.0, scalars[i, 3] != 0.0,
                       int(scalars[i, 4]), scalars[i, 5] != 0.0, scalars[i, 6], scalars[i, 7],
                       scalars[i, 8], scalars[i, 9], scalars[i, 10] != 0.0, scalars[i, 11])


@register_jitable
def combo_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
             middle: np.ndarray, sigma: np.ndarray, atr: np.ndarray, bb_std: float,
             p: engine_nb.LoopParams, day_end: np.ndarray, bars_per_year: float,
             elapsed_minutes: float, start: np.ndarray, close_end: bool, out: np.ndarray,
             daily: np.ndarray, end: np.ndarray) -> None:
    """Run one combination over the window (its indicator rows ``middle``/``sigma``/``atr``, all
    arrays ``(n,)``) from the carried state row ``start`` (``engine_nb.CARRY_COLUMNS``); write
    its :data:`OUTPUT_KEYS` row into ``out`` (21 values: the metrics of the run since the state
    was fresh), its daily returns into ``daily`` (``day_end.size`` values) and its carried state
    at the window's end into ``end``. ``close_end``: the evaluated window ends at the last bar
    (close an open position, exit "end"; drop a pending order); else both are carried."""
    n = close.size
    st, eq, tr, c_prev, up_prev, lo_prev, day_start, minutes = load_carry(start)
    minutes += elapsed_minutes
    day = 0
    for t in range(n):
        c = close[t]
        mid = middle[t]
        up = mid + bb_std * sigma[t]
        lo = mid - bb_std * sigma[t]
        st, closed = step_bar(st, t, open_[t], high[t], low[t], c, c_prev, mid, up, lo, up_prev,
                              lo_prev, atr[t], p)
        tr = account(tr, closed)
        if t == n - 1 and close_end:
            st, closed = close_at_end(st, t, c, p)
            tr = account(tr, closed)
        e = mark(st, c)
        eq = equity_acc_add(eq, e)
        if t == day_end[day]:
            daily[day] = e / day_start - 1.0
            day_start = e
            if day + 1 < day_end.size:
                day += 1
        c_prev, up_prev, lo_prev = c, up, lo
    metrics_into(out, eq, tr, bars_per_year, minutes)
    store_carry(end, st, eq, tr, c_prev, up_prev, lo_prev, day_start, minutes, n,
                start[ENTRY_TIME])


@register_jitable
def combo_fast_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                  middle: np.ndarray, sigma: np.ndarray, atr: np.ndarray, bb_std: float,
                  p: engine_nb.LoopParams, crosses: np.ndarray, day_end: np.ndarray,
                  bars_per_year: float, elapsed_minutes: float, start: np.ndarray,
                  close_end: bool, out: np.ndarray, daily: np.ndarray, end: np.ndarray) -> None:
    """:func:`combo_nb` with a fast path over flat stretches: the CPU kernel's body, bitwise the
    same results.

    A bar that starts flat with no pending order changes no state unless it signals an entry,
    and its equity is the previous bar's (cash + 0·close, prices being finite). It signals one
    only at a band cross of ``crosses`` (this combination's, :mod:`threadx_core.sweep.signals`,
    increasing window positions) with a finite ATR and an equity > 0. So from such a bar — not
    the first, with a finite equity — the kernel jumps to the next cross that can enter, or to
    the day's last bar (daily sample; the window's last is one) if that comes first, and feeds
    the bars skipped to the equity accumulator at once (:func:`metrics_nb.equity_acc_repeat`,
    bitwise the same as bar by bar). The bar jumped to, and every other bar, takes the general
    step (:func:`engine_nb.step_bar`, :func:`metrics_nb.equity_acc_add`) with the previous bar's
    bands recomputed by the same expressions. Flat bars are most bars of a mean-reversion sweep
    (about 80 % on the reference grid), and cost nothing here. The first bar always takes the
    general step: its previous close and bands are the carried ones, not in ``crosses``.
    """
    n = close.size
    st, eq, tr, c_prev, up_prev, lo_prev, day_start, minutes = load_carry(start)
    minutes += elapsed_minutes
    day = 0
    k, k_end = 0, crosses.size
    t = 0
    while t < n:
        if t > 0 and st.side == 0 and st.pending == NO_ORDER and math.isfinite(eq.last):
            target = day_end[day]
            can_enter = eq.last > 0.0
            while k < k_end and crosses[k] < target:
                if crosses[k] >= t and can_enter and math.isfinite(atr[crosses[k]]):
                    target = crosses[k]
                    break
                k += 1
            if target > t:
                eq = equity_acc_repeat(eq, target - t)
                t = target
                c_prev = close[t - 1]
                up_prev = middle[t - 1] + bb_std * sigma[t - 1]
                lo_prev = middle[t - 1] - bb_std * sigma[t - 1]
        # The general step, as in combo_nb. Kept inline on purpose: a shared function returning
        # the seven updated values gave identical results but a 15–20 % slower kernel.
        mid = middle[t]
        up = mid + bb_std * sigma[t]
        lo = mid - bb_std * sigma[t]
        c = close[t]
        st, closed = step_bar(st, t, open_[t], high[t], low[t], c, c_prev, mid, up, lo, up_prev,
                              lo_prev, atr[t], p)
        tr = account(tr, closed)
        if t == n - 1 and close_end:
            st, closed = close_at_end(st, t, c, p)
            tr = account(tr, closed)
        e = mark(st, c)
        eq = equity_acc_add(eq, e)
        if t == day_end[day]:
            daily[day] = e / day_start - 1.0
            day_start = e
            if day + 1 < day_end.size:
                day += 1
        c_prev, up_prev, lo_prev = c, up, lo
        if t == n - 1:
            # Stored here, not after the loop: the state live past the loop measured 7 % slower.
            store_carry(end, st, eq, tr, c, up, lo, day_start, minutes, n, start[ENTRY_TIME])
        t += 1
    metrics_into(out, eq, tr, bars_per_year, minutes)


def _clone(fn: types.FunctionType, namespace: dict[str, Any]) -> types.FunctionType:
    """``fn`` with its global names looked up in ``namespace``."""
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)


def _inlined(fn: types.FunctionType) -> Any:
    """A Numba function (``error_model="numpy"``) running ``fn``'s code where the
    :data:`ENGINE_HOT` and :data:`METRICS_HOT` functions (and what they call among themselves)
    are ``inline="always"`` copies of the same code."""
    engine_ns, metrics_ns = dict(vars(engine_nb)), dict(vars(metrics_nb))
    for module, namespace, names in ((metrics_nb, metrics_ns, METRICS_HOT),
                                     (engine_nb, engine_ns, ENGINE_HOT)):
        for name in names:
            copy = _clone(getattr(module, name), namespace)
            namespace[name] = njit(inline="always", error_model="numpy")(copy)
    hot = {name: metrics_ns[name] for name in METRICS_HOT}
    engine_ns.update(hot)  # account() feeds the metrics accumulators
    hot.update({name: engine_ns[name] for name in ENGINE_HOT})
    return njit(error_model="numpy")(_clone(fn, {**fn.__globals__, **hot}))


combo_cpu = _inlined(combo_fast_nb)


def _build(dependencies: str) -> Any:
    """The kernel in a closure over the dependencies' digest (see
    :func:`engine_nb.source_digest`), so Numba's disk cache follows edits of the engine."""

    @njit(parallel=True, cache=True, nogil=True, error_model="numpy")
    def sweep_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 middle: np.ndarray, sigma: np.ndarray, atr: np.ndarray, bb_row: np.ndarray,
                 atr_row: np.ndarray, scalars: np.ndarray, signal_row: np.ndarray,
                 signal_start: np.ndarray, signal_bars: np.ndarray, day_end: np.ndarray,
                 bars_per_year: float, elapsed_minutes: float, carried: np.ndarray,
                 close_end: bool, start: int, stop: int, out: np.ndarray, daily: np.ndarray,
                 end: np.ndarray) -> None:
        """Combinations ``start ≤ i < stop`` in parallel, each from its row of ``carried``
        ``(m, len(CARRY_COLUMNS))``; row ``i − start`` of ``out`` ``(stop − start, 21)``, of
        ``daily`` ``(stop − start, d)`` and of ``end`` receives combination ``i``."""
        dependencies  # noqa: B018 -- a closure variable keys the on-disk cache on it
        for j in prange(stop - start):
            i = start + j
            s = signal_row[i]
            combo_cpu(open_, high, low, close, middle[bb_row[i]], sigma[bb_row[i]],
                      atr[atr_row[i]], scalars[i, 0], combo_params(scalars, i),
                      signal_bars[signal_start[s]:signal_start[s + 1]], day_end, bars_per_year,
                      elapsed_minutes, carried[i], close_end, out[j], daily[j], end[j])

    return sweep_nb


sweep_nb = _build(source_digest(metrics_nb, engine_nb))


def run_chunk(layout: Layout, start: int,
              stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Metrics ``(stop − start, len(OUTPUT_KEYS))``, daily returns ``(stop − start, days)`` and
    carried end states ``(stop − start, len(CARRY_COLUMNS))`` (entry times not filled) of
    combinations ``[start, stop)`` of ``layout``, on the CPU (all Numba threads)."""
    out = np.empty((stop - start, len(OUTPUT_KEYS)))
    daily = np.empty((stop - start, layout.n_days))
    end = np.empty((stop - start, layout.start.shape[1]))
    with parallel_chunksize(PARALLEL_CHUNK):
        sweep_nb(layout.open, layout.high, layout.low, layout.close, layout.middle, layout.sigma,
                 layout.atr, layout.bb_row, layout.atr_row, layout.scalars, layout.signal_row,
                 layout.signal_start, layout.signal_bars, layout.day_end,
                 layout.bars_per_year, layout.elapsed_minutes, layout.start, layout.close_end,
                 start, stop, out, daily, end)
    return out, daily, end
