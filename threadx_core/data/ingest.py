"""One symbol-month of 1-minute candles, fetched or topped up (docs/ARCHITECTURE.md, Asset graph).

Rules:
- a finished month whose stored data was fetched through its end is *complete* and is never
  fetched again unless ``force`` is given;
- otherwise (the current month, or a month stored before it ended) only what follows the last
  stored candle is fetched and appended; a forced run fetches the whole month again;
- the candle still open at ``now`` is never stored; ``fetched_through`` (kept in the frame's
  ``attrs`` and so in the Parquet file) records up to where the source was asked;
- the gap policy is applied to the merged month; gaps are reported over
  ``[month start, fetched_through)``;
- a month is *empty* when the source has no candle in it (no trading: before a listing, after a
  delisting; the REST answer is an empty list, the archive a 404 that REST confirms: see
  ``BinanceVisionSource``): it is stored like any other, with no row, and a finished empty month is
  complete. ``MonthIngest.state`` says ``"full"`` (fetched through its end, with candles),
  ``"partial"`` (with candles, not fetched through its end: the current month) or ``"empty"``
  (no candle; the current month may still fill);
- an IP ban (``IPBannedError``) fails the month with one line naming the symbol, the month, the
  banned host and the UTC time the ban ends: nothing more is sent to that host until then, by this
  process or any other sharing the IP state (docs/OPERATIONS.md, Bans).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from threadx_core import times
from threadx_core.data.binance import IPBannedError
from threadx_core.data.gaps import Gaps, fill_gaps, find_gaps
from threadx_core.data.sources import Source, closed_until
from threadx_core.errors import ThreadXError
from threadx_core.schema import validate_raw_1m


class IngestError(ThreadXError, RuntimeError):
    """Fetching or merging one symbol-month failed; the message names both. Nothing is stored."""


@dataclass(frozen=True)
class MonthIngest:
    """What one ingestion did: the whole month's frame and how it was obtained."""

    frame: pd.DataFrame
    action: str  # "fetched" | "topped_up" | "skipped"
    fetched_rows: int
    requested: tuple[pd.Timestamp, pd.Timestamp] | None
    gaps: Gaps
    state: str  # "full" | "partial" | "empty" (module docstring)


def ingest_month(source: Source, symbol: str, month: str, *, existing: pd.DataFrame | None,
                 now: pd.Timestamp, force: bool = False, fill: str = "none",
                 max_fill_minutes: int = 5) -> MonthIngest:
    """Bring ``symbol``'s ``month`` (``YYYY-MM``) up to date from ``source`` as of ``now`` (UTC).

    ``existing`` is the stored partition (with ``attrs['fetched_through']``) or ``None``.
    Raises ``IngestError`` naming symbol and month on any source or validation failure.
    """
    where = f"{symbol} {month}"
    first, last = times.month_bounds(month)
    if first > now:
        raise IngestError(f"{where}: month starts after now ({now.isoformat()}); nothing to fetch")
    if existing is not None and not force and _fetched_through(existing) >= last:
        return MonthIngest(existing, "skipped", 0, None, find_gaps(existing, first, last),
                           month_state(existing, last))
    base = None if existing is None or force or existing.empty else existing
    start = first if base is None else base["open_time"].iloc[-1] + pd.Timedelta(minutes=1)
    through = max(start, closed_until(last, now))
    try:
        new = validate_raw_1m(source.fetch(symbol, start, last, now), f"{where} from {source.name}")
    except IPBannedError as exc:
        # one line a person can act on, as is (no chain to dig in): the run log and the CLI show it
        raise IngestError(f"{where}: Binance has banned this IP on {exc.host} until {exc.until} (UTC); "
                          f"nothing is sent to {exc.host} before then; run the backfill again "
                          f"after that time") from None
    except Exception as exc:
        raise IngestError(f"{where}: fetching [{start.isoformat()}, {last.isoformat()}) from "
                          f"{source.name} failed: {exc}") from exc
    _check_window(new, start, through, where)
    frame = _merge(base, new)
    frame = validate_raw_1m(fill_gaps(frame, fill, max_fill_minutes), where)
    frame.attrs = {"fetched_through": through.isoformat(), "source": source.name}
    action = "fetched" if base is None else "topped_up"
    return MonthIngest(frame, action, len(new), (start, through), find_gaps(frame, first, through),
                       month_state(frame, last))


def month_state(frame: pd.DataFrame, end: pd.Timestamp) -> str:
    """``"empty"``, ``"partial"`` or ``"full"`` (module docstring) of a stored month ending at ``end``."""
    if frame.empty:
        return "empty"
    return "full" if _fetched_through(frame) >= end else "partial"


def _fetched_through(frame: pd.DataFrame) -> pd.Timestamp:
    value = frame.attrs.get("fetched_through")
    return pd.Timestamp(value) if value else pd.Timestamp.min.tz_localize("UTC")


def _check_window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, where: str) -> None:
    if frame.empty:
        return
    lo, hi = frame["open_time"].iloc[0], frame["open_time"].iloc[-1]
    if lo < start or hi >= end:
        raise IngestError(f"{where}: source returned candles from {lo} to {hi}, outside the "
                          f"requested window [{start}, {end})")


def _merge(base: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    if base is None:
        return new.reset_index(drop=True)
    # A real candle replaces a flat one filled earlier at the same minute.
    merged = pd.concat([base, new], ignore_index=True)
    merged = merged.drop_duplicates("open_time", keep="last").sort_values("open_time")
    return merged.reset_index(drop=True)
