"""Missing 1-minute candles: reporting them, and the ``flat`` fill policy (docs/ARCHITECTURE.md,
Data contracts).

A *gap* is a run of minutes without a row in a raw_1m frame. Gap-fill candles (``filled``) count
as present. Filling never invents volume: a flat candle repeats the previous close with every
amount at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx_core.schema import AMOUNT_COLUMNS, PRICE_COLUMNS, RAW_1M_COLUMNS
from threadx_core.times import MINUTE_MS, TIME_DTYPE, open_time_from_ms, open_time_ms, to_ms, utc

POLICIES = ("none", "flat")


@dataclass(frozen=True)
class Gaps:
    """The missing minutes of a window.

    ``ranges`` holds ``(first_missing, last_missing)`` open times (UTC, both inclusive), in time
    order; ``missing`` counts the missing minutes and ``expected`` the minute slots of the window.
    """

    ranges: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
    missing: int
    expected: int

    @property
    def ratio(self) -> float:
        """Completeness: present / expected minutes; 1.0 for an empty window."""
        return 1.0 if self.expected == 0 else (self.expected - self.missing) / self.expected

    def describe(self, limit: int = 5) -> str:
        """Short text for metadata: the first ``limit`` ranges, then how many more there are,
        e.g. ``"2024-03-01 00:05 → 00:09 (5 min); 2024-03-02 23:58 → 2024-03-03 00:01 (4 min)"``."""
        if not self.ranges:
            return "no gaps"
        parts = [_describe_range(first, last) for first, last in self.ranges[:limit]]
        if len(self.ranges) > limit:
            parts.append(f"… and {len(self.ranges) - limit} more")
        return "; ".join(parts)


    def table(self) -> pd.DataFrame:
        """Every range as rows, in time order: ``first_missing`` and ``last_missing`` (open times,
        ``TIME_DTYPE``, both inclusive) and ``minutes`` (int64, ≥ 1); no rows when nothing is
        missing. ``table()["minutes"].sum() == missing``."""
        firsts = [first for first, _ in self.ranges]
        lasts = [last for _, last in self.ranges]
        return pd.DataFrame({
            "first_missing": pd.Series(firsts, dtype=TIME_DTYPE),
            "last_missing": pd.Series(lasts, dtype=TIME_DTYPE),
            "minutes": pd.Series([(last - first) // pd.Timedelta(minutes=1) + 1
                                  for first, last in self.ranges], dtype="int64"),
        })


def _describe_range(first: pd.Timestamp, last: pd.Timestamp) -> str:
    length = (last - first) // pd.Timedelta(minutes=1) + 1
    end = last.strftime("%H:%M" if last.normalize() == first.normalize() else "%Y-%m-%d %H:%M")
    return f"{first.strftime('%Y-%m-%d %H:%M')} → {end} ({length} min)"


def find_gaps(frame: pd.DataFrame, start: pd.Timestamp | str, end: pd.Timestamp | str) -> Gaps:
    """The missing 1-minute candles of the window ``[start, end)`` (UTC; naive means UTC).

    The window's minute slots are the minute-aligned times ``t`` with ``start <= t < end``.
    ``frame`` is a sorted, unique, minute-aligned raw_1m frame (only ``open_time`` is read); rows
    outside the window are ignored.
    """
    first = to_ms(utc(start).ceil("min")) // MINUTE_MS
    stop = to_ms(utc(end).ceil("min")) // MINUTE_MS
    expected = max(0, stop - first)
    present = open_time_ms(frame) // MINUTE_MS
    present = present[(present >= first) & (present < stop)]
    bounds = np.concatenate(([first - 1], present, [max(stop, first)]))
    after = np.flatnonzero(np.diff(bounds) > 1)
    starts, lasts = bounds[after] + 1, bounds[after + 1] - 1
    ranges = tuple(zip(_timestamps(starts), _timestamps(lasts), strict=True))
    return Gaps(ranges, int(np.sum(lasts - starts + 1)), int(expected))


def _timestamps(minutes: np.ndarray) -> list[pd.Timestamp]:
    return list(open_time_from_ms(minutes * MINUTE_MS))


def fill_gaps(frame: pd.DataFrame, policy: str, max_minutes: int) -> pd.DataFrame:
    """Apply a gap policy to a sorted, unique raw_1m frame.

    ``none`` returns ``frame`` itself. ``flat`` fills every interior gap of at most
    ``max_minutes`` minutes with flat candles at the previous close (open = high = low = close),
    zero volume, quote volume, trades and taker-buy amounts, and ``filled=True``; longer gaps and
    anything before the first row (no previous close) are left alone. Returns a new frame with a
    RangeIndex. Raises ``ValueError`` naming an unknown ``policy`` or a negative ``max_minutes``.
    """
    if policy not in POLICIES:
        raise ValueError(f"gap policy {policy!r} is not one of {POLICIES}")
    if not _is_count(max_minutes):
        raise ValueError(f"max_minutes must be a non-negative integer, got {max_minutes!r}")
    if policy == "none":
        return frame
    return _fill_flat(frame, int(max_minutes))


def _is_count(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0


def _fill_flat(frame: pd.DataFrame, max_minutes: int) -> pd.DataFrame:
    minutes = open_time_ms(frame) // MINUTE_MS
    missing = np.diff(minutes) - 1
    before = np.flatnonzero((missing >= 1) & (missing <= max_minutes))
    if len(before) == 0:
        return frame.reset_index(drop=True)
    counts = missing[before]
    # Row i of the fill belongs to gap g = source[i] and is its offset[i]-th missing minute.
    source = np.repeat(before, counts)
    offset = np.arange(len(source)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    close = frame["close"].to_numpy(np.float64)[source]
    fill = pd.DataFrame({
        "open_time": open_time_from_ms((minutes[source] + offset) * MINUTE_MS),
        **{c: close for c in PRICE_COLUMNS},
        **{c: np.zeros(len(source)) for c in AMOUNT_COLUMNS},
        "trades": np.zeros(len(source), dtype=np.int64),
        "filled": np.ones(len(source), dtype=bool),
    })[list(RAW_1M_COLUMNS)]
    merged = pd.concat([frame.reset_index(drop=True), fill], ignore_index=True)
    order = np.argsort(np.concatenate((minutes, minutes[source] + offset)), kind="stable")
    return merged.iloc[order].reset_index(drop=True)
