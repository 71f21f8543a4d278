"""Timeframe names and their sizes.

A timeframe is written ``<n>m``, ``<n>h`` or ``<n>d`` (case-sensitive: ``1M`` is not a minute).
Bins are aligned to the Unix epoch, so every supported timeframe divides a UTC day and a calendar
month starts on a bin boundary of every one of them.
"""

from __future__ import annotations

import re

#: The timeframes ThreadX derives from 1-minute candles, finest first.
DERIVED: tuple[str, ...] = ("3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")

_UNITS = {"m": 1, "h": 60, "d": 1440}
_PATTERN = re.compile(r"^([1-9][0-9]*)([mhd])$")
MINUTES_PER_DAY = 1440
MINUTES_PER_YEAR = 525_600


def minutes(tf: str) -> int:
    """Bar size of ``tf`` in minutes; raises ``ValueError`` naming ``tf`` if it is not a timeframe
    that divides a UTC day (e.g. ``"7m"`` or ``"1M"``)."""
    match = _PATTERN.match(tf) if isinstance(tf, str) else None
    if match is None:
        raise ValueError(f"timeframe {tf!r} is not of the form <n>m, <n>h or <n>d (e.g. '15m', '4h')")
    size = int(match.group(1)) * _UNITS[match.group(2)]
    if size > MINUTES_PER_DAY or MINUTES_PER_DAY % size:
        raise ValueError(f"timeframe {tf!r} ({size} minutes) must divide a UTC day of 1440 minutes")
    return size


def bars_per_year(tf: str) -> float:
    """Annualisation factor: bars in a 365-day year (crypto trades 24/7)."""
    return MINUTES_PER_YEAR / minutes(tf)
