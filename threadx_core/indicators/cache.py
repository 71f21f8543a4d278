"""Indicator caches: every window a grid needs, for one symbol-month, equal to the whole series.

A cache frame has ``open_time`` and, per Bollinger window n, ``bb_mid_<n>`` and ``bb_sigma_<n>``
(SMA and population σ of close; bands for any k are ``mid ± k·sigma``), and per ATR window
``atr_<method>_<n>``. Values at a bar use data up to that bar only.

Month by month equals whole series:
- Bollinger windows are warmed up with the last ``n − 1`` bars of the previous month, which makes
  them bitwise equal to the whole-series values;
- recursive ATRs (``wilder``, ``ema``) continue from the ``AtrState`` stored with the previous
  month's cache (``attrs['atr_state']``, JSON), which is bitwise exact; without that state they
  are warmed up on the whole previous month (converging, not exact: ``atr_exact`` is false);
- the first month, without a previous month, has NaN warm-up values and ``history = "none"``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx_core import indicators
from threadx_core.indicators import AtrState


def bb_columns(period: int) -> tuple[str, str]:
    """Names of the middle and σ columns of Bollinger window ``period``."""
    return f"bb_mid_{period}", f"bb_sigma_{period}"


def atr_column(period: int, method: str) -> str:
    """Name of the ATR column of ``(period, method)``."""
    return f"atr_{method}_{period}"


@dataclass(frozen=True)
class MonthIndicators:
    """One month's cache ``frame``, the warm-up used, and whether ATRs are exact."""

    frame: pd.DataFrame
    history: str  # "previous month" | "none"
    warmup_bars: int
    atr_exact: bool


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
