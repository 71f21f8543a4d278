"""Sources of canonical 1-minute candles, behind one interface.

A source answers ``fetch(symbol, start, end, now)`` with the canonical raw_1m frame of every
*closed* candle whose open time lies in ``[start, end)`` (UTC): the candle still open at ``now``
is never returned, and neither is anything after it. Every source refuses a symbol that is not
valid (``threadx_core.symbols``) with ``SymbolError`` naming it, before any request or file
access: the synthetic generator and both Binance clients check it first.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd

from threadx_core import times
from threadx_core.data.binance import ArchiveNotFoundError, BinanceClient, BinanceVision
from threadx_core.data.synthetic import synthetic
from threadx_core.settings import Settings


class Source(Protocol):
    """Anything that returns closed canonical 1m candles for ``[start, end)``."""

    name: str

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp,
              now: pd.Timestamp) -> pd.DataFrame: ...


def closed_until(end: pd.Timestamp, now: pd.Timestamp) -> pd.Timestamp:
    """Exclusive end of the closed candles in a window ending at ``end``: the candle containing
    ``now`` is still open, so nothing at or after ``floor(now, 1 min)`` is final."""
    return min(end, now.floor("min"))


class SyntheticSource:
    """The embedded offline default: ``threadx_core.data.synthetic`` cut at ``now``."""

    name = "synthetic"

    def __init__(self, seed: int = 0, gap_probability: float = 0.0) -> None:
        self.seed = seed
        self.gap_probability = gap_probability

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp,
              now: pd.Timestamp) -> pd.DataFrame:
        stop = max(start, closed_until(end, now))
        return synthetic(symbol, start, stop, seed=self.seed, gap_probability=self.gap_probability)


class BinanceSource:
    """Binance REST klines (``/api/v3/klines``)."""

    name = "binance"

    def __init__(self, client: BinanceClient) -> None:
        self.client = client

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp,
              now: pd.Timestamp) -> pd.DataFrame:
        return self.client.klines_1m(symbol, start, end, now=now)


class BinanceVisionSource:
    """Monthly archives for whole finished months; REST for anything else (the current month,
    or a top-up that starts inside a month).

    A finished month without an archive (HTTP 404) is asked to REST: Binance publishes no archive
    of a month without trading (before a listing, after a delisting), and publishes a month's
    archive only some time after the month ends. REST tells the two apart: an empty answer is a
    month without trading, stored empty exactly as the ``binance`` source stores it; candles are a
    month whose archive is not published yet, stored from REST. Either way both source kinds
    store the same month."""

    name = "binance_vision"

    def __init__(self, vision: BinanceVision, client: BinanceClient) -> None:
        self.vision = vision
        self.rest = BinanceSource(client)

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp,
              now: pd.Timestamp) -> pd.DataFrame:
        month = times.month_label(start)
        first, last = times.month_bounds(month)
        if start == first and end == last and last <= now:
            try:
                return self.vision.month_1m(symbol, month)
            except ArchiveNotFoundError:
                pass  # no trading, or not published yet: REST says which (class docstring)
        return self.rest.fetch(symbol, start, end, now)


def from_settings(settings: Settings) -> Source:
    """The source named by ``[source] kind``, configured from ``[source]`` and ``[binance]``; the
    Binance clients keep the IP's shared state in ``Settings.binance_state_dir()``."""
    kind = settings.source.kind
    if kind == "synthetic":
        return SyntheticSource(settings.source.seed, settings.source.gap_probability)
    client = binance_client(settings)
    if kind == "binance":
        return BinanceSource(client)
    return BinanceVisionSource(BinanceVision(settings.binance.vision_url, **_common(settings)), client)


def binance_client(settings: Settings) -> BinanceClient:
    """The REST client of ``[binance]`` (klines, and the universe's market lists)."""
    b = settings.binance
    return BinanceClient(b.rest_url, weight_limit=b.weight_limit, weight_headroom=b.weight_headroom,
                         **_common(settings))


def _common(settings: Settings) -> dict[str, Any]:
    """What every Binance client of the project shares: retries, time-outs and one state folder
    (the IP's weight budget and bans)."""
    b = settings.binance
    return {"max_retries": b.max_retries, "backoff_base_s": b.backoff_base_s,
            "backoff_max_s": b.backoff_max_s, "timeout_s": b.timeout_s,
            "state_dir": settings.binance_state_dir(), "ban_default_s": b.ban_default_s}
