"""Bollinger bands and ATR, the friendly layer over the Numba kernels of :mod:`.nb`.

Inputs are anything :func:`numpy.asarray` turns into a 1-D float64 array (ndarray, Series, list);
outputs are float64 ndarrays of the same length, causal (value ``t`` uses inputs ``≤ t``).

NaN inputs. Bollinger and the ``sma`` ATR are computed window by window, so a NaN (or ±inf)
makes exactly the windows that contain it NaN. The ``wilder`` and ``ema`` ATRs are recursive: a
NaN true range makes every later value NaN. (Canonical candles never hold NaN.)

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

from threadx_core.indicators.atr import ATR_METHODS, AtrState, atr, atr_batch, atr_with_state, true_range
from threadx_core.indicators.bollinger import bands, bollinger, bollinger_batch, rolling_mean_std

__all__ = ["ATR_METHODS", "AtrState", "atr", "atr_batch", "atr_with_state", "bands", "bollinger",
           "bollinger_batch", "rolling_mean_std", "true_range"]
