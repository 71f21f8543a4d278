"""True range and the average true range (wilder, ema, sma), with the state that continues an ATR
exactly on the next chunk of bars (month-by-month caches)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from threadx_core.indicators import nb
from threadx_core.indicators.inputs import as_series, check_period

ATR_METHODS: dict[str, int] = {"wilder": nb.ATR_WILDER, "ema": nb.ATR_EMA, "sma": nb.ATR_SMA}


@dataclass(frozen=True)
class AtrState:
    """Where an ATR computation stopped, to continue it exactly on the next chunk of bars.

    ``prev_close``: the last close seen; ``seen``: true ranges consumed; ``value``: the last ATR
    (NaN before the first one); ``seed_sum``: running sum of the first ``min(seen, period)`` true
    ranges (wilder seed); ``tail``: the last ``min(seen, period − 1)`` true ranges (sma window).
    """

    period: int
    method: str
    prev_close: float
    seen: int
    value: float
    seed_sum: float
    tail: tuple[float, ...]


def _method(method: object) -> str:
    if method not in ATR_METHODS:
        raise ValueError(f"atr method must be one of {sorted(ATR_METHODS)}, got {method!r}")
    return str(method)


def true_range(high: object, low: object, close: object, prev_close: float = np.nan) -> np.ndarray:
    """True range; ``prev_close`` is the close before the first bar, if known."""
    h, lo, c = as_series(high, "high"), as_series(low, "low"), as_series(close, "close")
    if not h.size == lo.size == c.size:
        raise ValueError(f"high, low, close lengths differ: {h.size}, {lo.size}, {c.size}")
    return nb.true_range_nb(h, lo, c, float(prev_close))


def _smooth(tr: np.ndarray, close_last: float, period: int, method: str,
            state: AtrState | None) -> tuple[np.ndarray, AtrState]:
    seen, value, seed_sum, tail = (0, np.nan, 0.0, ()) if state is None else (
        state.seen, state.value, state.seed_sum, state.tail)
    if method == "sma":
        full = np.concatenate([np.asarray(tail, dtype=np.float64), tr])
        out = nb.window_mean_nb(full, period)[len(tail):]
        new_tail = tuple(full[max(full.size - (period - 1), 0):].tolist())
        seen += tr.size
        value = float(out[-1]) if out.size else value
    else:
        out, seen, value, seed_sum = nb.atr_recursive_nb(tr, period, ATR_METHODS[method], seen,
                                                         value, seed_sum)
        new_tail = ()
    prev_close = close_last if tr.size else (np.nan if state is None else state.prev_close)
    return out, AtrState(period, method, prev_close, int(seen), float(value), float(seed_sum),
                         new_tail)


def atr_with_state(high: object, low: object, close: object, period: int, method: str = "wilder",
                   *, state: AtrState | None = None) -> tuple[np.ndarray, AtrState]:
    """ATR and the state to continue it on the following bars.

    Without ``state`` the series starts here (TR₀ = high₀ − low₀). With the state returned for
    the previous chunk, the result equals the whole-series computation bitwise. ``method``:
    ``wilder`` (TradingView ``ta.atr``; NaN before bar period − 1), ``ema`` (α = 2/(n+1), seeded
    with TR₀) or ``sma`` (rolling mean; NaN before bar period − 1).
    """
    period = check_period(period, "atr period", 1)
    method = _method(method)
    if state is not None and (state.period, state.method) != (period, method):
        raise ValueError(f"state is for ATR({state.period}, {state.method!r}), "
                         f"not ATR({period}, {method!r})")
    c = as_series(close, "close")
    prev = np.nan if state is None else state.prev_close
    tr = true_range(high, low, c, prev)
    return _smooth(tr, float(c[-1]) if c.size else np.nan, period, method, state)


def atr(high: object, low: object, close: object, period: int, method: str = "wilder",
        *, state: AtrState | None = None) -> np.ndarray:
    """ATR values only; see :func:`atr_with_state`."""
    return atr_with_state(high, low, close, period, method, state=state)[0]


def atr_batch(high: object, low: object, close: object,
              specs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], np.ndarray]:
    """``{(period, method): atr}`` for every distinct spec; the true range is computed once."""
    c = as_series(close, "close")
    tr = true_range(high, low, c)
    keys = sorted({(check_period(p, "atr period", 1), _method(m)) for p, m in specs})
    last = float(c[-1]) if c.size else np.nan
    return {(p, m): _smooth(tr, last, p, m, None)[0] for p, m in keys}
