"""Binance REST klines client (DESIGN.md §11).

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
- Request weight: every klines call costs 2. The client reads ``X-MBX-USED-WEIGHT-1M`` from every
  response and, before a request that would take the used weight above
  ``weight_limit * weight_headroom``, sleeps until the next minute of the *server's* clock (from
  the ``Date`` header) — it slows down before Binance answers 429.
- Retries (``max_retries`` after the first attempt, shared by every kind below): 429 waits
  ``Retry-After`` seconds; 5xx, connection errors and time-outs wait a full-jitter exponential
  backoff, uniform in ``[0, min(backoff_max_s, backoff_base_s * 2**n)]`` for the n-th retry
  (n = 0, 1, …). When retries run out a ``BinanceError`` names the last cause.
- Raised at once, never retried: 418 → ``IPBannedError``; 400 with code −1121 →
  ``InvalidSymbolError``; any other 4xx → ``BinanceError`` with Binance's code and message; a body
  that is not JSON, rows that are not 12-field arrays, unparsable numbers, or open times that do
  not increase inside ``[start, end)`` → ``MalformedResponseError``. Nothing is returned then.

Every error message names the symbol and the time (UTC ISO 8601) at fault.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import requests

from threadx_core.schema import (
    AMOUNT_COLUMNS,
    PRICE_COLUMNS,
    RAW_1M_COLUMNS,
    empty_raw_1m,
    validate_raw_1m,
)

KLINES_PATH = "/api/v3/klines"
PAGE_LIMIT = 1000
KLINES_WEIGHT = 2
MINUTE_MS = 60_000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
INVALID_SYMBOL_CODE = -1121

#: The 12 fields of a Binance kline row, REST and monthly archives alike, in order.
KLINE_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore")
FLOAT_FIELDS = (*PRICE_COLUMNS, *AMOUNT_COLUMNS)
_FIELD_INDEX = {name: i for i, name in enumerate(KLINE_FIELDS)}
_EPOCH = pd.Timestamp(0, tz="UTC")
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

Sleep = Callable[[float], None]


class BinanceError(RuntimeError):
    """Any failure to get data from Binance; the message names the symbol and the UTC time."""


class InvalidSymbolError(BinanceError):
    """Binance does not know the symbol (HTTP 400, code −1121)."""


class IPBannedError(BinanceError):
    """HTTP 418: this IP is banned for repeating requests after a 429; stop and wait."""


class MalformedResponseError(BinanceError):
    """A response that does not parse as klines (JSON, row shape, numbers, time order)."""


def to_utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    """``ts`` as a tz-aware UTC timestamp (naive values are taken as UTC)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def to_ms(ts: pd.Timestamp | str) -> int:
    """Integer milliseconds since the Unix epoch (floored) of ``ts``."""
    return (to_utc(ts) - _EPOCH) // pd.Timedelta(1, "ms")


def iso(ms: int) -> str:
    """UTC ISO 8601 text of a millisecond epoch time, for error messages."""
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


def raw_1m_frame(open_ms: np.ndarray, floats: Mapping[str, np.ndarray],
                 trades: np.ndarray) -> pd.DataFrame:
    """Canonical raw_1m frame (not yet validated) from column arrays: ``open_ms`` int64 epoch
    milliseconds, ``floats`` the price and amount columns, ``trades`` int64; ``filled`` is False
    (exchange data is never synthesised)."""
    open_time = pd.Series(np.asarray(open_ms, dtype=np.int64).astype("datetime64[ms]"))
    columns: dict[str, Any] = {"open_time": open_time.dt.tz_localize("UTC")}
    columns.update({name: np.asarray(floats[name], dtype=np.float64) for name in FLOAT_FIELDS})
    columns["trades"] = np.asarray(trades, dtype=np.int64)
    columns["filled"] = np.zeros(len(open_ms), dtype=bool)
    return pd.DataFrame(columns)[list(RAW_1M_COLUMNS)]


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_retries`` retries after the first attempt; the n-th retry (n = 0, 1, …) after
    a 5xx or a network failure waits ``backoff_s(n)`` seconds (full jitter)."""

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff_cap_s(self, retry: int) -> float:
        """Upper bound of the n-th backoff: ``min(backoff_max_s, backoff_base_s * 2**n)``."""
        return min(self.backoff_max_s, self.backoff_base_s * 2.0 ** retry)

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """Full-jitter backoff: uniform in ``[0, backoff_cap_s(retry)]``."""
        return rng.uniform(0.0, self.backoff_cap_s(retry))


class HttpRetrier:
    """``GET`` with Binance's retry rules, shared by the REST and the archive clients.

    Returns the first response that is neither 429, 418 nor 5xx; the caller judges any other
    status. 418 raises ``IPBannedError`` at once. ``where`` (symbol and time) starts every message.
    """

    def __init__(self, session: requests.Session, policy: RetryPolicy, *, timeout_s: float,
                 sleep: Sleep, logger: logging.Logger, rng: random.Random,
                 before_attempt: Callable[[str], None] | None = None,
                 on_response: Callable[[requests.Response], None] | None = None) -> None:
        self.session = session
        self.policy = policy
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.logger = logger
        self.rng = rng
        self.before_attempt = before_attempt
        self.on_response = on_response

    def get(self, url: str, params: Mapping[str, Any] | None, where: str) -> requests.Response:
        """The response to ``GET url?params``, after retrying transient failures."""
        for retry in range(self.policy.max_retries + 1):
            outcome = self._attempt(url, params, where, retry)
            if isinstance(outcome, requests.Response):
                return outcome
            wait, cause = outcome
            if retry == self.policy.max_retries:
                break
            self.logger.warning("%s: %s; retry %d/%d in %.2f s", where, cause, retry + 1,
                                self.policy.max_retries, wait)
            self.sleep(wait)
        raise BinanceError(f"{where}: gave up after {self.policy.max_retries + 1} attempts; "
                           f"last cause: {cause}")

    def _attempt(self, url: str, params: Mapping[str, Any] | None, where: str,
                 retry: int) -> requests.Response | tuple[float, str]:
        """One request: the response when done, else ``(wait_s, cause)`` to retry after."""
        if self.before_attempt is not None:
            self.before_attempt(where)
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s)
        except _TRANSIENT as exc:
            return self.policy.backoff_s(retry, self.rng), f"{type(exc).__name__}: {exc}"
        if self.on_response is not None:
            self.on_response(response)
        status = response.status_code
        if status == 418:
            raise IPBannedError(_ban_message(response, where))
        if status == 429:
            retry_after = _retry_after_s(response)
            wait = self.policy.backoff_s(retry, self.rng) if retry_after is None else retry_after
            return wait, f"HTTP 429 (rate limited, Retry-After {retry_after} s)"
        if status >= 500:
            return self.policy.backoff_s(retry, self.rng), f"HTTP {status}"
        return response


def _retry_after_s(response: requests.Response) -> int | None:
    """The ``Retry-After`` header in whole seconds, or None when absent or not an integer."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _ban_message(response: requests.Response, where: str) -> str:
    retry_after = _retry_after_s(response)
    wait = f" (Retry-After: {retry_after} s)" if retry_after is not None else ""
    return (f"{where}: HTTP 418 — this IP is banned by Binance for ignoring rate limits; stop "
            f"and wait before sending any request{wait}")


def binance_error_detail(response: requests.Response) -> tuple[int | None, str]:
    """Binance's ``(code, msg)`` from an error body, or ``(None, body text)`` if it has none."""
    try:
        body = response.json()
        return int(body["code"]), str(body["msg"])
    except (ValueError, TypeError, KeyError):
        return None, response.text[:200]


class WeightBudget:
    """The client's view of Binance's request-weight window (one UTC minute of the server clock).

    ``observe`` reads ``X-MBX-USED-WEIGHT-1M`` and the server clock (``Date`` header) from a
    response; ``wait_s(cost)`` is how long to wait before a request of weight ``cost`` so that the
    used weight stays within ``limit * headroom`` (0 when it fits or the window has rolled over).
    """

    def __init__(self, limit: int, headroom: float, clock: Callable[[], float] = time.time) -> None:
        self.ceiling = limit * headroom
        self.used = 0
        self._clock = clock
        self._window: int | None = None
        self._offset_s = 0.0

    def observe(self, response: requests.Response) -> None:
        """Record the used weight reported by ``response`` (ignored when absent)."""
        used = response.headers.get(WEIGHT_HEADER, "").strip()
        if not used.isdigit():
            return
        date = response.headers.get("Date")
        if date:
            self._offset_s = email.utils.parsedate_to_datetime(date).timestamp() - self._clock()
        self.used = int(used)
        self._window = int(self._server_now() // 60)

    def wait_s(self, cost: int) -> float:
        """Seconds to wait before spending ``cost`` (until the server's next minute if needed)."""
        now = self._server_now()
        if self._window != int(now // 60) or self.used + cost <= self.ceiling:
            return 0.0
        return 60.0 - now % 60.0

    def window_elapsed(self) -> None:
        """Forget the used weight after waiting for a new window."""
        self.used = 0
        self._window = None

    def _server_now(self) -> float:
        return self._clock() + self._offset_s


@dataclass(frozen=True)
class KlinesPage:
    """Parsed columns of one klines page: open/close times in epoch ms, floats, trades."""

    open_ms: np.ndarray
    close_ms: np.ndarray
    floats: dict[str, np.ndarray]
    trades: np.ndarray

    def head(self, n: int) -> KlinesPage:
        """The first ``n`` rows."""
        return KlinesPage(self.open_ms[:n], self.close_ms[:n],
                          {k: v[:n] for k, v in self.floats.items()}, self.trades[:n])


def parse_klines(rows: Any, where: str) -> KlinesPage:
    """Columns of a decoded klines response (a list of 12-field rows), built column-wise.

    Raises ``MalformedResponseError`` (message starts with ``where``) for a body that is not a
    list of 12-element lists, or for numbers that do not parse or are not finite.
    """
    if not isinstance(rows, list):
        raise MalformedResponseError(f"{where}: klines response is not a JSON array")
    bad = next((i for i, row in enumerate(rows)
                if not isinstance(row, list) or len(row) != len(KLINE_FIELDS)), None)
    if bad is not None:
        raise MalformedResponseError(f"{where}: row {bad} (open_time {_row_time(rows[bad])}) has "
                                     f"{_row_len(rows[bad])} fields, expected {len(KLINE_FIELDS)}")
    columns = list(zip(*rows, strict=True)) or [()] * len(KLINE_FIELDS)
    try:
        page = KlinesPage(
            open_ms=np.array(columns[0], dtype=np.int64),
            close_ms=np.array(columns[_FIELD_INDEX["close_time"]], dtype=np.int64),
            floats={name: _floats(columns[_FIELD_INDEX[name]]) for name in FLOAT_FIELDS},
            trades=np.array(columns[_FIELD_INDEX["trades"]], dtype=np.int64),
        )
    except (TypeError, ValueError, OverflowError):
        raise MalformedResponseError(_first_unparsable(rows, where)) from None
    _check_finite(page, where)
    return page


def _floats(values: tuple[Any, ...]) -> np.ndarray:
    """float64 array of decimal strings, parsed by Arrow (correctly rounded, ~4x faster than
    ``float``); values that are not all strings go through numpy. Raises ``ValueError``."""
    try:
        return pa.array(values, type=pa.string()).cast(pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return np.array(values, dtype=np.float64)


def _row_len(row: Any) -> int | str:
    return len(row) if isinstance(row, list) else type(row).__name__


def _row_time(row: Any) -> str:
    """ISO open time of a raw row when it has one, else its first field as text."""
    first = row[0] if isinstance(row, list) and row else row
    return iso(first) if isinstance(first, int) and not isinstance(first, bool) else repr(first)


def _first_unparsable(rows: list[list[Any]], where: str) -> str:
    """Message naming the first row and field that does not parse (slow path, errors only)."""
    for i, row in enumerate(rows):
        for name, index in _FIELD_INDEX.items():
            if name == "ignore":
                continue
            kind = float if name in FLOAT_FIELDS else int
            try:
                kind(row[index])
            except (TypeError, ValueError, OverflowError):
                return (f"{where}: row {i} (open_time {_row_time(row)}): {name} "
                        f"{row[index]!r} is not a number")
    return f"{where}: unparsable klines page"


def _check_finite(page: KlinesPage, where: str) -> None:
    for name, values in page.floats.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MalformedResponseError(f"{where}: candle {iso(page.open_ms[bad[0]])}: {name} is "
                                         f"{values[bad[0]]!r}, not a finite number")


def check_page_times(open_ms: np.ndarray, first_ms: int, last_ms: int, symbol: str) -> None:
    """Open times must increase strictly and stay in ``[first_ms, last_ms]``, else
    ``MalformedResponseError`` naming the candle at fault."""
    outside = np.flatnonzero((open_ms < first_ms) | (open_ms > last_ms))
    if outside.size:
        raise MalformedResponseError(
            f"{symbol} at {iso(open_ms[outside[0]])}: candle outside the requested window "
            f"[{iso(first_ms)}, {iso(last_ms)}]")
    back = np.flatnonzero(np.diff(open_ms) <= 0)
    if back.size:
        raise MalformedResponseError(
            f"{symbol} at {iso(open_ms[back[0] + 1])}: open_time does not increase "
            f"(previous candle {iso(open_ms[back[0]])})")


class BinanceClient:
    """Binance REST klines client; see the module docstring for the full contract."""

    def __init__(self, rest_url: str, *, session: requests.Session | None = None,
                 weight_limit: int = 6000, weight_headroom: float = 0.9, max_retries: int = 5,
                 timeout_s: float = 10.0, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0, sleep: Sleep = time.sleep,
                 logger: logging.Logger | None = None, rng: random.Random | None = None) -> None:
        """``rng`` draws the backoff jitter (tests pass a deterministic one)."""
        self.rest_url = rest_url.rstrip("/")
        self.sleep = sleep
        self.logger = logger or logging.getLogger(__name__)
        self.budget = WeightBudget(weight_limit, weight_headroom)
        self.http = HttpRetrier(session or requests.Session(),
                                RetryPolicy(max_retries, backoff_base_s, backoff_max_s),
                                timeout_s=timeout_s, sleep=sleep, logger=self.logger,
                                rng=rng or random.Random(), before_attempt=self._respect_budget,
                                on_response=self.budget.observe)

    def klines_1m(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp, *,
                  now: pd.Timestamp | None = None) -> pd.DataFrame:
        """Canonical raw_1m frame of every 1m candle with open_time in [start, end) (UTC),
        validated with validate_raw_1m.
        Pages of limit=1000 with startTime/endTime (ms; endTime = end - 1 ms) advancing from the
        last open_time + 60000.
        Candles still open (close_time >= now; now defaults to the wall clock) are dropped, never
        returned as final."""
        start_ms, end_ms = to_ms(start), to_ms(end)
        now_ms = to_ms(pd.Timestamp.now(tz="UTC") if now is None else now)
        began = time.perf_counter()
        pages = self._pages(symbol, start_ms, end_ms, now_ms)
        frame = _concat(pages)
        where = f"{symbol} [{iso(start_ms)}, {iso(end_ms)})"
        try:
            frame = validate_raw_1m(frame, where)
        except ValueError as exc:
            raise MalformedResponseError(str(exc)) from None
        self.logger.info("%s: %d candles in %d pages, %.2f s", where, len(frame), len(pages),
                         time.perf_counter() - began)
        return frame

    def _pages(self, symbol: str, start_ms: int, end_ms: int, now_ms: int) -> list[KlinesPage]:
        """Every page of closed candles in ``[start_ms, end_ms)``, in order."""
        pages: list[KlinesPage] = []
        cursor = start_ms
        while cursor < end_ms:
            page = self._page(symbol, cursor, end_ms - 1)
            closed = page.head(int(np.count_nonzero(page.close_ms < now_ms)))
            if len(closed.open_ms):
                pages.append(closed)
            self.logger.debug("%s at %s: %d candles (%d closed)", symbol, iso(cursor),
                              len(page.open_ms), len(closed.open_ms))
            if len(page.open_ms) < PAGE_LIMIT or len(closed.open_ms) < len(page.open_ms):
                break
            cursor = int(page.open_ms[-1]) + MINUTE_MS
        return pages

    def _page(self, symbol: str, first_ms: int, last_ms: int) -> KlinesPage:
        """One page (≤ 1000 candles) with open_time in ``[first_ms, last_ms]``."""
        where = f"{symbol} at {iso(first_ms)}"
        params = {"symbol": symbol, "interval": "1m", "startTime": first_ms, "endTime": last_ms,
                  "limit": PAGE_LIMIT}
        response = self.http.get(self.rest_url + KLINES_PATH, params, where)
        if response.status_code != 200:
            _raise_client_error(response, where)
        try:
            rows = json.loads(response.content)
        except ValueError as exc:
            raise MalformedResponseError(f"{where}: response is not JSON ({exc})") from None
        page = parse_klines(rows, where)
        check_page_times(page.open_ms, first_ms, last_ms, symbol)
        return page

    def _respect_budget(self, where: str) -> None:
        """Sleep until the server's next minute if one more klines call would pass the budget."""
        wait = self.budget.wait_s(KLINES_WEIGHT)
        if wait <= 0:
            return
        self.logger.info("%s: request weight %d of %.0f allowed this minute used; waiting %.1f s "
                         "for the next window", where, self.budget.used, self.budget.ceiling, wait)
        self.sleep(wait)
        self.budget.window_elapsed()


def _raise_client_error(response: requests.Response, where: str) -> None:
    """Raise the error for a 4xx (or other unexpected) status."""
    code, msg = binance_error_detail(response)
    if response.status_code == 400 and code == INVALID_SYMBOL_CODE:
        raise InvalidSymbolError(f"{where}: invalid symbol (Binance code {code}: {msg})")
    raise BinanceError(f"{where}: HTTP {response.status_code} from Binance (code {code}: {msg})")


def _concat(pages: list[KlinesPage]) -> pd.DataFrame:
    """One raw_1m frame from the pages, in order."""
    if not pages:
        return empty_raw_1m()
    return raw_1m_frame(np.concatenate([p.open_ms for p in pages]),
                        {name: np.concatenate([p.floats[name] for p in pages])
                         for name in FLOAT_FIELDS},
                        np.concatenate([p.trades for p in pages]))
