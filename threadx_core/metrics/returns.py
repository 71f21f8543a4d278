"""Equity metrics of a return series, one function per metric (empyrical style; docs/ARCHITECTURE.md,
Metrics).

Every function takes simple ``returns`` rₖ = Eₖ/Eₖ₋₁ − 1 of shape ``(T,)`` or ``(T, n)`` (or more
dimensions), reduces over ``axis`` (default 0: periods down the rows, one series per column) and
returns an array of the remaining shape (0-d for one series: ``float()`` it). The equity is
compounded from E₀ = 1: Eₖ = Π_{j≤k}(1 + r_j) (:func:`equity_curve`), so a per-bar curve's returns
(:func:`simple_returns`) give its metrics up to rounding. ``periods_per_year`` P annualises: 365
for daily returns, 525 600 / bar minutes for per-bar returns (crypto trades 24/7), 1 for
per-period figures (e.g. the per-day Sharpe of the deflated Sharpe ratio).

Degenerate cases, one rule each (the streaming accumulators of :mod:`threadx_core.metrics.nb`
follow the same rules):

* no return (T = 0): total_return 0.0, max_drawdown 0.0, max_drawdown_duration 0;
* fewer than two returns: volatility, sharpe, sortino NaN (no spread);
* flat (every r = 0): volatility, sharpe, sortino 0.0 (and calmar 0.0: no growth, no drawdown);
* std(r) = 0 with mean ≠ 0 (constant non-zero returns): volatility 0.0, sharpe ±inf (the mean's
  sign); no negative return with mean > 0: sortino +inf;
* a return after a non-positive equity (Eₖ ≤ 0 for some k < T) is undefined: volatility, sharpe,
  sortino NaN;
* final equity ≤ 0: cagr −1.0; a span of ``periods`` ≤ 0: cagr NaN; cagr may overflow to +inf on a
  short span (see ``cagr_short_window``);
* no drawdown: calmar +inf when cagr > 0, 0.0 when cagr = 0, NaN otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike


def _by_period(values: ArrayLike, axis: int) -> np.ndarray:
    """``values`` as float64 with the period axis first."""
    return np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)


def _curve(r: np.ndarray) -> np.ndarray:
    """:func:`equity_curve` of period-first returns, period axis first."""
    return np.concatenate([np.ones((1, *r.shape[1:])), np.cumprod(1.0 + r, axis=0)])


def simple_returns(equity: ArrayLike, axis: int = 0) -> np.ndarray:
    """rₜ = Eₜ/Eₜ₋₁ − 1 for t ≥ 1: one period fewer than ``equity`` along ``axis``."""
    e = _by_period(equity, axis)
    return np.moveaxis(e[1:] / e[:-1] - 1.0, 0, axis)


def equity_curve(returns: ArrayLike, axis: int = 0) -> np.ndarray:
    """E₀ = 1, Eₖ = Eₖ₋₁·(1 + rₖ) = Π_{j≤k}(1 + r_j): the compounded equity per unit of initial
    capital, one period more than ``returns`` along ``axis``."""
    return np.moveaxis(_curve(_by_period(returns, axis)), 0, axis)


def total_return(returns: ArrayLike, axis: int = 0) -> np.ndarray:
    """Π(1 + rₖ) − 1 = E_T − 1 (0.0 with no return)."""
    return _curve(_by_period(returns, axis))[-1] - 1.0


def cagr(returns: ArrayLike, periods_per_year: float, periods: float, axis: int = 0) -> np.ndarray:
    """(1 + total_return)^(P/periods) − 1, where ``periods`` is the calendar span in periods (from
    the start of the first period to the end of the last, gaps included); −1.0 when E_T ≤ 0, NaN
    when ``periods`` ≤ 0."""
    final = _curve(_by_period(returns, axis))[-1]
    if periods <= 0:
        return np.full(final.shape, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        grown = np.power(final, periods_per_year / periods) - 1.0
    return np.where(final <= 0.0, -1.0, grown)


def _undefined(r: np.ndarray) -> np.ndarray:
    """True where some return of period-first ``r`` follows a non-positive equity."""
    return np.any(~(_curve(r)[:-1] > 0.0), axis=0)


def _risk_ratio(returns: ArrayLike, axis: int, formula: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``formula`` (period-first returns → per series) with the module's rules: NaN with fewer than
    two returns or after a non-positive equity, 0.0 for a flat series, x/0 = ±inf (0/0 NaN)."""
    r = _by_period(returns, axis)
    if r.shape[0] < 2:
        return np.full(r.shape[1:], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(np.any(r, axis=0), formula(r), 0.0)
    return np.where(_undefined(r), np.nan, value)


def volatility(returns: ArrayLike, periods_per_year: float, axis: int = 0) -> np.ndarray:
    """std(r, ddof 1)·√P."""
    root = math.sqrt(periods_per_year)
    return _risk_ratio(returns, axis, lambda r: np.std(r, axis=0, ddof=1) * root)


def sharpe(returns: ArrayLike, periods_per_year: float, axis: int = 0) -> np.ndarray:
    """mean(r)/std(r, ddof 1)·√P (risk-free 0; P = 1: the per-period Sharpe, not annualised)."""
    root = math.sqrt(periods_per_year)
    return _risk_ratio(returns, axis, lambda r: r.mean(axis=0) / np.std(r, axis=0, ddof=1) * root)


def sortino(returns: ArrayLike, periods_per_year: float, axis: int = 0) -> np.ndarray:
    """mean(r)/√mean(min(r, 0)²)·√P (target 0; the downside deviation over every period)."""
    root = math.sqrt(periods_per_year)
    return _risk_ratio(
        returns, axis, lambda r: r.mean(axis=0) / np.sqrt(np.mean(np.minimum(r, 0.0) ** 2, axis=0)) * root)


def max_drawdown(returns: ArrayLike, axis: int = 0) -> np.ndarray:
    """min(E/cummax(E) − 1) over :func:`equity_curve` (E₀ = 1 included): ≤ 0, a fraction of the
    running peak."""
    curve = _curve(_by_period(returns, axis))
    return np.min(curve / np.maximum.accumulate(curve, axis=0) - 1.0, axis=0)


def max_drawdown_duration(returns: ArrayLike, axis: int = 0) -> np.ndarray:
    """Periods from the peak before the deepest drawdown (the last period at that peak; the first
    deepest trough when several tie) until the equity is back at that peak, or until the last
    period if it never is; 0 without drawdown (int64)."""
    curve = _curve(_by_period(returns, axis))
    running = np.maximum.accumulate(curve, axis=0)
    depth = curve / running - 1.0
    trough = np.expand_dims(np.argmin(depth, axis=0), 0)
    peak_value = np.take_along_axis(running, trough, axis=0)
    position = np.arange(curve.shape[0]).reshape(-1, *[1] * (curve.ndim - 1))
    at_peak = (curve == peak_value) & (position <= trough)
    peak = curve.shape[0] - 1 - np.argmax(at_peak[::-1], axis=0)
    recovered = (curve >= peak_value) & (position > trough)
    end = np.where(np.any(recovered, axis=0), np.argmax(recovered, axis=0), curve.shape[0] - 1)
    return np.where(np.min(depth, axis=0) < 0.0, end - peak, 0).astype(np.int64)


def calmar(returns: ArrayLike, periods_per_year: float, periods: float, axis: int = 0) -> np.ndarray:
    """:func:`cagr`/|:func:`max_drawdown`|; without drawdown +inf when CAGR > 0, 0.0 when CAGR = 0,
    NaN otherwise."""
    growth = cagr(returns, periods_per_year, periods, axis)
    drawdown = max_drawdown(returns, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = growth / np.abs(drawdown)
    undrawn = np.where(growth > 0.0, np.inf, np.where(growth == 0.0, 0.0, np.nan))
    return np.where(drawdown == 0.0, undrawn, ratio)
