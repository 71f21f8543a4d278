"""The streaming form of the metrics: Numba accumulators over scalars (docs/ARCHITECTURE.md, Metrics).

The accumulators (``*_acc_*``) and :func:`metrics_into` are allocation-free and decorated with
:func:`numba.extending.register_jitable`, so they compile inside CPU ``@njit`` loops *and* CUDA
kernels, and run as plain Python too. The equity accumulator takes one equity value per bar, the
trade accumulator one closed trade at a time; :func:`metrics_into` writes the metrics, in
:data:`OUTPUT_KEYS` order, into a float64 row. A sweep kernel that feeds the same values in the
same order gets bitwise the same numbers as :func:`summarize_nb` (behind
:func:`threadx_core.metrics.summarize`, on the CPU).

They compute, in one pass, the formulas of :mod:`threadx_core.metrics.returns` (over the per-bar
returns rₜ = Eₜ/Eₜ₋₁ − 1, t ≥ 1, P = bars per year = 525 600 / bar minutes) and
:mod:`threadx_core.metrics.trades`, with the same rule for each degenerate case — those modules are
the reference the tests hold these to. Where the streaming form differs: std(r) is exactly 0 only
while every r is bitwise the same (``same_r``), not when a two-pass std rounds to 0; CAGR's span is
``elapsed_minutes`` (calendar span of the window, the last bar included) and its exponent
1/years; ``cagr_short_window`` is true when that span is under :data:`SHORT_WINDOW_DAYS` days
(CAGR then extrapolates wildly and may overflow to +inf).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import register_jitable

from threadx_core.times import MINUTES_PER_DAY, MINUTES_PER_YEAR

#: The metric keys (docs/ARCHITECTURE.md, Metrics), in the order of a :func:`metrics_into` row.
METRIC_KEYS: tuple[str, ...] = (
    "total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration", "n_trades", "win_rate", "profit_factor", "expectancy", "avg_win",
    "avg_loss", "largest_win", "largest_loss", "exposure", "fees_paid", "turnover", "final_equity",
)
#: :data:`METRIC_KEYS` plus the CAGR short-window flag (1.0/0.0 in a row, bool in summarize).
OUTPUT_KEYS: tuple[str, ...] = (*METRIC_KEYS, "cagr_short_window")
INT_KEYS = frozenset({"max_drawdown_duration", "n_trades"})
#: A window under this many days flags its CAGR (``cagr_short_window``).
SHORT_WINDOW_DAYS = 30
SHORT_WINDOW_MINUTES = SHORT_WINDOW_DAYS * MINUTES_PER_DAY


class EquityAcc(NamedTuple):
    """Running statistics of an equity curve.

    ``sum_r``/``sum_r2``: Σr and Σr² (plain sums: a zero return — every flat bar — leaves them
    bitwise unchanged, which lets a sweep skip flat stretches, see :func:`equity_acc_repeat`);
    ``first_r``/``same_r``: the first r and whether every r so far equals it bitwise (then
    std(r) is exactly 0); ``down_sq``: Σ min(r, 0)²; ``nonzero``: count of r ≠ 0;
    ``undefined``: some r followed a non-positive equity; drawdown: running ``peak`` at
    ``peak_bar``, deepest ``max_dd`` whose peak was ``mdd_peak_bar`` and which recovered (equity
    back ≥ that peak) at ``mdd_end`` (−1 while not recovered).
    """

    bars: int
    first: float
    last: float
    n_ret: int
    sum_r: float
    sum_r2: float
    first_r: float
    same_r: bool
    down_sq: float
    nonzero: int
    undefined: bool
    peak: float
    peak_bar: int
    max_dd: float
    mdd_peak_bar: int
    mdd_end: int


class TradeAcc(NamedTuple):
    """Running statistics of closed trades (``held``: Σ bars in position, exit − entry bar)."""

    n: int
    wins: int
    losses: int
    gross_win: float
    gross_loss: float
    largest_win: float
    largest_loss: float
    pnl_sum: float
    fees: float
    notional: float
    held: int


@register_jitable
def equity_acc_new() -> EquityAcc:
    """An accumulator that has seen no bar."""
    return EquityAcc(0, np.nan, np.nan, 0, 0.0, 0.0, 0.0, True, 0.0, 0, False, np.nan, 0, 0.0, 0, -1)


@register_jitable
def equity_acc_add(acc: EquityAcc, e: float) -> EquityAcc:
    """Feed the equity of the next bar (bars must come in order, one call per bar)."""
    t = acc.bars
    if t == 0:
        return EquityAcc(1, e, e, 0, 0.0, 0.0, 0.0, True, 0.0, 0, False, e, 0, 0.0, 0, -1)
    n_ret, sum_r, sum_r2, down_sq = acc.n_ret, acc.sum_r, acc.sum_r2, acc.down_sq
    first_r, same_r = acc.first_r, acc.same_r
    nonzero, undefined = acc.nonzero, acc.undefined
    if acc.last > 0.0:
        r = e / acc.last - 1.0
        if n_ret == 0:
            first_r = r
        else:
            same_r = same_r and r == first_r
        n_ret += 1
        sum_r += r
        sum_r2 += r * r
        if r < 0.0:
            down_sq += r * r
        if r != 0.0:
            nonzero += 1
    else:
        undefined = True
    peak, peak_bar = acc.peak, acc.peak_bar
    max_dd, mdd_peak_bar, mdd_end = acc.max_dd, acc.mdd_peak_bar, acc.mdd_end
    if e >= peak:
        if max_dd < 0.0 and mdd_end < 0 and mdd_peak_bar == peak_bar:
            mdd_end = t
        peak, peak_bar = e, t
    else:
        dd = e / peak - 1.0
        if dd < max_dd:
            max_dd, mdd_peak_bar, mdd_end = dd, peak_bar, -1
    return EquityAcc(t + 1, acc.first, e, n_ret, sum_r, sum_r2, first_r, same_r, down_sq, nonzero,
                     undefined, peak, peak_bar, max_dd, mdd_peak_bar, mdd_end)


@register_jitable
def equity_acc_repeat(acc: EquityAcc, bars: int) -> EquityAcc:
    """Feed ``bars`` ≥ 1 more bars whose equity is the last one's: bitwise the same accumulator as
    ``bars`` calls of :func:`equity_acc_add` with ``acc.last``, in O(1).

    Requires ``acc.bars ≥ 1`` and a finite last equity e. Why it is exact: with e > 0 each bar's
    r = e/e − 1 is exactly 0, which adds exactly 0 to Σr, Σr², Σmin(r, 0)² and no non-zero count,
    and breaks ``same_r`` unless the first r was 0; with e ≤ 0 each r is undefined. The peak test
    repeats the last bar's: below the peak the drawdown is the last bar's (no new trough); at the
    peak only the peak bar moves, and the recovery test can hold only at the first repeated bar
    (from the second on, the peak bar is a repeated bar, never the deepest trough's peak).
    """
    t, e = acc.bars, acc.last
    n_ret, first_r, same_r, undefined = acc.n_ret, acc.first_r, acc.same_r, acc.undefined
    if e > 0.0:
        if n_ret == 0:
            first_r = 0.0
        else:
            same_r = same_r and first_r == 0.0
        n_ret += bars
    else:
        undefined = True
    peak, peak_bar, mdd_end = acc.peak, acc.peak_bar, acc.mdd_end
    if e >= peak:
        if acc.max_dd < 0.0 and mdd_end < 0 and acc.mdd_peak_bar == peak_bar:
            mdd_end = t
        peak, peak_bar = e, t + bars - 1
    return EquityAcc(t + bars, acc.first, e, n_ret, acc.sum_r, acc.sum_r2, first_r, same_r, acc.down_sq,
                     acc.nonzero, undefined, peak, peak_bar, acc.max_dd, acc.mdd_peak_bar, mdd_end)


@register_jitable
def trade_acc_new() -> TradeAcc:
    """An accumulator that has seen no trade."""
    return TradeAcc(0, 0, 0, 0.0, 0.0, np.nan, np.nan, 0.0, 0.0, 0.0, 0)


@register_jitable
def trade_acc_add(acc: TradeAcc, pnl: float, fees: float, notional: float, held: int) -> TradeAcc:
    """Feed one closed trade: net ``pnl``, ``fees`` paid, traded ``notional`` (entry + exit,
    qty·price each) and ``held`` = exit bar − entry fill bar."""
    wins, losses = acc.wins, acc.losses
    gross_win, gross_loss = acc.gross_win, acc.gross_loss
    largest_win, largest_loss = acc.largest_win, acc.largest_loss
    if pnl > 0.0:
        largest_win = pnl if wins == 0 or pnl > largest_win else largest_win
        wins += 1
        gross_win += pnl
    elif pnl < 0.0:
        largest_loss = pnl if losses == 0 or pnl < largest_loss else largest_loss
        losses += 1
        gross_loss += pnl
    return TradeAcc(acc.n + 1, wins, losses, gross_win, gross_loss, largest_win, largest_loss,
                    acc.pnl_sum + pnl, acc.fees + fees, acc.notional + notional, acc.held + held)


@register_jitable
def _ratio(num: float, den: float, flat: bool) -> float:
    """num/den, with the documented degenerate values: 0.0 when ``flat``; ±inf (sign of num)
    when den = 0 (NaN if num = 0 too)."""
    if flat:
        return 0.0
    if den == 0.0:
        return math.copysign(np.inf, num) if num != 0.0 else np.nan
    return num / den


@register_jitable
def metrics_into(out: np.ndarray, eq: EquityAcc, tr: TradeAcc, bars_per_year: float,
                 elapsed_minutes: float) -> None:
    """Write the :data:`OUTPUT_KEYS` metrics of a finished run into ``out[0:21]``.

    ``elapsed_minutes`` is the calendar span of the window: (last bar time − first bar time) +
    one bar (= bars·bar minutes without gaps).
    """
    total_return = eq.last / eq.first - 1.0
    years = elapsed_minutes / MINUTES_PER_YEAR
    if eq.last <= 0.0:
        cagr = -1.0
    else:
        cagr = (eq.last / eq.first) ** (1.0 / years) - 1.0
    flat = eq.nonzero == 0 and not eq.undefined
    root_p = math.sqrt(bars_per_year)
    if eq.n_ret < 2 or eq.undefined:
        volatility = sharpe = sortino = np.nan
    else:
        mean = eq.sum_r / eq.n_ret
        # Σr² − mean·Σr loses precision only when mean² ≫ var (a near-constant return), never seen
        # in an equity curve; bitwise-equal returns are caught by same_r and give exactly 0.
        variance = (eq.sum_r2 - mean * eq.sum_r) / (eq.n_ret - 1)
        std = 0.0 if eq.same_r or variance <= 0.0 else math.sqrt(variance)
        volatility = std * root_p
        sharpe = _ratio(mean, std, flat) * root_p
        sortino = _ratio(mean, math.sqrt(eq.down_sq / eq.n_ret), flat) * root_p
    if eq.max_dd == 0.0:
        calmar = np.inf if cagr > 0.0 else (0.0 if cagr == 0.0 else np.nan)
        duration = 0
    else:
        calmar = cagr / abs(eq.max_dd)
        end = eq.mdd_end if eq.mdd_end >= 0 else eq.bars - 1
        duration = end - eq.mdd_peak_bar
    n = tr.n
    out[0] = total_return
    out[1] = cagr
    out[2] = volatility
    out[3] = sharpe
    out[4] = sortino
    out[5] = calmar
    out[6] = eq.max_dd
    out[7] = duration
    out[8] = n
    out[9] = tr.wins / n if n > 0 else np.nan
    if tr.losses > 0:
        out[10] = tr.gross_win / abs(tr.gross_loss)
    else:
        out[10] = np.inf if tr.wins > 0 else np.nan
    out[11] = tr.pnl_sum / n if n > 0 else np.nan
    out[12] = tr.gross_win / tr.wins if tr.wins > 0 else np.nan
    out[13] = tr.gross_loss / tr.losses if tr.losses > 0 else np.nan
    out[14] = tr.largest_win
    out[15] = tr.largest_loss
    out[16] = tr.held / eq.bars
    out[17] = tr.fees
    out[18] = tr.notional / eq.first
    out[19] = eq.last
    out[20] = 1.0 if elapsed_minutes < SHORT_WINDOW_MINUTES else 0.0


@njit(cache=True)
def summarize_nb(out: np.ndarray, equity: np.ndarray, pnl: np.ndarray, fees: np.ndarray,
                 notional: np.ndarray, held: np.ndarray, bars_per_year: float,
                 elapsed_minutes: float) -> None:
    """Feed every bar of ``equity`` and every trade (``pnl``, ``fees``, traded ``notional``, bars
    ``held``) to the accumulators, then :func:`metrics_into` the :data:`OUTPUT_KEYS` row ``out``."""
    eq = equity_acc_new()
    for t in range(equity.size):
        eq = equity_acc_add(eq, equity[t])
    tr = trade_acc_new()
    for i in range(pnl.size):
        tr = trade_acc_add(tr, pnl[i], fees[i], notional[i], held[i])
    metrics_into(out, eq, tr, bars_per_year, elapsed_minutes)
