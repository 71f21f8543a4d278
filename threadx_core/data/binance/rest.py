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

Parsing: a body in Binance's canonical shape (``scan_klines_body``: no whitespace, times and
trades bare, every other field a quoted decimal) is scanned on arrival for its row count and last
times, and the pages of a call are converted together by Arrow's CSV reader
(``convert_klines_bodies``); the values are exactly those of ``json.loads`` + ``parse_klines``
(same correctly rounded decimal parser), and the frame and the first error are those of parsing
each page on arrival. Only pathological pages (canonical in shape but failing later checks) can
cost requests that page-by-page parsing would not have sent. Any other body, and any batch Arrow
refuses, takes the JSON path with its precise errors.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import requests

from threadx_core.schema import (
    AMOUNT_COLUMNS,
    PRICE_COLUMNS,
    RAW_1M_COLUMNS,
    empty_raw_1m,
    validate_raw_1m,
)
from threadx_core.times import MINUTE_MS, iso, to_ms

KLINES_PATH = "/api/v3/klines"
PAGE_LIMIT = 1000
KLINES_WEIGHT = 2
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
INVALID_SYMBOL_CODE = -1121

#: The 12 fields of a Binance kline row, REST and monthly archives alike, in order.
KLINE_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore")
FLOAT_FIELDS = (*PRICE_COLUMNS, *AMOUNT_COLUMNS)
_FIELD_INDEX = {name: i for i, name in enumerate(KLINE_FIELDS)}
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


def raw_1m_frame(open_ms: np.ndarray, floats: Mapping[str, np.ndarray],
                 trades: np.ndarray) -> pd.DataFrame:
    """Canonical raw_1m frame (not yet validated) from column arrays: ``open_ms`` int64 epoch
    milliseconds, ``floats`` the price and amount columns, ``trades`` int64; ``filled`` is False
    (exchange data is never synthesised)."""
    open_time = pd.Series(np.asarray(open_ms, dtype=np.int64).astype("datetime64[ms]"))
    special: dict[str, Any] = {"open_time": open_time.dt.tz_localize("UTC"),
                               "trades": np.asarray(trades, dtype=np.int64),
                               "filled": np.zeros(len(open_ms), dtype=bool)}
    return pd.DataFrame({name: special[name] if name in special
                         else np.asarray(floats[name], dtype=np.float64)
                         for name in RAW_1M_COLUMNS})


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


# -- fast path: canonical bodies straight from bytes -------------------------------------------
#
# Binance (and the fake server) send every page in one canonical shape: no whitespace, times and
# trade counts unquoted, every other field a quoted decimal, e.g.
# ``[[1499040000000,"0.01634790",…,1499644799999,"2434.19",308,"1756.87","28.46","0"],…]``.
# ``scan_klines_body`` checks the order of its structural bytes (one ``translate``). For the
# conversion, every structural byte becomes a CSV delimiter (``[ , "`` → comma, ``]`` →
# newline) and Arrow's CSV reader, with typed columns, checks the rest: text only where JSON has
# a number or a quoted string (the cells around must be empty), integers written as JSON writes
# them, decimals parsed by the same correctly rounded Arrow parser as ``parse_klines``. The pages
# of one call go through one CSV read. Anything else (whitespace, escapes, literals, unquoted
# decimals, leading zeros …) takes the JSON path, whose precise errors are unchanged.

#: Characters a number token may contain; every other byte of a canonical body is structure.
_NUMBER_CHARS = b"0123456789+-.eE"
_INT_FIELDS = ("open_time", "close_time", "trades")
_ZERO, _NINE = ord("0"), ord("9")
#: A canonical row with a two-digit token in each field (integers bare, the rest quoted).
_SAMPLE_ROW = ("[" + ",".join(f"{i:02d}" if name in _INT_FIELDS else f'"{i:02d}"'
                              for i, name in enumerate(KLINE_FIELDS)) + "]").encode()
#: One canonical row, its number tokens removed: ``[,"","","","","",,"",,"","",""]``.
_ROW_SKELETON = _SAMPLE_ROW.translate(None, _NUMBER_CHARS)
#: ``[ , "`` become commas and ``]`` a newline: a canonical body minus its last byte is CSV,
#: one line per row: ``,,`` + the row with its quotes made commas.
_TO_CSV = bytes.maketrans(b'[,"]', b",,,\n")
#: The CSV columns of a translated row: a kline field where the row has a token, ``_<i>`` for
#: the cells that must stay empty.
_CSV_NAMES = [KLINE_FIELDS[int(cell)] if cell else f"_{i}" for i, cell in enumerate(
    (b"[" + _SAMPLE_ROW).translate(_TO_CSV).rstrip(b"\n").split(b","))]
_CSV_READ = pa_csv.ReadOptions(column_names=_CSV_NAMES, use_threads=True)
_CSV_PARSE = pa_csv.ParseOptions(quote_char=False, escape_char=False, newlines_in_values=False,
                                 ignore_empty_lines=False)
#: Empty cells are null (``pa.null()`` columns accept nothing else, a null field is refused);
#: integers are read as text to check their digits; ``ignore`` is only checked to be a number.
_CSV_CONVERT = pa_csv.ConvertOptions(
    column_types={name: pa.null() if name.startswith("_") else
                  pa.string() if name in _INT_FIELDS else pa.float64() for name in _CSV_NAMES},
    null_values=[""], true_values=[], false_values=[], strings_can_be_null=False,
    check_utf8=False)


@lru_cache(maxsize=8)
def _skeleton(rows: int) -> bytes:
    return b"[" + b",".join([_ROW_SKELETON] * rows) + b"]"


@dataclass(frozen=True)
class KlinesBody:
    """A klines body whose structural bytes are canonical (see ``scan_klines_body``), not yet
    converted: its row count and the open and close times (epoch ms) of its last row, enough
    to page on."""

    body: bytes
    rows: int
    last_open_ms: int | None
    last_close_ms: int | None


def scan_klines_body(body: bytes) -> KlinesBody | None:
    """The row count and last times of a klines body in Binance's canonical shape, else
    ``None`` (take the JSON path).

    Checked here: the structural bytes (everything but ``0-9 + - . e E``) are exactly those of
    ``[[12 fields],…]`` with fields 0, 6 and 8 bare and the others quoted, no whitespace.
    Checked by ``convert_klines_bodies``: where the number text sits, and what it says.
    """
    if body == b"[]":
        return KlinesBody(body, 0, None, None)
    if not (body.startswith(b"[[") and body.endswith(b'"]]')):
        return None
    skeleton = body.translate(None, _NUMBER_CHARS)
    rows = (len(skeleton) - 1) // (len(_ROW_SKELETON) + 1)
    if skeleton != _skeleton(rows):
        return None
    last = body[body.rindex(b"[") + 1:-2].split(b",")
    try:
        last_open, last_close = int(last[0]), int(last[_FIELD_INDEX["close_time"]])
    except ValueError:
        return None
    return KlinesBody(body, rows, last_open, last_close)


def convert_klines_bodies(scans: Sequence[KlinesBody]) -> list[KlinesPage] | None:
    """Columns of scanned pages, converted together (one Arrow CSV read), equal to what
    ``parse_klines`` gives for each; ``None`` when a body is not canonical after all or a value
    does not convert (the caller then takes the JSON path, page by page, for the error).
    Values are not yet checked for finiteness."""
    total = sum(s.rows for s in scans)
    if total == 0:
        return [_empty_page() for _ in scans]
    text = b"".join(s.body[:-1].translate(_TO_CSV) for s in scans if s.rows)
    try:
        table = pa_csv.read_csv(pa.py_buffer(text), read_options=_CSV_READ,
                                parse_options=_CSV_PARSE, convert_options=_CSV_CONVERT)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != total:
        return None
    columns: dict[str, np.ndarray] = {}
    for name in (*_INT_FIELDS, *FLOAT_FIELDS, "ignore"):
        column = table.column(name)
        if column.null_count:
            return None
        if name in _INT_FIELDS:
            column = _json_integers(column)
            if column is None:
                return None
        columns[name] = column.to_numpy()
    pages, at = [], 0
    for s in scans:
        part = slice(at, at + s.rows)
        pages.append(KlinesPage(columns["open_time"][part], columns["close_time"][part],
                                {name: columns[name][part] for name in FLOAT_FIELDS},
                                columns["trades"][part]))
        at += s.rows
    return pages


def _json_integers(text: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """int64 of integer texts as JSON writes them (no sign, no leading zero), else ``None``."""
    try:
        values = text.cast(pa.int64())  # refuses anything but an optional sign and digits
    except pa.ArrowInvalid:  # not an integer, or beyond int64 (numpy refuses it too)
        return None
    for chunk in text.chunks:
        _, offsets, data = chunk.buffers()
        starts = np.frombuffer(offsets, np.int32, len(chunk) + 1, chunk.offset * 4)
        first = np.frombuffer(data, np.uint8)[starts[:-1]]
        if not np.all((first > _ZERO) & (first <= _NINE)
                      | (first == _ZERO) & (np.diff(starts) == 1)):
            return None
    return values


def _empty_page() -> KlinesPage:
    empty = np.empty(0, dtype=np.int64)
    return KlinesPage(empty, empty, {name: np.empty(0) for name in FLOAT_FIELDS}, empty)


def parse_klines_body(body: bytes, where: str) -> KlinesPage:
    """Columns of one klines response body (bytes): the fast path for a canonical body, else
    ``json.loads`` and ``parse_klines``. Raises ``MalformedResponseError`` (message starts with
    ``where``) for a body that is not JSON or not klines, or for non-finite numbers."""
    scan = scan_klines_body(body)
    pages = None if scan is None else convert_klines_bodies([scan])
    if pages is not None:
        _check_finite(pages[0], where)
        return pages[0]
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise MalformedResponseError(f"{where}: response is not JSON ({exc})") from None
    return parse_klines(rows, where)


def parse_klines_bodies(bodies: Sequence[bytes], wheres: Sequence[str]) -> list[KlinesPage]:
    """Columns of several klines bodies, as ``parse_klines_body`` gives them page by page, but
    converted in one batch when every body is canonical (how ``BinanceClient`` converts the
    pages of one call). ``wheres[i]`` starts the message of an error in ``bodies[i]``; the
    error raised is the first page's, in order."""
    scans = [scan_klines_body(body) for body in bodies]
    pages = None if None in scans else convert_klines_bodies(scans)  # type: ignore[arg-type]
    if pages is None:
        return [parse_klines_body(body, where) for body, where in zip(bodies, wheres, strict=True)]
    for page, where in zip(pages, wheres, strict=True):
        _check_finite(page, where)
    return pages


def klines_frame(pages: Sequence[KlinesPage]) -> pd.DataFrame:
    """One canonical raw_1m frame (not yet validated) from pages, in order."""
    if not pages:
        return empty_raw_1m()
    return raw_1m_frame(np.concatenate([p.open_ms for p in pages]),
                        {name: np.concatenate([p.floats[name] for p in pages])
                         for name in FLOAT_FIELDS},
                        np.concatenate([p.trades for p in pages]))


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
                    _check_finite(page, s.where)
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
        response = self.http.get(self.rest_url + KLINES_PATH, params, where)
        if response.status_code != 200:
            _raise_client_error(response, where)
        return response.content

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

