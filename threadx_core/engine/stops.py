"""The stop path of a run: the stop level in force after each bar, for charts and checks.

The compiled loop (:func:`threadx_core.engine.nb.run_nb`) records equity, position and cash but not
the stop. Rather than widen that loop (its source is part of every sweep's code version and run
id), :func:`stop_path_nb` replays the *same* step functions over the same arrays from the same
carried state and records, per bar, the stop that bar's intrabar check tests (``State.stop`` once
the open's pending order has filled) — NaN when no position is held through the bar's intrabar
check. So the path is the engine's own stop by construction; the replay costs one more pass of the
step functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from threadx_core.engine import nb
from threadx_core.engine.nb import fill_pending, load_carry, previous, source_digest, step_bar


def _build(dependencies: str) -> Any:
    """The replay in a closure over the engine's source digest (see :func:`nb.source_digest`), so
    Numba's disk cache follows edits of the step functions."""

    @njit(cache=True)
    def stop_path_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                     middle: np.ndarray, upper: np.ndarray, lower: np.ndarray, atr: np.ndarray,
                     p: nb.LoopParams, start: np.ndarray) -> np.ndarray:
        """Per bar, the stop level the bar's intrabar check tests (a trailing stop as ratcheted
        at the previous close; an entry filled at this open included), NaN when flat then — the
        arrays and start row of :func:`nb.run_nb`, whose steps it repeats in the same order."""
        dependencies  # noqa: B018 -- a closure variable keys the on-disk cache on it
        n = close.size
        out = np.empty(n)
        st, _, _, c_before, up_before, lo_before, _, _ = load_carry(start)
        for t in range(n):
            # fill_pending is pure: read the state the intrabar check sees, then step as run_nb
            seen, _ = fill_pending(st, t, open_[t], p)
            out[t] = seen.stop if seen.side != 0 else np.nan
            st, _ = step_bar(st, t, open_[t], high[t], low[t], close[t], previous(close, t, c_before),
                             middle[t], upper[t], lower[t], previous(upper, t, up_before),
                             previous(lower, t, lo_before), atr[t], p)
        return out

    return stop_path_nb


stop_path_nb = _build(source_digest(nb))
