"""Bar times and price validation of a candle frame, the one rule of the reference engine and of
the sweeps (docs/ARCHITECTURE.md, Data contracts: prices are finite and > 0).

A frame holds one timeframe: open/high/low/close columns, one row per bar, with a DatetimeIndex
or an ``open_time`` column of strictly increasing bar open times (naive times are taken as UTC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from threadx_core.schema import PRICE_COLUMNS


def bar_times(ohlcv: pd.DataFrame) -> pd.DatetimeIndex:
    """The bar open times, UTC, named ``open_time``: the DatetimeIndex, else the ``open_time``
    column (naive times are taken as UTC). Raises ``ValueError`` when absent or not strictly
    increasing."""
    if isinstance(ohlcv.index, pd.DatetimeIndex):
        times = ohlcv.index
    elif "open_time" in ohlcv.columns:
        times = pd.DatetimeIndex(ohlcv["open_time"])
    else:
        raise ValueError("ohlcv needs a DatetimeIndex or an 'open_time' column")
    times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    if not times.is_monotonic_increasing or not times.is_unique:
        raise ValueError("ohlcv bar times must be strictly increasing")
    return times.rename("open_time")


def infer_bar_minutes(times: pd.DatetimeIndex) -> float:
    """Median spacing of ``times`` in minutes; ``ValueError`` with fewer than two bars."""
    if len(times) < 2:
        raise ValueError("cannot infer the bar size from fewer than two bars; pass bar_minutes")
    step = pd.Timedelta(int(np.median(np.diff(times.asi8))), unit=times.unit)
    return step.total_seconds() / 60.0


def resolve_bar_minutes(times: pd.DatetimeIndex, given: float | None) -> float:
    """The bar size in minutes: ``given``, or the median spacing of ``times`` when None.
    Raises ``ValueError`` unless it is > 0."""
    minutes = infer_bar_minutes(times) if given is None else float(given)
    if not minutes > 0:
        raise ValueError(f"bar_minutes must be > 0, got {given!r}")
    return minutes


def prices(ohlcv: pd.DataFrame, times: pd.DatetimeIndex) -> list[np.ndarray]:
    """open, high, low, close as contiguous float64 arrays. Raises ``ValueError`` when a column
    is missing, or naming the column, the first bad bar (position and open time of ``times``) and
    its value when a price is NaN, infinite or ≤ 0."""
    missing = [c for c in PRICE_COLUMNS if c not in ohlcv.columns]
    if missing:
        raise ValueError(f"ohlcv lacks column(s): {', '.join(missing)}")
    arrays = [np.ascontiguousarray(ohlcv[c].to_numpy(np.float64)) for c in PRICE_COLUMNS]
    for name, a in zip(PRICE_COLUMNS, arrays, strict=True):
        valid = np.isfinite(a) & (a > 0)
        if not valid.all():
            i = int(np.argmin(valid))  # the first False
            raise ValueError(f"ohlcv column {name!r} holds a NaN, infinite or non-positive price: "
                             f"{float(a[i])!r} at bar {i} ({times[i].isoformat()}); prices must be "
                             "finite and > 0")
    return arrays
