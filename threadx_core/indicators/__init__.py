"""Bollinger bands and ATR (DESIGN §5), the friendly layer over :mod:`.indicators_nb`.

Inputs are anything :func:`numpy.asarray` turns into a 1-D float64 array (ndarray, Series, list);
outputs are float64 ndarrays of the same length, causal (value ``t`` uses inputs ``≤ t``).

NaN inputs. Bollinger and the ``sma`` ATR are computed window by window, so a NaN (or ±inf)
makes exactly the windows that contain it NaN. The ``wilder`` and ``ema`` ATRs are recursive: a
NaN true range makes every later value NaN. (The canonical candles of DESIGN §4 never hold NaN.)

Warm-up (month-by-month computation, as the indicator caches do):

* Bollinger middle/σ and the ``sma`` ATR depend only on their window, so computing over
  ``[history tail + month]`` and slicing the month gives values **bitwise equal** to the
  whole-series ones as soon as the tail holds ≥ ``period − 1`` bars (Bollinger) or ≥ ``period``
  bars (``sma`` ATR: the first true range of a slice has no previous close).
* ``wilder`` and ``ema`` ATR depend on the whole prefix; a finite tail only converges. For exact
  equality carry the recursion's state: ``values, state = atr_with_state(month₁, …)`` then
  ``atr_with_state(month₂, …, state=state)`` equals the whole-series computation bitwise
  (:class:`AtrState` works for ``sma`` too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from threadx_core.indicators import nb as nb

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


def _series(x: object, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _period(period: object, name: str, minimum: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {period!r}")
    return int(period)


def _method(method: object) -> str:
    if method not in ATR_METHODS:
        raise ValueError(f"atr method must be one of {sorted(ATR_METHODS)}, got {method!r}")
    return str(method)


def rolling_mean_std(close: object, period: int) -> tuple[np.ndarray, np.ndarray]:
    """SMA and population σ (ddof 0) of ``close`` over ``period`` bars; the first ``period − 1``
    values are NaN. These two arrays define Bollinger bands for every width (see :func:`bands`)."""
    period = _period(period, "bb period", 2)
    return nb.window_mean_std_nb(_series(close, "close"), period)


def bands(middle: np.ndarray, sigma: np.ndarray, std: float) -> tuple[np.ndarray, np.ndarray]:
    """``(upper, lower) = (middle + std·σ, middle − std·σ)`` — the one formula every engine uses."""
    return middle + std * sigma, middle - std * sigma


def bollinger(close: object, period: int, std: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands ``(middle, upper, lower)``: middle = SMA_period(close), bands at
    middle ± std·σ with σ the population standard deviation over the same window (DESIGN §5).
    Raises ``ValueError`` for ``period < 2`` or ``std ≤ 0``."""
    if not np.isfinite(std) or std <= 0:
        raise ValueError(f"bb std must be a finite number > 0, got {std!r}")
    middle, sigma = rolling_mean_std(close, period)
    upper, lower = bands(middle, sigma, float(std))
    return middle, upper, lower


def bollinger_batch(close: object, periods: Iterable[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{period: (middle, σ)}`` for every distinct period, one pass per window; bands for any
    width ``k`` follow from :func:`bands`."""
    arr = _series(close, "close")
    return {p: rolling_mean_std(arr, p) for p in sorted({_period(p, "bb period", 2) for p in periods})}


def true_range(high: object, low: object, close: object, prev_close: float = np.nan) -> np.ndarray:
    """True range (DESIGN §5); ``prev_close`` is the close before the first bar, if known."""
    h, lo, c = _series(high, "high"), _series(low, "low"), _series(close, "close")
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
    """ATR (DESIGN §5) and the state to continue it on the following bars.

    Without ``state`` the series starts here (TR₀ = high₀ − low₀). With the state returned for
    the previous chunk, the result equals the whole-series computation bitwise. ``method``:
    ``wilder`` (TradingView ``ta.atr``; NaN before bar period − 1), ``ema`` (α = 2/(n+1), seeded
    with TR₀) or ``sma`` (rolling mean; NaN before bar period − 1).
    """
    period = _period(period, "atr period", 1)
    method = _method(method)
    if state is not None and (state.period, state.method) != (period, method):
        raise ValueError(f"state is for ATR({state.period}, {state.method!r}), "
                         f"not ATR({period}, {method!r})")
    c = _series(close, "close")
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
    c = _series(close, "close")
    tr = true_range(high, low, c)
    keys = sorted({(_period(p, "atr period", 1), _method(m)) for p, m in specs})
    last = float(c[-1]) if c.size else np.nan
    return {(p, m): _smooth(tr, last, p, m, None)[0] for p, m in keys}
