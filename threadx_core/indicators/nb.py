"""Numba kernels behind :mod:`threadx_core.indicators` (docs/ARCHITECTURE.md, Strategy).

Pure array-in/array-out functions, compiled with ``cache=True``; no pandas, no validation (the
friendly layer in :mod:`threadx_core.indicators` checks arguments). Every kernel is causal: the
value at ``t`` reads inputs at ``t`` and before only.

Numerical contract
------------------
Rolling statistics are computed **per window from the window's own values**, not with a running
sum: each output depends only on the ``period`` inputs it covers, so

* a value computed over ``[warm-up tail + month]`` is *bitwise* equal to the same value computed
  over the whole series (nothing depends on the absolute position), and
* a NaN poisons only the windows that contain it.

Each window is shifted by its own last value ``r = x[t]``: the deviations ``y = x − r`` are
exact for prices within a factor 2 of each other (Sterbenz), so the mean ``r + Σy/n`` is within
about one ulp of the exact mean, and ``var = Σy²/n − (Σy/n)²`` suffers no cancellation at the
price's scale. Because ``r`` is in the window, ``(Σy/n)² ≤ n·σ²``: the relative error of σ² is
at most about ``n(n+1)·ε`` (ε = 2⁻⁵³), i.e. σ is accurate *relative to σ itself* — ≤ 3e-14 for
n = 20, ≤ 6e-12 for n = 300 — however small σ is against the price (measured: ~1e-15). Cost is
O(bars × period) per window, the price of position independence (≈ 20 ms for a symbol-year of
1m bars at period 20).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: ATR smoothing methods, as integer codes for the kernels.
ATR_WILDER = 0
ATR_EMA = 1
ATR_SMA = 2


@njit(cache=True)
def window_mean_std_nb(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and population standard deviation (ddof 0) over ``period`` values.

    Returns ``(mean, std)``; both NaN for ``t < period − 1`` and for windows holding a NaN or an
    infinity. Per window, shifted by its own last value ``r = x[t]``: ``y = x − r``,
    ``m = Σy/n``, ``var = Σy²/n − m²``, ``mean = r + m``.
    """
    n = x.size
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    for t in range(period - 1, n):
        ref = x[t]
        s1 = 0.0
        s2 = 0.0
        for j in range(t - period + 1, t + 1):
            y = x[j] - ref
            s1 += y
            s2 += y * y
        m = s1 / period
        var = s2 / period - m * m
        if math.isfinite(var) and math.isfinite(ref):
            mean[t] = ref + m
            std[t] = math.sqrt(var) if var > 0.0 else 0.0
    return mean, std


@njit(cache=True)
def window_mean_nb(x: np.ndarray, period: int) -> np.ndarray:
    """Rolling mean over ``period`` values, same arithmetic as :func:`window_mean_std_nb`
    (``x[t] + Σ(x − x[t])/n``); NaN for ``t < period − 1`` and windows holding a NaN."""
    n = x.size
    out = np.full(n, np.nan)
    for t in range(period - 1, n):
        ref = x[t]
        ysum = 0.0
        for j in range(t - period + 1, t + 1):
            ysum += x[j] - ref
        m = ysum / period
        if math.isfinite(m) and math.isfinite(ref):
            out[t] = ref + m
    return out


@njit(cache=True)
def true_range_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                  prev_close: float) -> np.ndarray:
    """True range per bar. ``prev_close`` is the close before bar 0 (NaN when there is none):
    then TR₀ = high₀ − low₀; otherwise TRₜ = max(hₜ − lₜ, |hₜ − cₜ₋₁|, |lₜ − cₜ₋₁|). Any NaN among
    the bar's inputs gives NaN."""
    n = high.size
    out = np.empty(n)
    pc = prev_close
    for t in range(n):
        h = high[t]
        lo = low[t]
        tr = h - lo
        if not math.isnan(pc):
            tr = max(tr, abs(h - pc), abs(lo - pc))
        if math.isnan(h) or math.isnan(lo) or (t > 0 and math.isnan(pc)):
            tr = np.nan
        out[t] = tr
        pc = close[t]
    return out


@njit(cache=True)
def atr_recursive_nb(tr: np.ndarray, period: int, method: int, seen: int, value: float,
                     seed_sum: float) -> tuple[np.ndarray, int, float, float]:
    """Wilder or EMA smoothing of a true-range series, continuing from a state.

    State: ``seen`` true ranges already consumed, ``value`` the last ATR (NaN if none yet),
    ``seed_sum`` the sequential sum of the first ``min(seen, period)`` true ranges (wilder seed).

    * wilder: NaN until ``period`` TRs are seen; then mean(TR₀…TRₙ₋₁) (sequential sum / n), then
      ``ATRₜ = ATRₜ₋₁ + (TRₜ − ATRₜ₋₁)/n``.
    * ema: α = 2/(n+1); ``ATR₀ = TR₀``, then ``ATRₜ = ATRₜ₋₁ + α·(TRₜ − ATRₜ₋₁)``.

    A NaN true range makes every later value NaN (the recursion carries it). Returns
    ``(atr, seen, value, seed_sum)`` with the state after the last bar.
    """
    n = tr.size
    out = np.empty(n)
    alpha = 2.0 / (period + 1.0)
    for t in range(n):
        x = tr[t]
        seen += 1
        if method == ATR_EMA:
            value = x if seen == 1 else value + alpha * (x - value)
        elif seen < period:
            seed_sum += x
        elif seen == period:
            seed_sum += x
            value = seed_sum / period
        else:
            value = value + (x - value) / period
        out[t] = value
    return out, seen, value, seed_sum
