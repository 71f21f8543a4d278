"""When two kernels' results agree (docs/ARCHITECTURE.md, Sweeps and devices): the contract
between the CPU and the GPU sweep kernels.

The CPU kernel reproduces the reference engine bit for bit. The CUDA kernels run the same
operations without fused multiply-adds (:func:`threadx_core.sweep.cuda.exact_arithmetic`), but
the GPU's ``pow`` is not the CPU's, and a later change of compiler could round differently: the
contract is

* integer metrics (:data:`metrics.INT_KEYS`, ``n_trades`` among them) and flags: exactly equal;
* every other value (metrics, daily returns, carried states): ``|gpu − cpu| ≤ ATOL + RTOL·|cpu|``
  with NaN only where the other is NaN. ``RTOL`` = 1e-9 relative; ``ATOL`` = 1e-12 absolute
  covers the values that are differences of nearly equal numbers (a total return of 1e-8 is
  ``E/E₀ − 1`` with ``E/E₀`` exact to about 1e-16, so its *relative* rounding is about 1e-8).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from threadx_core.metrics import INT_KEYS, OUTPUT_KEYS

RTOL = 1e-9
ATOL = 1e-12
#: Metric columns compared exactly: the integer metrics and the ``cagr_short_window`` flag.
EXACT = tuple(k for k in OUTPUT_KEYS if k in INT_KEYS or k == "cagr_short_window")


def metric_disagreement(got: np.ndarray, want: np.ndarray) -> str | None:
    """How the ``(m, len(OUTPUT_KEYS))`` metrics ``got`` differ from ``want`` beyond the
    contract — the first metric off, its first row off and both values — or None."""
    if got.shape != want.shape:
        return f"metrics: shape {got.shape} vs {want.shape}"
    for column, key in enumerate(OUTPUT_KEYS):
        problem = _disagreement(key, got[:, column], want[:, column], exact=key in EXACT)
        if problem:
            return problem
    return None


def disagreement(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> str | None:
    """:func:`metric_disagreement` of the first arrays of two kernel outputs ``(metrics, daily,
    end states)``, then the others (daily returns, carried end states ``(m,
    len(carry.COLUMNS))``) value by value."""
    problem = metric_disagreement(got[0], want[0])
    for name, a, b in zip(("daily", "end state"), got[1:], want[1:], strict=True):
        if problem:
            return problem
        problem = (f"{name}: shape {a.shape} vs {b.shape}" if a.shape != b.shape
                   else _disagreement(name, a.ravel(), b.ravel(), exact=False))
    return problem


def max_relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """The largest ``|got − want| / |want|`` over the finite, non-zero ``want`` (0 if none)."""
    mask = np.isfinite(want) & (want != 0) & np.isfinite(got)
    return float(np.max(np.abs(got[mask] - want[mask]) / np.abs(want[mask]), initial=0.0))


def _disagreement(name: str, a: np.ndarray, b: np.ndarray, *, exact: bool) -> str | None:
    same = (a == b) | (np.isnan(a) & np.isnan(b)) if exact else np.isclose(
        a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
    if same.all():
        return None
    row = int(np.flatnonzero(~same)[0])
    return f"{name} differs at row {row}: {a[row]!r} vs {b[row]!r} ({(~same).sum()} of {a.size})"
