"""Time in ThreadX: UTC instants, epoch milliseconds, calendar months and timeframes.

- Every instant is a tz-aware UTC ``pd.Timestamp``; a naive value is taken as UTC.
- Binance and the storage speak integer **milliseconds since the Unix epoch** (floored); an
  ``open_time`` column is ``timestamp[ms, UTC]`` (``TIME_DTYPE``).
- A month partition is ``[first day 00:00, next month 00:00)`` UTC, labelled ``YYYY-MM``.
- A timeframe is written ``<n>m``, ``<n>h`` or ``<n>d`` (case-sensitive: ``1M`` is not a minute).
  Bins are aligned to the Unix epoch, so every supported timeframe divides a UTC day and a
  calendar month starts on a bin boundary of every one of them.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MINUTE_MS = 60_000
MINUTES_PER_DAY = 1440
MINUTES_PER_YEAR = 525_600
#: The dtype of every ``open_time`` column: millisecond instants in UTC.
TIME_DTYPE = pd.DatetimeTZDtype(unit="ms", tz="UTC")

#: The timeframes ThreadX derives from 1-minute candles, finest first.
DERIVED: tuple[str, ...] = ("3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")

MONTH = pd.offsets.MonthBegin(1)
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")
_UNITS = {"m": 1, "h": 60, "d": 1440}
_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([mhd])$")


# --- instants --------------------------------------------------------------------------------

def utc(value: pd.Timestamp | str) -> pd.Timestamp:
    """``value`` (a Timestamp or ISO string) as a UTC Timestamp; a naive value is taken as UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def to_ms(value: pd.Timestamp | str) -> int:
    """Integer milliseconds since the Unix epoch of ``value`` (floored to the millisecond)."""
    return utc(value).value // 1_000_000  # Timestamp.value is in nanoseconds whatever the unit


def iso(ms: int) -> str:
    """UTC ISO 8601 text of a millisecond epoch time, for error messages; a time no timestamp
    can hold (past the year 2262) is named by its raw value instead of failing the message."""
    try:
        return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        return f"open_time {int(ms)} ms (not a representable time)"


def now() -> pd.Timestamp:
    """The current instant in UTC."""
    return pd.Timestamp.now(tz="UTC")


def open_time_ms(frame: pd.DataFrame) -> np.ndarray:
    """``frame["open_time"]`` as int64 milliseconds since the Unix epoch."""
    return frame["open_time"].dt.as_unit("ms").astype("int64").to_numpy()


def open_time_from_ms(ms: np.ndarray) -> pd.Series:
    """int64 milliseconds since the epoch as an ``open_time`` column (``TIME_DTYPE``)."""
    index = pd.DatetimeIndex(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]"))
    return pd.Series(index.tz_localize("UTC"), dtype=TIME_DTYPE)


# --- months ----------------------------------------------------------------------------------

def parse_month(month: str) -> pd.Timestamp:
    """First instant (UTC) of ``month``, given as ``YYYY-MM`` or ``YYYY-MM-01``."""
    match = _MONTH.match(month) if isinstance(month, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {month!r} is not of the form YYYY-MM")
    return pd.Timestamp(year=int(match.group(1)), month=int(match.group(2)), day=1, tz="UTC")


def month_label(start: pd.Timestamp) -> str:
    """``YYYY-MM`` label of the month containing ``start``."""
    return pd.Timestamp(start).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of ``month``: end is the first instant of the next month (exclusive)."""
    start = parse_month(month)
    return start, start + MONTH


def month_span(first: str, last: str) -> list[str]:
    """Every month label from ``first`` to ``last`` inclusive; raises if ``last`` precedes ``first``."""
    start, stop = parse_month(first), parse_month(last)
    if stop < start:
        raise ValueError(f"month range {first}..{last} is empty: {last} precedes {first}")
    return [month_label(ts) for ts in pd.date_range(start, stop, freq="MS")]


def previous_month(month: str) -> str:
    """Label of the month before ``month``."""
    return month_label(parse_month(month) - MONTH)


# --- timeframes ------------------------------------------------------------------------------

def tf_minutes(tf: str) -> int:
    """Bar size of ``tf`` in minutes; raises ``ValueError`` naming ``tf`` if it is not a timeframe
    that divides a UTC day (e.g. ``"7m"`` or ``"1M"``)."""
    match = _TIMEFRAME.match(tf) if isinstance(tf, str) else None
    if match is None:
        raise ValueError(f"timeframe {tf!r} is not of the form <n>m, <n>h or <n>d (e.g. '15m', '4h')")
    size = int(match.group(1)) * _UNITS[match.group(2)]
    if size > MINUTES_PER_DAY or MINUTES_PER_DAY % size:
        raise ValueError(f"timeframe {tf!r} ({size} minutes) must divide a UTC day of 1440 minutes")
    return size


def bars_per_year(tf: str) -> float:
    """Annualisation factor: bars in a 365-day year (crypto trades 24/7)."""
    return MINUTES_PER_YEAR / tf_minutes(tf)
