"""Bollinger bands: middle = SMA_n(close), σ = population standard deviation (ddof 0) over the same
window, bands at middle ± k·σ; the first n − 1 values are NaN. Windowed, so a month computed after a
tail of ≥ n − 1 bars equals the whole-series values bitwise."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from threadx_core.indicators import nb
from threadx_core.indicators.inputs import as_series, check_period


def rolling_mean_std(close: object, period: int) -> tuple[np.ndarray, np.ndarray]:
    """SMA and population σ (ddof 0) of ``close`` over ``period`` bars; the first ``period − 1``
    values are NaN. These two arrays define Bollinger bands for every width (see :func:`bands`)."""
    period = check_period(period, "bb period", 2)
    return nb.window_mean_std_nb(as_series(close, "close"), period)


def bands(middle: np.ndarray, sigma: np.ndarray, std: float) -> tuple[np.ndarray, np.ndarray]:
    """``(upper, lower) = (middle + std·σ, middle − std·σ)`` — the one formula every engine uses."""
    return middle + std * sigma, middle - std * sigma


def bollinger(close: object, period: int, std: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands ``(middle, upper, lower)``: middle = SMAcheck_period(close), bands at
    middle ± std·σ with σ the population standard deviation over the same window.
    Raises ``ValueError`` for ``period < 2`` or ``std ≤ 0``."""
    if not np.isfinite(std) or std <= 0:
        raise ValueError(f"bb std must be a finite number > 0, got {std!r}")
    middle, sigma = rolling_mean_std(close, period)
    upper, lower = bands(middle, sigma, float(std))
    return middle, upper, lower


def bollinger_batch(close: object, periods: Iterable[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{period: (middle, σ)}`` for every distinct period, one pass per window; bands for any
    width ``k`` follow from :func:`bands`."""
    arr = as_series(close, "close")
    return {p: rolling_mean_std(arr, p) for p in sorted({check_period(p, "bb period", 2) for p in periods})}
