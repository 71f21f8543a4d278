"""Entry-signal bars of a sweep, shared by every combination with the same bands (docs/ARCHITECTURE.md,
Strategy).

Flat, the strategy enters at bar t ≥ 1 of the window when the close crosses a band:
``close[t] < lo[t] and close[t−1] ≥ lo[t−1]`` (long) or, with shorts allowed,
``close[t] > up[t] and close[t−1] ≤ up[t−1]`` (short), where up/lo = middle ± bb_std·σ — and,
besides, the ATR is finite and the equity > 0 (:func:`threadx_core.engine.nb.entry_side`,
:func:`~threadx_core.engine.nb.decide_at_close`). The crosses depend on the bands only,
not on the combination's state, so they are listed once per distinct ``(bb_period, bb_std,
allow_short)``; the CPU kernel then jumps over a flat stretch straight to its next cross instead of
testing every bar (:func:`threadx_core.sweep.cpu.combo_fast_nb`).

The bands are computed with the kernel's very expressions (``mid + bb_std * sigma[t]``,
``mid − bb_std * sigma[t]``), so a cross here is a cross there, bit for bit. NaN bands (warm-up)
never cross. Memory: one int64 per cross (a few percent of the bars per band setting).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class Signals(NamedTuple):
    """Crosses in CSR form: those of band setting ``s`` are ``bars[start[s]:start[s + 1]]``
    (window positions, increasing); ``row[i]`` is combination i's setting."""

    row: np.ndarray
    start: np.ndarray
    bars: np.ndarray


@njit(cache=True, nogil=True)
def crosses_nb(close: np.ndarray, middle: np.ndarray, sigma: np.ndarray, bb_std: float,
               allow_short: bool) -> np.ndarray:
    """Window positions t ≥ 1 where the close crosses below the lower band, or above the upper
    band when ``allow_short`` (arrays ``(n,)``, the band rows of one ``bb_period``)."""
    n = close.size
    hits = np.empty(n, np.int64)
    k = 0
    up_prev = middle[0] + bb_std * sigma[0] if n else np.nan
    lo_prev = middle[0] - bb_std * sigma[0] if n else np.nan
    for t in range(1, n):
        mid = middle[t]
        up = mid + bb_std * sigma[t]
        lo = mid - bb_std * sigma[t]
        c, c_prev = close[t], close[t - 1]
        if (c < lo and c_prev >= lo_prev) or (allow_short and c > up and c_prev <= up_prev):
            hits[k] = t
            k += 1
        up_prev, lo_prev = up, lo
    return hits[:k].copy()


def entry_signals(close: np.ndarray, middle: np.ndarray, sigma: np.ndarray, bb_row: np.ndarray,
                  bb_std: np.ndarray, allow_short: np.ndarray) -> Signals:
    """The crosses of every distinct ``(bb_row, bb_std, allow_short)`` of the combinations
    (``bb_row``: row in ``middle``/``sigma``, shapes ``(m,)``), in first-seen order."""
    settings: dict[tuple[int, float, bool], int] = {}
    row = np.empty(bb_row.size, np.int64)
    for i, key in enumerate(zip(bb_row.tolist(), bb_std.tolist(), allow_short.tolist(), strict=True)):
        row[i] = settings.setdefault((int(key[0]), float(key[1]), bool(key[2])), len(settings))
    lists = [crosses_nb(close, middle[b], sigma[b], std, short) for b, std, short in settings]
    start = np.zeros(len(lists) + 1, np.int64)
    start[1:] = np.cumsum([a.size for a in lists])
    bars = np.concatenate(lists) if lists else np.empty(0, np.int64)
    return Signals(row, start, np.ascontiguousarray(bars, dtype=np.int64))
