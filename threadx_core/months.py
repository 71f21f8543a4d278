"""Calendar months as partitions: ``[first day 00:00, next month 00:00)`` in UTC."""

from __future__ import annotations

import re

import pandas as pd

_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")
MONTH = pd.offsets.MonthBegin(1)


def parse(month: str) -> pd.Timestamp:
    """First instant (UTC) of ``month``, given as ``YYYY-MM`` or ``YYYY-MM-01``."""
    match = _MONTH.match(month) if isinstance(month, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {month!r} is not of the form YYYY-MM")
    return pd.Timestamp(year=int(match.group(1)), month=int(match.group(2)), day=1, tz="UTC")


def label(start: pd.Timestamp) -> str:
    """``YYYY-MM`` label of the month containing ``start``."""
    return pd.Timestamp(start).strftime("%Y-%m")


def bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of ``month``: end is the first instant of the next month (exclusive)."""
    start = parse(month)
    return start, start + MONTH


def span(first: str, last: str) -> list[str]:
    """Every month label from ``first`` to ``last`` inclusive; raises if ``last`` precedes ``first``."""
    start, stop = parse(first), parse(last)
    if stop < start:
        raise ValueError(f"month range {first}..{last} is empty: {last} precedes {first}")
    return [label(ts) for ts in pd.date_range(start, stop, freq="MS")]


def previous(month: str) -> str:
    """Label of the month before ``month``."""
    return label(parse(month) - MONTH)


def now() -> pd.Timestamp:
    """The current instant in UTC."""
    return pd.Timestamp.now(tz="UTC")
