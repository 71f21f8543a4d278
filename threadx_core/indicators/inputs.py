"""Input checks shared by the indicator functions: 1-D float64 series and integer periods."""

from __future__ import annotations

import numpy as np


def as_series(x: object, name: str) -> np.ndarray:
    """``x`` as a contiguous 1-D float64 array; raises ``ValueError`` naming ``name`` otherwise."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def check_period(period: object, name: str, minimum: int) -> int:
    """``period`` as an ``int`` ≥ ``minimum``; raises ``ValueError`` naming ``name`` otherwise
    (bools refused)."""
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {period!r}")
    return int(period)
