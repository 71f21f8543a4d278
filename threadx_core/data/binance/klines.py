"""The Binance kline wire format, REST pages and monthly archives alike
(docs/ARCHITECTURE.md, Binance).

Contract
--------
A kline row has the 12 fields of ``KLINE_FIELDS``: open and close times in integer epoch
milliseconds, the trade count an integer, every other field a decimal (the last, ``ignore``,
unused). ``parse_klines`` turns a decoded page into columns (``KlinesPage``); ``raw_1m_frame``
and ``klines_frame`` build the canonical raw_1m frame (``threadx_core.schema.RAW_1M``, not yet
validated; ``filled`` False) from them. ``MalformedResponseError`` (message starting with the
caller's ``where``: symbol and UTC time) is raised for a body that is not JSON, rows that are not
12-field arrays, unparsable or non-finite numbers, and (``check_page_times``) open times that do
not increase inside the requested window.

Parsing: a body in Binance's canonical shape (``scan_klines_body``: no whitespace, times and
trades bare, every other field a quoted decimal) is scanned on arrival for its row count and last
times, and the pages of a call are converted together by Arrow's CSV reader
(``convert_klines_bodies``); the values are exactly those of ``json.loads`` + ``parse_klines``
(same correctly rounded decimal parser), and the frame and the first error are those of parsing
each page on arrival. Any other body, and any batch Arrow refuses, takes the JSON path with its
precise errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from threadx_core.data.binance.http import MalformedResponseError
from threadx_core.schema import AMOUNT_COLUMNS, PRICE_COLUMNS, RAW_1M_COLUMNS, empty_raw_1m
from threadx_core.times import iso, open_time_from_ms

#: The 12 fields of a Binance kline row, REST and monthly archives alike, in order.
KLINE_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore")
FLOAT_FIELDS = (*PRICE_COLUMNS, *AMOUNT_COLUMNS)
_FIELD_INDEX = {name: i for i, name in enumerate(KLINE_FIELDS)}


def raw_1m_frame(open_ms: np.ndarray, floats: Mapping[str, np.ndarray],
                 trades: np.ndarray) -> pd.DataFrame:
    """Canonical raw_1m frame (not yet validated) from column arrays: ``open_ms`` int64 epoch
    milliseconds, ``floats`` the price and amount columns, ``trades`` int64; ``filled`` is False
    (exchange data is never synthesised)."""
    special: dict[str, Any] = {"open_time": open_time_from_ms(open_ms),
                               "trades": np.asarray(trades, dtype=np.int64),
                               "filled": np.zeros(len(open_ms), dtype=bool)}
    return pd.DataFrame({name: special[name] if name in special
                         else np.asarray(floats[name], dtype=np.float64)
                         for name in RAW_1M_COLUMNS})


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
    check_finite(page, where)
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


def check_finite(page: KlinesPage, where: str) -> None:
    """Every float of ``page`` is finite, else ``MalformedResponseError`` naming the first candle
    and field at fault (``where`` starts the message)."""
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
        check_finite(pages[0], where)
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
        check_finite(page, where)
    return pages


def klines_frame(pages: Sequence[KlinesPage]) -> pd.DataFrame:
    """One canonical raw_1m frame (not yet validated) from pages, in order."""
    if not pages:
        return empty_raw_1m()
    return raw_1m_frame(np.concatenate([p.open_ms for p in pages]),
                        {name: np.concatenate([p.floats[name] for p in pages])
                         for name in FLOAT_FIELDS},
                        np.concatenate([p.trades for p in pages]))
