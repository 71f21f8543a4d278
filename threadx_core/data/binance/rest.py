"""Binance REST klines client (docs/ARCHITECTURE.md, Binance).

Contract
--------
``BinanceClient(rest_url).klines_1m(symbol, start, end, now=None)`` returns the canonical raw_1m
frame (``threadx_core.schema.RAW_1M``, validated) of every *closed* 1-minute candle whose
``open_time`` lies in ``[start, end)`` UTC. Times sent to and read from Binance are integer
milliseconds since the Unix epoch; naive timestamps are taken as UTC.

- Paging: ``GET {rest_url}/api/v3/klines?symbol=&interval=1m&startTime=&endTime=&limit=1000``
  with ``endTime = end - 1 ms`` (Binance's bounds are inclusive); the next page starts at the last
  ``open_time + 60 000 ms``. An empty or short page (fewer than 1000 rows) ends the paging.
- Still-open candles (``close_time >= now``; ``now`` defaults to the wall clock) are dropped and
  end the paging: nothing after them is final.
- Request weight and bans: every klines call costs 2, reserved in the IP's shared record under
  ``state_dir`` (``threadx_core.data.binance.ip_state``; ``None``: this client's own, in memory):
  before a request that would take the weight used and in flight above ``weight_limit *
  weight_headroom`` the client sleeps until the next minute of the server's clock; while a ban is
  recorded (by any process) it raises ``IPBannedError`` without sending anything.
- Retries and bans: those of ``threadx_core.data.binance.http.HttpRetrier`` (429, 5xx,
  connection errors and time-outs retried up to ``max_retries`` times; 418 → ``IPBannedError``).
- Raised at once, never retried: 400 with code −1121 → ``InvalidSymbolError``; any other 4xx →
  ``BinanceError`` with Binance's code and message; a page that does not parse as klines
  (``threadx_core.data.binance.klines``) or open times that do not increase inside
  ``[start, end)`` → ``MalformedResponseError``. Nothing is returned then.

Every error message names the symbol and the time (UTC ISO 8601) at fault.

Canonical pages are only scanned on arrival and converted in batches
(``threadx_core.data.binance.klines``); the frame and the first error are those of parsing each
page on arrival. Only pathological pages (canonical in shape but failing later checks) can cost
requests that page-by-page parsing would not have sent.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from threadx_core.data.binance.http import (
    BinanceError,
    HttpRetrier,
    InvalidSymbolError,
    MalformedResponseError,
    RetryPolicy,
    Sleep,
    binance_error_detail,
)
from threadx_core.data.binance.ip_state import Clock, IpState
from threadx_core.data.binance.klines import (
    KlinesBody,
    KlinesPage,
    check_finite,
    check_page_times,
    convert_klines_bodies,
    klines_frame,
    parse_klines_body,
    scan_klines_body,
)
from threadx_core.schema import validate_raw_1m
from threadx_core.symbols import check_symbol
from threadx_core.times import MINUTE_MS, iso, to_ms

KLINES_PATH = "/api/v3/klines"
#: Binance's server time (``{"serverTime": epoch ms}``, weight 1): what ``threadx doctor`` reads.
TIME_PATH = "/api/v3/time"
PAGE_LIMIT = 1000
KLINES_WEIGHT = 2
INVALID_SYMBOL_CODE = -1121


#: Canonical pages converted per batch at most (bounds the bodies held: ~20 MB).
_BATCH_PAGES = 100


@dataclass(frozen=True)
class _Scanned:
    """A canonical page received by the client, waiting for its batch conversion."""

    scan: KlinesBody
    first_ms: int
    last_ms: int
    where: str


class BinanceClient:
    """Binance REST klines client; see the module docstring for the full contract."""

    def __init__(self, rest_url: str, *, session: requests.Session | None = None,
                 weight_limit: int = 6000, weight_headroom: float = 0.9, max_retries: int = 5,
                 timeout_s: float = 10.0, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0, state_dir: Path | None = None,
                 ban_default_s: float = 300.0, sleep: Sleep = time.sleep,
                 clock: Clock = time.time, logger: logging.Logger | None = None,
                 rng: random.Random | None = None) -> None:
        """``state_dir`` holds the IP's shared record (``None``: in memory, this client only);
        ``clock`` is the local clock (epoch s); ``rng`` draws the backoff jitter (tests pass a
        deterministic one)."""
        self.rest_url = rest_url.rstrip("/")
        self.logger = logger or logging.getLogger(__name__)
        self.ip_state = IpState(state_dir, self.rest_url, limit=weight_limit,
                                headroom=weight_headroom, ban_default_s=ban_default_s,
                                clock=clock, sleep=sleep, logger=self.logger)
        self.http = HttpRetrier(session or requests.Session(),
                                RetryPolicy(max_retries, backoff_base_s, backoff_max_s),
                                timeout_s=timeout_s, sleep=sleep, logger=self.logger,
                                rng=rng or random.Random(), ip_state=self.ip_state)

    def klines_1m(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp, *,
                  now: pd.Timestamp | None = None) -> pd.DataFrame:
        """Canonical raw_1m frame of every 1m candle with open_time in [start, end) (UTC),
        validated with validate_raw_1m.
        Pages of limit=1000 with startTime/endTime (ms; endTime = end - 1 ms) advancing from the
        last open_time + 60000.
        Candles still open (close_time >= now; now defaults to the wall clock) are dropped, never
        returned as final.
        An invalid symbol (``threadx_core.symbols``) raises ``SymbolError`` before any request."""
        check_symbol(symbol)
        start_ms, end_ms = to_ms(start), to_ms(end)
        now_ms = to_ms(pd.Timestamp.now(tz="UTC") if now is None else now)
        began = time.perf_counter()
        pages = self._pages(symbol, start_ms, end_ms, now_ms)
        frame = klines_frame(pages)
        where = f"{symbol} [{iso(start_ms)}, {iso(end_ms)})"
        try:
            frame = validate_raw_1m(frame, where)
        except ValueError as exc:
            raise MalformedResponseError(str(exc)) from None
        self.logger.info("%s: %d candles in %d pages, %.2f s", where, len(frame), len(pages),
                         time.perf_counter() - began)
        return frame

    def _pages(self, symbol: str, start_ms: int, end_ms: int, now_ms: int) -> list[KlinesPage]:
        """Every page of closed candles in ``[start_ms, end_ms)``, in order.

        Pages are requested one after the other (the next starts after the last open time).
        A canonical body (``scan_klines_body``) is only scanned on arrival, for its row count
        and last open/close times; the pages so scanned are converted together
        (``convert_klines_bodies``) when the paging ends, every ``_BATCH_PAGES`` pages, before
        a non-canonical page and before a failed request is reported. Each then goes, in order,
        through the steps of a page parsed on arrival (finite numbers, time window, still-open
        candles), so the frame and the first error are the same; a conversion failure sends the
        pages through the JSON path one by one for the precise error.
        """
        pages: list[KlinesPage] = []
        scanned: list[_Scanned] = []
        cursor = start_ms
        while cursor < end_ms:
            where = f"{symbol} at {iso(cursor)}"
            try:
                body = self._get_page(symbol, cursor, end_ms - 1, where)
            except Exception as exc:
                failure = exc
            else:
                failure = None
            if failure is not None:
                if self._settle(scanned, pages, symbol, now_ms):
                    return pages  # an earlier page ended the paging: no further request counts
                raise failure
            scan = scan_klines_body(body)
            if scan is not None and scan.rows and not cursor <= scan.last_open_ms < end_ms:  # type: ignore[operator]
                scan = None  # outside the window: raise now (below), never page on from it
            if scan is None:
                if self._settle(scanned, pages, symbol, now_ms):
                    return pages
                page = parse_klines_body(body, where)
                check_page_times(page.open_ms, cursor, end_ms - 1, symbol)
                if self._take(page, pages, symbol, cursor, now_ms):
                    return pages
                cursor = int(page.open_ms[-1]) + MINUTE_MS
                continue
            scanned.append(_Scanned(scan, cursor, end_ms - 1, where))
            if scan.rows < PAGE_LIMIT or scan.last_close_ms >= now_ms:  # type: ignore[operator]
                break
            cursor = scan.last_open_ms + MINUTE_MS  # type: ignore[operator]
            if len(scanned) >= _BATCH_PAGES and self._settle(scanned, pages, symbol, now_ms):
                return pages
        self._settle(scanned, pages, symbol, now_ms)
        return pages

    def _settle(self, scanned: list[_Scanned], pages: list[KlinesPage], symbol: str,
                now_ms: int) -> bool:
        """Convert the scanned pages (one batch) and take them in order, as if each had been
        parsed on arrival; empties ``scanned``. True when one of them ends the paging."""
        if not scanned:
            return False
        batch = convert_klines_bodies([s.scan for s in scanned])
        try:
            for i, s in enumerate(scanned):
                if batch is None:
                    page = parse_klines_body(s.scan.body, s.where)
                else:
                    page = batch[i]
                    check_finite(page, s.where)
                check_page_times(page.open_ms, s.first_ms, s.last_ms, symbol)
                if self._take(page, pages, symbol, s.first_ms, now_ms):
                    return True
            return False
        finally:
            scanned.clear()

    def _take(self, page: KlinesPage, pages: list[KlinesPage], symbol: str, first_ms: int,
              now_ms: int) -> bool:
        """Append the page's closed candles to ``pages``; True when the page ends the paging
        (short, or holding a still-open candle)."""
        closed = page.head(int(np.count_nonzero(page.close_ms < now_ms)))
        if len(closed.open_ms):
            pages.append(closed)
        self.logger.debug("%s at %s: %d candles (%d closed)", symbol, iso(first_ms),
                          len(page.open_ms), len(closed.open_ms))
        return len(page.open_ms) < PAGE_LIMIT or len(closed.open_ms) < len(page.open_ms)

    def _get_page(self, symbol: str, first_ms: int, last_ms: int, where: str) -> bytes:
        """The body of one page (≤ 1000 candles) with open_time in ``[first_ms, last_ms]``."""
        params = {"symbol": symbol, "interval": "1m", "startTime": first_ms, "endTime": last_ms,
                  "limit": PAGE_LIMIT}
        response = self.http.get(self.rest_url + KLINES_PATH, params, where, weight=KLINES_WEIGHT)
        if response.status_code != 200:
            _raise_client_error(response, where)
        return response.content


def _raise_client_error(response: requests.Response, where: str) -> None:
    """Raise the error for a 4xx (or other unexpected) status."""
    code, msg = binance_error_detail(response)
    if response.status_code == 400 and code == INVALID_SYMBOL_CODE:
        raise InvalidSymbolError(f"{where}: invalid symbol (Binance code {code}: {msg})")
    raise BinanceError(f"{where}: HTTP {response.status_code} from Binance (code {code}: {msg})")

