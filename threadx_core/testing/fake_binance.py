"""A Binance-compatible HTTP server on loopback, for the tests and ``threadx bench ingest``.

``FakeBinance(provider, symbols)`` serves, on ``127.0.0.1`` with an ephemeral port (``.url``):

- ``GET /api/v3/klines`` as Binance does (docs/ARCHITECTURE.md, Binance): JSON arrays of 12
  fields, prices as strings (shortest round-trip decimals, so a client parses back the
  provider's exact floats), ``startTime``/``endTime`` inclusive (epoch ms), ``limit`` 1..1000
  (default 500), weight 2 per call counted per minute of the server clock in
  ``X-MBX-USED-WEIGHT-1M``; past ``weight_limit`` it answers 429 with ``Retry-After``. Errors
  are Binance's JSON ``{"code", "msg"}`` (−1121 invalid symbol, −1120 interval, −1130 limit,
  −1102 missing symbol, −1023 start after end). Without ``startTime`` it returns the ``limit``
  minutes before ``endTime`` (or now).
- ``GET /data/spot/monthly/klines/{SYMBOL}/1m/{SYMBOL}-1m-{YYYY-MM}.zip`` and ``….zip.CHECKSUM``:
  the month as a header-less CSV in a zip, and its sha256. Open times are µs from 2025 on
  (``vision_timestamps="auto"``, as Binance), or always ``"ms"`` / ``"us"``. With
  ``vision_finished_only`` (default) a month that has not ended at ``now`` is 404, as is an
  unknown symbol, and (always, as on Binance) a month without any candle.
- ``GET /api/v3/time``: ``{"serverTime": <epoch ms of the server clock>}``, weight 1 (not counted
  in the klines weight), what ``threadx doctor`` reads the clock offset from.
- ``GET /api/v3/ticker/24hr`` (every symbol, weight 80) and ``GET /api/v3/exchangeInfo``
  (weight 20) from ``markets`` (symbol → :class:`Market`: base and quote assets, status, 24 h
  quote volume; change it at any time, e.g. to stop a symbol trading), in Binance's JSON.
- Listings: ``listed`` / ``delisted`` (symbol → UTC time) cut a symbol's candles to
  ``[listed, delisted)``: before its listing and from its delisting the symbol has no trading, so
  REST answers an empty list and a month without a candle has no archive (404).

The server clock is ``now`` (settable at any time; ``None`` = the wall clock), or ``clock()``
(epoch s) when given, e.g. a clock shared with clients in other processes: candles opening after
it do not exist, the one containing it is returned with its close time in the future, and the
``Date`` header and the weight window follow it. ``clock_offset_s`` (settable at any time, 0 by
default) is added to whichever clock: a server whose clock is that far ahead of this machine's
(negative: behind), for the clock-offset check of ``threadx doctor``.

``latency_s`` holds every answer that long before it is sent (the server thread sleeps, using no
CPU), as a network with that round-trip time would: what ``threadx bench ingest --latency-ms``
uses to weigh the local work against a fetch that is not on loopback.

Data come from ``provider(symbol, start, end)``, which must return the canonical raw_1m frame of
``[start, end)``; it is called once per symbol-month and cached (JSON rows and zips alike), so
one symbol-year of pages is served in seconds.

Fault injection: ``inject(fault, times=n)`` queues faults (see ``Fault``); each request takes the
first queued fault that applies to its endpoint. ``requests`` records every request (path,
params, status, server clock, the used weight sent), so tests can assert pagination, retries and
the weight spent in each minute; ``weight_per_minute()`` is the server's own count of the weight
of every weighted call (klines, tickers, exchangeInfo) it received in each minute of its clock
(over-limit calls included), the figure Binance bans on.
"""

from __future__ import annotations

import email.utils
import enum
import hashlib
import io
import json
import re
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from threadx_core import times
from threadx_core.data.binance.http import WEIGHT_HEADER
from threadx_core.data.binance.markets import (
    EXCHANGE_INFO_PATH,
    EXCHANGE_INFO_WEIGHT,
    TICKER_PATH,
    TICKER_WEIGHT,
)
from threadx_core.data.binance.rest import KLINES_PATH, KLINES_WEIGHT, TIME_PATH
from threadx_core.times import MINUTE_MS, open_time_ms, to_ms

Provider = Callable[[str, pd.Timestamp, pd.Timestamp], pd.DataFrame]
VisionTimestamps = Literal["auto", "ms", "us"]

_ARCHIVE = re.compile(r"^/data/spot/monthly/klines/([A-Z0-9]+)/1m/\1-1m-(\d{4}-\d{2})\.zip"
                      r"(\.CHECKSUM)?$")
_MICROS_FROM_MS = to_ms("2025-01-01")
_STRING_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "trades",
                   "taker_buy_base", "taker_buy_quote")


class Endpoint(enum.Enum):
    """What a request asks for; faults target one of these (or any)."""

    KLINES = "klines"
    TIME = "time"
    ZIP = "zip"
    CHECKSUM = "checksum"
    TICKER = "ticker"
    EXCHANGE_INFO = "exchange_info"
    OTHER = "other"


#: The request weight of each weighted endpoint, counted per minute like Binance's.
_WEIGHTS = {Endpoint.KLINES: KLINES_WEIGHT, Endpoint.TICKER: TICKER_WEIGHT,
            Endpoint.EXCHANGE_INFO: EXCHANGE_INFO_WEIGHT}


@dataclass(frozen=True)
class Market:
    """A spot symbol as ``exchangeInfo`` and the 24 h ticker describe it."""

    base: str
    quote: str
    status: str = "TRADING"
    quote_volume: float = 0.0


class FaultKind(enum.Enum):
    """Injectable faults (see the ``Fault`` constructors)."""

    NONE = "none"
    HTTP_ERROR = "http_error"
    DELAY = "delay"
    BAD_JSON = "bad_json"
    WRONG_FIELDS = "wrong_fields"
    BAD_PRICE = "bad_price"
    REPEAT_ROW = "repeat_row"
    BAD_TIME = "bad_time"
    TRUNCATED_ZIP = "truncated_zip"
    BAD_CHECKSUM = "bad_checksum"
    BAD_CSV = "bad_csv"


#: The endpoints each fault applies to; absent: any request.
_FAULT_TARGETS = {
    FaultKind.BAD_JSON: (Endpoint.KLINES,), FaultKind.WRONG_FIELDS: (Endpoint.KLINES,),
    FaultKind.BAD_PRICE: (Endpoint.KLINES,), FaultKind.REPEAT_ROW: (Endpoint.KLINES,),
    FaultKind.BAD_TIME: (Endpoint.KLINES,),
    FaultKind.TRUNCATED_ZIP: (Endpoint.ZIP,), FaultKind.BAD_CHECKSUM: (Endpoint.CHECKSUM,),
    FaultKind.BAD_CSV: (Endpoint.CHECKSUM, Endpoint.ZIP),
}


@dataclass(frozen=True)
class Fault:
    """One injected fault; build it with the class methods."""

    kind: FaultKind
    status: int = 200
    body: dict[str, Any] | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0

    @classmethod
    def ok(cls) -> Fault:
        """No fault: a normal answer, so that a script can place faults on later requests."""
        return cls(FaultKind.NONE)

    @classmethod
    def http_error(cls, status: int, code: int | None = None, msg: str = "",
                   retry_after_s: int | None = None) -> Fault:
        """Answer ``status`` with Binance's ``{"code", "msg"}`` body (any endpoint)."""
        body = None if code is None else {"code": code, "msg": msg}
        return cls(FaultKind.HTTP_ERROR, status, body, retry_after_s)

    @classmethod
    def rate_limited(cls, retry_after_s: int = 1) -> Fault:
        """HTTP 429 with ``Retry-After`` (seconds)."""
        return cls.http_error(429, -1003, "Too much request weight used; please use WebSocket "
                              "Streams for live updates to avoid polling the API.", retry_after_s)

    @classmethod
    def banned(cls, retry_after_s: int | None = 120) -> Fault:
        """HTTP 418: the IP is banned."""
        return cls.http_error(418, -1003, "Way too much request weight used; IP banned.",
                              retry_after_s)

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        """A 5xx answer (500, 502, 503 …)."""
        return cls.http_error(status, None)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds`` (longer than the client's time-out)."""
        return cls(FaultKind.DELAY, delay_s=seconds)

    @classmethod
    def bad_json(cls) -> Fault:
        """A klines body cut in the middle: not JSON."""
        return cls(FaultKind.BAD_JSON)

    @classmethod
    def wrong_fields(cls) -> Fault:
        """A klines page whose middle row has 11 fields instead of 12."""
        return cls(FaultKind.WRONG_FIELDS)

    @classmethod
    def bad_price(cls) -> Fault:
        """A klines page whose middle row has a non-numeric close."""
        return cls(FaultKind.BAD_PRICE)

    @classmethod
    def repeat_row(cls) -> Fault:
        """A klines page whose middle row is sent twice (open times not increasing)."""
        return cls(FaultKind.REPEAT_ROW)

    @classmethod
    def bad_time(cls) -> Fault:
        """A klines page whose middle row opens in the year ~3 million (past any timestamp type)."""
        return cls(FaultKind.BAD_TIME)

    @classmethod
    def truncated_zip(cls) -> Fault:
        """The next archive download stops half way."""
        return cls(FaultKind.TRUNCATED_ZIP)

    @classmethod
    def bad_checksum(cls) -> Fault:
        """The next ``.CHECKSUM`` file names a different sha256."""
        return cls(FaultKind.BAD_CHECKSUM)

    @classmethod
    def bad_csv(cls) -> Fault:
        """A valid zip of a CSV that is not klines, and its checksum: consumed by one checksum or
        zip request, so inject it ``times=2`` to spoil one whole download."""
        return cls(FaultKind.BAD_CSV)

    def applies_to(self, endpoint: Endpoint) -> bool:
        """Whether this fault is consumed by a request to ``endpoint``."""
        return endpoint in _FAULT_TARGETS.get(self.kind, (endpoint,))


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server answered: path, query parameters (text), the status sent, the server
    clock when it arrived (epoch s) and the ``X-MBX-USED-WEIGHT-1M`` sent (None: not a weighted call).
    """

    path: str
    params: dict[str, str]
    status: int
    at_s: float
    used_weight: int | None


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def error(cls, status: int, code: int, msg: str) -> _Reply:
        return cls(status, json.dumps({"code": code, "msg": msg}).encode(),
                   {"Content-Type": "application/json"})


class _Month:
    """A cached provider month: its frame, open times (epoch ms, sorted) and the JSON text of
    each candle, formatted lazily by chunks of a day so that a page costs no more than two."""

    CHUNK = 1440

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.open_ms = open_time_ms(frame)
        self._chunks: dict[int, list[str]] = {}

    def rows(self, lo: int, hi: int) -> list[str]:
        """JSON rows of candles ``lo`` to ``hi - 1`` (positions in the month)."""
        rows: list[str] = []
        for chunk in range(lo // self.CHUNK, -(-hi // self.CHUNK)):
            first = chunk * self.CHUNK
            if chunk not in self._chunks:  # a race only formats a chunk twice
                part = slice(first, first + self.CHUNK)
                self._chunks[chunk] = _json_rows(self.frame.iloc[part], self.open_ms[part])
            rows.extend(self._chunks[chunk][max(lo - first, 0):hi - first])
        return rows


def _text_columns(frame: pd.DataFrame) -> list[pa.Array]:
    """The value columns of ``frame`` as Arrow text, in ``_STRING_COLUMNS`` order (shortest
    round-trip decimals, e.g. ``"62000.1"``, so a client parses back the exact floats)."""
    return [pa.array(frame[name].to_numpy()).cast(pa.string()) for name in _STRING_COLUMNS]


def _quoted(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', text, '"', "")


def _json_rows(frame: pd.DataFrame, open_ms: np.ndarray) -> list[str]:
    """Binance REST rows (JSON text, prices as strings) of a canonical raw_1m frame."""
    o, h, lo, c, v, qv, n, tbb, tbq = _text_columns(frame)
    opens = pa.array(open_ms).cast(pa.string())
    closes = pa.array(open_ms + (MINUTE_MS - 1)).cast(pa.string())
    fields = [opens, *map(_quoted, (o, h, lo, c, v)), closes, _quoted(qv), n,
              _quoted(tbb), _quoted(tbq), '"0"', ","]
    return pc.binary_join_element_wise("[", pc.binary_join_element_wise(*fields), "]",
                                       "").to_pylist()


def archive_csv(frame: pd.DataFrame, micros: bool) -> bytes:
    """A Binance Vision CSV (no header) of a canonical raw_1m frame; times in ms or µs."""
    open_ms = open_time_ms(frame)
    scale = 1000 if micros else 1
    opens = pa.array(open_ms * scale).cast(pa.string())
    closes = pa.array((open_ms + MINUTE_MS) * scale - 1).cast(pa.string())
    o, h, lo, c, v, qv, n, tbb, tbq = _text_columns(frame)
    lines = pc.binary_join_element_wise(opens, o, h, lo, c, v, closes, qv, n, tbb, tbq, "0", ",")
    return "".join(line + "\n" for line in lines.to_pylist()).encode()


def zip_bytes(name: str, data: bytes) -> bytes:
    """A zip archive holding one file ``name`` with ``data`` (deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeBinance

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hung up (time-out tests); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        fake = self.server.fake
        reply = fake.handle(url.path, dict(parse_qsl(url.query)))
        if reply.delay_s and fake.stopping.wait(reply.delay_s):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, from the fake server's clock."""
        return email.utils.formatdate(self.server.fake.clock_s(), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are recorded in ``FakeBinance.requests``, not logged."""


class FakeBinance:
    """Binance REST klines + monthly archives on loopback; see the module docstring.

    Use as a context manager (or ``start()``/``stop()``); ``url`` is the base URL of both APIs.
    """

    def __init__(self, provider: Provider, symbols: Iterable[str], *,
                 now: pd.Timestamp | None = None, weight_limit: int = 6000,
                 vision_timestamps: VisionTimestamps = "auto",
                 vision_finished_only: bool = True, latency_s: float = 0.0,
                 clock: Callable[[], float] | None = None,
                 listed: Mapping[str, pd.Timestamp] | None = None,
                 delisted: Mapping[str, pd.Timestamp] | None = None,
                 clock_offset_s: float = 0.0,
                 markets: Mapping[str, Market] | None = None) -> None:
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self.provider = provider
        self.symbols = frozenset(symbols)
        self.now = now
        self.clock = clock
        self.clock_offset_s = clock_offset_s
        self.weight_limit = weight_limit
        self.vision_timestamps = vision_timestamps
        self.vision_finished_only = vision_finished_only
        self.latency_s = latency_s
        self.listed = dict(listed or {})
        self.delisted = dict(delisted or {})
        self.markets = dict(markets or {})
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._months: dict[tuple[str, str], _Month] = {}
        self._zips: dict[tuple[str, str, bool], bytes] = {}
        self._weight_window = -1
        self._weight_used = 0
        self._weight_by_minute: dict[int, int] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeBinance:
        """Listen on 127.0.0.1 (ephemeral port) and serve in a background thread."""
        self.stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="fake-binance")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release delayed requests and close the socket."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("FakeBinance is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test controls -----------------------------------------------------------------------

    def clock_s(self) -> float:
        """The server clock in epoch seconds: ``clock()`` when given, else ``now`` when set, else
        the wall clock; plus ``clock_offset_s``."""
        if self.clock is not None:
            base = self.clock()
        else:
            base = time.time() if self.now is None else to_ms(self.now) / 1000.0
        return base + self.clock_offset_s

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests it applies to."""
        with self._lock:
            self._faults.extend([fault] * times)

    def preload(self, symbol: str, month_labels: Iterable[str], *, archives: bool = False) -> None:
        """Call the provider for these months now, and build their archives too if asked (e.g.
        before timing a client, or before a test with a short client time-out)."""
        for month in map(times.month_label, map(times.parse_month, month_labels)):
            self._month(symbol, month)
            if archives:
                self._zip(symbol, month)

    def set_used_weight(self, weight: int) -> None:
        """Set the request weight already used in the current minute window."""
        with self._lock:
            self._weight_window = int(self.clock_s() // 60)
            self._weight_used = weight

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far, in the order they were answered."""
        with self._lock:
            return list(self._requests)

    def weight_per_minute(self) -> dict[int, int]:
        """``{minute of the server clock (epoch s // 60): klines weight received in it}``, counting
        every call, answered 429 or not; ``set_used_weight`` is not counted."""
        with self._lock:
            return dict(self._weight_by_minute)

    def klines_requests(self) -> list[RecordedRequest]:
        """The ``/api/v3/klines`` requests answered so far."""
        return [r for r in self.requests if r.path == KLINES_PATH]

    # -- request handling --------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, str]) -> _Reply:
        """The reply to ``GET path?params`` (faults applied), recorded."""
        endpoint, match = _classify(path)
        fault = None
        with self._lock:
            at_s = self.clock_s()
            weight = _WEIGHTS.get(endpoint)
            used, reply = self._spend_weight(at_s, weight) if weight else (None, None)
            if reply is None:
                fault = self._take_fault(endpoint)
        if reply is None and fault is not None and fault.kind is FaultKind.HTTP_ERROR:
            reply = _http_error(fault)
        elif reply is None:
            reply = self._answer(endpoint, match, params, fault)
        if used is not None:
            reply.headers[WEIGHT_HEADER] = str(used)
        reply.delay_s = self.latency_s
        if fault is not None and fault.kind is FaultKind.DELAY:
            reply.delay_s += fault.delay_s
        with self._lock:
            self._requests.append(RecordedRequest(path, params, reply.status, at_s, used))
        return reply

    def _take_fault(self, endpoint: Endpoint) -> Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.applies_to(endpoint):
                return self._faults.pop(i)
        return None

    def _spend_weight(self, now_s: float, weight: int) -> tuple[int, _Reply | None]:
        """Count a call of ``weight`` in the minute of ``now_s``: the used weight, and a 429
        reply once past the limit (``None`` while within it)."""
        window = int(now_s // 60)
        if window != self._weight_window:
            self._weight_window, self._weight_used = window, 0
        self._weight_used += weight
        self._weight_by_minute[window] = self._weight_by_minute.get(window, 0) + weight
        if self._weight_used <= self.weight_limit:
            return self._weight_used, None
        reply = _Reply.error(429, -1003, "Too much request weight used; current limit is "
                             f"{self.weight_limit} request weight per 1 MINUTE.")
        reply.headers["Retry-After"] = str(int(60 - now_s % 60) + 1)
        return self._weight_used, reply

    def _answer(self, endpoint: Endpoint, match: re.Match[str] | None, params: dict[str, str],
                fault: Fault | None) -> _Reply:
        if endpoint is Endpoint.KLINES:
            return self._klines(params, fault)
        if endpoint is Endpoint.TIME:
            return _Reply(200, json.dumps({"serverTime": int(self.clock_s() * 1000)}).encode(),
                          {"Content-Type": "application/json;charset=UTF-8"})
        if endpoint in (Endpoint.TICKER, Endpoint.EXCHANGE_INFO):
            return self._market_list(endpoint)
        if match is not None:
            return self._archive(match.group(1), match.group(2), endpoint, fault)
        return _Reply(404, b"Not Found", {"Content-Type": "text/plain"})

    # -- market lists ------------------------------------------------------------------------

    def _market_list(self, endpoint: Endpoint) -> _Reply:
        """The 24 h tickers or exchangeInfo of ``markets``, in Binance's JSON."""
        with self._lock:
            markets = dict(self.markets)
        if endpoint is Endpoint.TICKER:
            body: Any = [{"symbol": s, "priceChangePercent": "0.000", "volume": "0.00000000",
                          "quoteVolume": f"{m.quote_volume:.8f}", "count": 0}
                         for s, m in markets.items()]
        else:
            body = {"timezone": "UTC", "serverTime": int(self.clock_s() * 1000),
                    "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                    "intervalNum": 1, "limit": self.weight_limit}],
                    "symbols": [{"symbol": s, "status": m.status, "baseAsset": m.base,
                                 "quoteAsset": m.quote, "isSpotTradingAllowed": True}
                                for s, m in markets.items()]}
        return _Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json;charset=UTF-8"})

    # -- REST klines -------------------------------------------------------------------------

    def _klines(self, params: dict[str, str], fault: Fault | None) -> _Reply:
        symbol = params.get("symbol")
        if not symbol:
            return _Reply.error(400, -1102, "Mandatory parameter 'symbol' was not sent, was "
                                "empty/null, or malformed.")
        if symbol not in self.symbols:
            return _Reply.error(400, -1121, "Invalid symbol.")
        if params.get("interval") != "1m":
            return _Reply.error(400, -1120, "Invalid interval.")
        try:
            limit = int(params.get("limit", 500))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return _Reply.error(400, -1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= 1000:
            return _Reply.error(400, -1130, "Data sent for parameter 'limit' is not valid.")
        if start is not None and end is not None and start > end:
            return _Reply.error(400, -1023, "Start time is greater than End time.")
        last = int(self.clock_s() * 1000) if end is None else min(end, int(self.clock_s() * 1000))
        first = last - (limit - 1) * MINUTE_MS if start is None else start
        rows = self._rows(symbol, first, last, limit)
        body = "[" + ",".join(rows) + "]"
        return _Reply(200, _corrupt_klines(body, fault).encode(),
                      {"Content-Type": "application/json;charset=UTF-8"})

    def _rows(self, symbol: str, first_ms: int, last_ms: int, limit: int) -> list[str]:
        """JSON rows of the candles opening in ``[first_ms, last_ms]``, at most ``limit``."""
        rows: list[str] = []
        month_start = times.parse_month(times.month_label(pd.Timestamp(first_ms, unit="ms", tz="UTC")))
        while len(rows) < limit and to_ms(month_start) <= last_ms:
            month = self._month(symbol, times.month_label(month_start))
            lo = np.searchsorted(month.open_ms, first_ms, side="left")
            hi = np.searchsorted(month.open_ms, last_ms, side="right")
            rows.extend(month.rows(lo, min(hi, lo + limit - len(rows))))
            month_start += times.MONTH
        return rows

    def _month(self, symbol: str, month: str) -> _Month:
        """The provider's frame of a symbol-month cut to its listing (cached, with its JSON rows)."""
        key = (symbol, month)
        with self._lock:
            cached = self._months.get(key)
        if cached is None:
            frame = self.provider(symbol, *times.month_bounds(month))
            trading = pd.Series(True, index=frame.index)
            if symbol in self.listed:
                trading &= frame["open_time"] >= self.listed[symbol]
            if symbol in self.delisted:
                trading &= frame["open_time"] < self.delisted[symbol]
            cached = _Month(frame[trading].reset_index(drop=True))
            with self._lock:
                self._months[key] = cached
        return cached

    # -- monthly archives --------------------------------------------------------------------

    def _archive(self, symbol: str, month: str, endpoint: Endpoint, fault: Fault | None) -> _Reply:
        name = f"{symbol}-1m-{month}.zip"
        end = times.month_bounds(month)[1]
        if (symbol not in self.symbols or (self.vision_finished_only and to_ms(end) > self.clock_s() * 1000)
                or not len(self._month(symbol, month).open_ms)):  # Binance archives no month without trading
            return _Reply(404, b"<Error><Code>NoSuchKey</Code></Error>",
                          {"Content-Type": "application/xml"})
        payload = self._zip(symbol, month)
        if fault is not None and fault.kind is FaultKind.BAD_CSV:
            payload = zip_bytes(name.removesuffix(".zip") + ".csv", b"open,high\nnot,klines\n")
        if endpoint is Endpoint.CHECKSUM:
            digest = hashlib.sha256(payload).hexdigest()
            if fault is not None and fault.kind is FaultKind.BAD_CHECKSUM:
                digest = hashlib.sha256(payload + b"tampered").hexdigest()
            return _Reply(200, f"{digest}  {name}\n".encode(), {"Content-Type": "text/plain"})
        if fault is not None and fault.kind is FaultKind.TRUNCATED_ZIP:
            payload = payload[: len(payload) // 2]
        return _Reply(200, payload, {"Content-Type": "application/zip"})

    def _zip(self, symbol: str, month: str) -> bytes:
        """The archive of a symbol-month in the configured time unit (cached)."""
        start = to_ms(times.parse_month(month))
        micros = self.vision_timestamps == "us" or (self.vision_timestamps == "auto"
                                                    and start >= _MICROS_FROM_MS)
        key = (symbol, month, micros)
        with self._lock:
            cached = self._zips.get(key)
        if cached is None:
            frame = self._month(symbol, month).frame
            cached = zip_bytes(f"{symbol}-1m-{month}.csv", archive_csv(frame, micros))
            with self._lock:
                self._zips[key] = cached
        return cached


def _classify(path: str) -> tuple[Endpoint, re.Match[str] | None]:
    if path == KLINES_PATH:
        return Endpoint.KLINES, None
    if path == TIME_PATH:
        return Endpoint.TIME, None
    if path in (TICKER_PATH, EXCHANGE_INFO_PATH):
        return (Endpoint.TICKER if path == TICKER_PATH else Endpoint.EXCHANGE_INFO), None
    match = _ARCHIVE.match(path)
    if match is None:
        return Endpoint.OTHER, None
    return (Endpoint.CHECKSUM if match.group(3) else Endpoint.ZIP), match


def _http_error(fault: Fault) -> _Reply:
    body = b"" if fault.body is None else json.dumps(fault.body).encode()
    reply = _Reply(fault.status, body or b"<html>Server Error</html>",
                   {"Content-Type": "application/json" if body else "text/html"})
    if fault.retry_after_s is not None:
        reply.headers["Retry-After"] = str(fault.retry_after_s)
    return reply


def _corrupt_klines(body: str, fault: Fault | None) -> str:
    """``body`` damaged as ``fault`` asks (unchanged for other faults or an empty page)."""
    if fault is None or fault.kind in (FaultKind.NONE, FaultKind.DELAY) or body == "[]":
        return body
    if fault.kind is FaultKind.BAD_JSON:
        return body[: len(body) // 2]
    rows = json.loads(body)
    middle = len(rows) // 2
    if fault.kind is FaultKind.WRONG_FIELDS:
        rows[middle] = rows[middle][:-1]
    elif fault.kind is FaultKind.BAD_PRICE:
        rows[middle][4] = "n/a"
    elif fault.kind is FaultKind.REPEAT_ROW:
        rows.insert(middle + 1, rows[middle])
    elif fault.kind is FaultKind.BAD_TIME:
        rows[middle][0] = 10**17
    return json.dumps(rows)
