"""Indicator caches: every window a grid needs, for one symbol-month, equal to the whole series.

A cache frame has ``open_time`` and, per Bollinger window n, ``bb_mid_<n>`` and ``bb_sigma_<n>``
(SMA and population σ of close; bands for any k are ``mid ± k·sigma``), and per ATR window
``atr_<method>_<n>``. Values at a bar use data up to that bar only.

Month by month equals whole series:
- Bollinger windows are warmed up with the last ``n − 1`` bars of the previous month, which makes
  them bitwise equal to the whole-series values;
- recursive ATRs (``wilder``, ``ema``) continue from the ``AtrState`` stored with the previous
  month's cache (``attrs['atr_state']``, JSON), which is bitwise exact; a caller of
  :func:`month_indicators` passing the previous month's bars without that state gets them warmed
  up on the whole previous month (converging, not exact: ``atr_exact`` is false);
- the first month, without a previous month, has NaN warm-up values and ``history = "none"``.

Whatever order months are built in: :func:`chained_month_indicators` builds a month from the stored
bars and the stored caches of earlier months, rebuilding in memory (in calendar order, exactly as
an in-order loop would) every earlier month whose cache is not stored, so a month's cache never
depends on whether its previous month's cache was written first.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx_core import indicators, times
from threadx_core.indicators import AtrState

#: Month (``YYYY-MM``) → that month's stored frame, or ``None`` when none is stored.
MonthReader = Callable[[str], pd.DataFrame | None]


def bb_columns(period: int) -> tuple[str, str]:
    """Names of the middle and σ columns of Bollinger window ``period``."""
    return f"bb_mid_{period}", f"bb_sigma_{period}"


def atr_column(period: int, method: str) -> str:
    """Name of the ATR column of ``(period, method)``."""
    return f"atr_{method}_{period}"


@dataclass(frozen=True)
class MonthIndicators:
    """One month's cache ``frame``, the warm-up used, whether ATRs are exact, and the earlier
    months whose caches were rebuilt in memory to build it (oldest first, never stored here)."""

    frame: pd.DataFrame
    history: str  # "previous month" | "none"
    warmup_bars: int
    atr_exact: bool
    rebuilt: tuple[str, ...] = ()


def encode_states(states: dict[tuple[int, str], AtrState]) -> str:
    """JSON of the ATR states, to store with the cache (NaN kept as JSON ``NaN``)."""
    return json.dumps({f"{p}|{m}": dataclasses.asdict(s) for (p, m), s in states.items()})


def decode_states(text: str | None) -> dict[tuple[int, str], AtrState]:
    """Inverse of :func:`encode_states`; empty for ``None``."""
    if not text:
        return {}
    out = {}
    for key, fields in json.loads(text).items():
        period, method = key.split("|")
        out[(int(period), method)] = AtrState(**{**fields, "tail": tuple(fields["tail"])})
    return out


def month_indicators(current: pd.DataFrame, previous: pd.DataFrame | None,
                     previous_states: dict[tuple[int, str], AtrState],
                     bb_periods: Iterable[int], atr_windows: Iterable[tuple[int, str]]) -> MonthIndicators:
    """The cache of ``current`` (one month of one timeframe, ``open_time`` + OHLC), warmed up with
    ``previous`` (the month before, or ``None``) and the ATR states stored with its cache."""
    periods = sorted(set(bb_periods))
    windows = sorted(set(atr_windows))
    warm = _warmup(previous, max(periods, default=1) - 1)
    close = np.concatenate([warm["close"].to_numpy(np.float64), current["close"].to_numpy(np.float64)])
    columns: dict[str, object] = {"open_time": current["open_time"].to_numpy()}
    for period, (middle, sigma) in sorted(indicators.bollinger_batch(close, periods).items()):
        mid_name, sigma_name = bb_columns(period)
        columns[mid_name], columns[sigma_name] = middle[len(warm):], sigma[len(warm):]
    states, exact = {}, True
    for period, method in windows:
        values, state, was_exact = _atr(current, previous, previous_states.get((period, method)),
                                        period, method)
        columns[atr_column(period, method)], states[(period, method)] = values, state
        exact &= was_exact
    frame = pd.DataFrame(columns)
    frame.attrs = {"atr_state": encode_states(states)}
    history = "none" if previous is None or previous.empty else "previous month"
    return MonthIndicators(frame, history, len(warm), exact)


def _warmup(previous: pd.DataFrame | None, bars: int) -> pd.DataFrame:
    if previous is None or bars <= 0:
        return pd.DataFrame({"close": np.empty(0)})
    return previous.iloc[max(len(previous) - bars, 0):]


def _atr(current: pd.DataFrame, previous: pd.DataFrame | None, state: AtrState | None, period: int,
         method: str) -> tuple[np.ndarray, AtrState, bool]:
    hlc = [current[c].to_numpy(np.float64) for c in ("high", "low", "close")]
    if state is not None:
        values, new_state = indicators.atr_with_state(*hlc, period, method, state=state)
        return values, new_state, True
    if previous is None or previous.empty:
        values, new_state = indicators.atr_with_state(*hlc, period, method)
        return values, new_state, True
    both = [np.concatenate([previous[c].to_numpy(np.float64), x])
            for c, x in zip(("high", "low", "close"), hlc, strict=True)]
    values, new_state = indicators.atr_with_state(*both, period, method)
    return values[len(previous):], new_state, method == "sma"


def chained_month_indicators(month: str, read_bars: MonthReader, read_cache: MonthReader,
                             bb_periods: Iterable[int],
                             atr_windows: Iterable[tuple[int, str]]) -> MonthIndicators:
    """The cache of ``month`` equal to the in-order chain's, whichever earlier caches are stored.

    ``read_bars`` gives a month's bars (one timeframe, ``open_time`` + OHLC) or ``None`` where
    none are stored; ``read_cache`` a month's stored cache (with ``attrs['atr_state']``) or
    ``None``. Walking back from ``month``: a previous month without bars (``None``) ends the walk
    and the month after it starts cold, as the in-order loop's first month does; a previous month
    whose stored cache holds the ATR state of every window in ``atr_windows`` ends it too and
    anchors the chain; any other previous month (no stored cache, or one built for other windows)
    is rebuilt in memory from its bars, in calendar order. So ``atr_exact`` is always true here:
    the converging, inexact warm-up of :func:`month_indicators` happens only to a caller passing
    the previous month's bars without its state. The rebuilt months are named in ``rebuilt`` and
    not written (their own materialisation writes the same, deterministic frames). Raises
    ``ValueError`` naming ``month`` when it has no bars.
    """
    periods, windows = sorted(set(bb_periods)), sorted(set(atr_windows))
    current = read_bars(month)
    if current is None:
        raise ValueError(f"indicator cache of {month}: no bars stored for {month}")
    bars, chain, states = {month: current}, [month], {}
    while True:
        before = times.previous_month(chain[-1])
        previous = read_bars(before)
        if previous is None:
            break
        bars[before] = previous
        stored = read_cache(before)
        stored_states = decode_states(None if stored is None else stored.attrs.get("atr_state"))
        if set(windows) <= stored_states.keys():
            states = stored_states
            break
        chain.append(before)
    for built in reversed(chain):
        cache = month_indicators(bars[built], bars.get(times.previous_month(built)), states,
                                 periods, windows)
        states = decode_states(cache.frame.attrs["atr_state"])
    return dataclasses.replace(cache, rebuilt=tuple(reversed(chain[1:])))
