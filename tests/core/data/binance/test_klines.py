"""The fast klines parser (canonical bodies straight from bytes, batched) against the JSON path.

The fast path must give exactly what ``json.loads`` + ``parse_klines`` give, or step aside so
that the JSON path raises its precise error; and the client, which converts the pages of one
call together, must return the same frame and raise the same first error as page-by-page parsing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadx_core.data.binance.rest import (
    FLOAT_FIELDS,
    PAGE_LIMIT,
    BinanceClient,
    BinanceError,
    KlinesPage,
    MalformedResponseError,
    convert_klines_bodies,
    klines_frame,
    parse_klines,
    parse_klines_bodies,
    parse_klines_body,
    scan_klines_body,
    to_ms,
)
from threadx_core.testing.candles import FAKE_NOW, Sleeps

WHERE = "BTCUSDT at 2024-03-01T00:00:00+00:00"
MINUTE = 60_000
T0 = to_ms("2024-03-01")


def json_path(body: bytes, where: str = WHERE) -> KlinesPage:
    """The reference: what the client did before the fast path (json.loads + parse_klines)."""
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise MalformedResponseError(f"{where}: response is not JSON ({exc})") from None
    return parse_klines(rows, where)


def outcome(parse: Callable[[], KlinesPage]) -> tuple[str, Any]:
    try:
        page = parse()
    except Exception as exc:  # any failure must be the same on both paths
        return "error", f"{type(exc).__name__}: {exc}"
    return "page", page


def assert_pages_equal(got: KlinesPage, expected: KlinesPage) -> None:
    np.testing.assert_array_equal(got.open_ms, expected.open_ms, strict=True)
    np.testing.assert_array_equal(got.close_ms, expected.close_ms, strict=True)
    np.testing.assert_array_equal(got.trades, expected.trades, strict=True)
    for name in FLOAT_FIELDS:
        np.testing.assert_array_equal(got.floats[name], expected.floats[name], strict=True)


def assert_same_outcome(body: bytes) -> None:
    fast, reference = outcome(lambda: parse_klines_body(body, WHERE)), outcome(lambda: json_path(body))
    assert fast[0] == reference[0], (body, fast, reference)
    if fast[0] == "error":
        assert fast[1] == reference[1]
    else:
        assert_pages_equal(fast[1], reference[1])


def row(open_ms: int, prices: list[str], trades: int = 7, close_ms: int | None = None) -> str:
    """A canonical row: prices are the 8 decimal strings in FLOAT_FIELDS order."""
    o, h, lo, c, v, qv, tbb, tbq = prices
    close_ms = open_ms + MINUTE - 1 if close_ms is None else close_ms
    return (f'[{open_ms},"{o}","{h}","{lo}","{c}","{v}",{close_ms},"{qv}",{trades},"{tbb}",'
            f'"{tbq}","0"]')


def body(rows: list[str]) -> bytes:
    return ("[" + ",".join(rows) + "]").encode()


def candles(n: int, start: int = T0, price: str = "62000.1") -> list[str]:
    return [row(start + i * MINUTE, [price, price, price, price, "1.5", "93000.15", "0.5", "31000"])
            for i in range(n)]


#: Epoch ms that error messages can name (up to year 2262, as pandas timestamps).
TIMES = st.integers(0, 9 * 10**15)
decimal_text = st.one_of(
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False).map(repr),   # shortest round trip
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False).map(lambda x: f"{x:.8f}"),  # Binance
    st.floats(min_value=1e-300, max_value=1e-4).map(repr),                # exponents: 1e-05
    st.floats(min_value=1e15, max_value=1e300).map(repr),                 # 1e+16
    st.integers(0, 10**20).map(str),
)
valid_row = st.builds(lambda t, prices, trades, close: row(t, prices, trades, close),
                      TIMES, st.lists(decimal_text, min_size=8, max_size=8),
                      st.integers(0, 2**62), TIMES)


# -- canonical bodies: the fast path, equal to the JSON path and to float(str) -----------------

@settings(max_examples=300, deadline=None)
@given(rows=st.lists(valid_row, max_size=5))
def test_fast_path_equals_json_path_on_canonical_bodies(rows: list[str]) -> None:
    data = body(rows)
    scan = scan_klines_body(data)
    assert scan is not None and scan.rows == len(rows)
    converted = convert_klines_bodies([scan])
    assert converted is not None  # the fast path is taken, not the fallback
    reference = json_path(data)
    assert_pages_equal(converted[0], reference)
    for i, text in enumerate(json.loads(data)):
        assert converted[0].floats["open"][i] == float(text[1])  # exactly, as float(str)
    if rows:
        assert (scan.last_open_ms, scan.last_close_ms) == (reference.open_ms[-1],
                                                           reference.close_ms[-1])


def test_fake_server_and_binance_formats_parse_alike() -> None:
    """Shortest round-trip (the fake server) and 8 fixed decimals (Binance) give one float."""
    for x in (0.1, 62000.1, 1e-05, 16.419799149036407, 57909.898901980785, 3.0e-08):
        data = body([row(T0, [repr(x), f"{x:.8f}", repr(x), repr(x), "1", "2", "3", "4"])])
        page = parse_klines_body(data, WHERE)
        assert page.floats["open"][0] == x and page.floats["high"][0] == float(f"{x:.8f}")


# -- anything else: the JSON path decides, with its precise errors ------------------------------

ALPHABET = b'0123456789+-.eE,[]"  \n\\aZ{}:\x00\xff'


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(valid_row, min_size=1, max_size=3), data=st.data())
def test_mutated_bodies_parse_or_fail_as_the_json_path(rows: list[str], data: st.DataObject) -> None:
    text = bytearray(body(rows))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        char = data.draw(st.sampled_from(list(ALPHABET)))
        if kind == "insert":
            text.insert(at, char)
        elif at < len(text):
            if kind == "replace":
                text[at] = char
            else:
                del text[at]
    assert_same_outcome(bytes(text))


@pytest.mark.parametrize("text", [
    b'[[05,"1","1","1","1","1",59999,"1",7,"1","1","0"]]',         # leading zero: not JSON
    b'[[5,"1","1","1","1","1",059999,"1",7,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",00,"1","1","0"]]',
    b'[[-05,"1","1","1","1","1",59999,"1",7,"1","1","0"]]',
    b'[[5,"1"2,"1","1","1","1",59999,"1",7,"1","1","0"]]',          # text after a closing quote
    b'[[5,2"1","1","1","1","1",59999,"1",7,"1","1","0"]]',          # text before an opening one
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1",5"0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"5]]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"]5]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"],5[6,"1","1","1","1","1",59999,"1",7,'
    b'"1","1","0"]]',
    b'[[5,"","1","1","1","1",59999,"1",7,"1","1","0"]]',            # empty decimal
    b'[[5,"1","1","1","1","1",59999,"1",,"1","1","0"]]',            # empty integer
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1",""]]',            # empty ignore: fine
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","abc"]]',         # any ignore: fine
    b'[[-5,"1","1","1","1","1",59999,"1",-0,"1","1","0"]]',         # signs: JSON path
    b'[[5,"1","1","1","1","1",59999,"1",7e0,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",7.0,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",99999999999999999999,"1","1","0"]]',
    b'[[5,"1e999","1","1","1","1",59999,"1",7,"1","1","0"]]',       # not finite
    b'[[5,"-1","1","1","1","1",59999,"1",7,"1","1","0"]]',
    b'[[5,"+1","1.","1","1",".5",59999,"1",7,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"]',            # cut
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1"]]',               # 11 fields
    b'[[5, "1","1","1","1","1",59999,"1",7,"1","1","0"]]',          # whitespace: JSON path
    b'[[5,1.5,"1","1","1","1",59999,"1",7,"1","1","0"]]',           # bare decimal: JSON path
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"],[6,"1","1","1","n/a","1",119999,"1",7,'
    b'"1","1","0"]]',
    b"[]",
    b"",
])
def test_edge_bodies_parse_or_fail_as_the_json_path(text: bytes) -> None:
    assert_same_outcome(text)


# -- batches -----------------------------------------------------------------------------------

def test_batch_equals_page_by_page() -> None:
    bodies = [body(candles(PAGE_LIMIT, T0 + k * PAGE_LIMIT * MINUTE)) for k in range(3)]
    bodies.append(body(candles(17, T0 + 3 * PAGE_LIMIT * MINUTE)))
    bodies.append(b"[]")
    wheres = [f"page {i}" for i in range(len(bodies))]
    batch = parse_klines_bodies(bodies, wheres)
    assert [len(p.open_ms) for p in batch] == [1000, 1000, 1000, 17, 0]
    for page, data in zip(batch, bodies, strict=True):
        assert_pages_equal(page, json_path(data))
    frame = klines_frame(batch)
    assert len(frame) == 3017 and frame["open_time"].is_monotonic_increasing


def test_batch_raises_the_first_bad_page_error() -> None:
    good = body(candles(3))
    non_finite = body([row(T0, ["1e999"] * 8)])
    leading_zero = good.replace(b"[[", b"[[0", 1)
    with pytest.raises(MalformedResponseError, match=r"^page 1: .* not JSON"):
        parse_klines_bodies([good, leading_zero, non_finite], ["page 0", "page 1", "page 2"])
    with pytest.raises(MalformedResponseError, match=r"^page 1: candle .*: open is .*inf.*not a finite"):
        parse_klines_bodies([good, non_finite, leading_zero], ["page 0", "page 1", "page 2"])


# -- the client: batched conversion, page-by-page semantics ------------------------------------

def response(status: int, content: bytes) -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content = status, content
    return answer


class ScriptedSession:
    """A ``requests.Session`` stand-in answering klines requests from ``answer(startTime)``."""

    def __init__(self, answer: Callable[[int], requests.Response]) -> None:
        self.answer = answer
        self.starts: list[int] = []

    def get(self, url: str, params: dict[str, Any], timeout: float) -> requests.Response:
        self.starts.append(int(params["startTime"]))
        return self.answer(int(params["startTime"]))


def pages_from(rows_at: Callable[[int], list[str]]) -> Callable[[int], requests.Response]:
    return lambda start: response(200, body(rows_at(start)))


def scripted_client(session: ScriptedSession, sleeps: Sleeps) -> BinanceClient:
    return BinanceClient("http://binance.invalid", session=session, sleep=sleeps,  # type: ignore[arg-type]
                         max_retries=0)


def test_client_pages_through_canonical_bodies(sleeps: Sleeps) -> None:
    end = T0 + 2500 * MINUTE
    session = ScriptedSession(pages_from(lambda s: candles(min(PAGE_LIMIT, (end - s) // MINUTE), s)))
    frame = scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp(T0, unit="ms"),
                                                       pd.Timestamp(end, unit="ms"), now=FAKE_NOW)
    assert session.starts == [T0, T0 + 1000 * MINUTE, T0 + 2000 * MINUTE]
    assert len(frame) == 2500 and (frame["open_time"].diff().dropna() == pd.Timedelta("1min")).all()


def test_client_error_in_a_canonical_page_is_that_page_error(sleeps: Sleeps) -> None:
    """Page 2 of 3 repeats a candle: the client names it, as when it parsed each page on arrival
    (it may have asked for the next page first: conversion is batched)."""
    def rows_at(start: int) -> list[str]:
        rows = candles(PAGE_LIMIT, start)
        if start == T0 + PAGE_LIMIT * MINUTE:
            rows[500] = rows[499]
        return rows

    session = ScriptedSession(pages_from(rows_at))
    with pytest.raises(MalformedResponseError, match=r"BTCUSDT at 2024-03-02T00:59:00\+00:00: open_time "
                                                     r"does not increase \(previous candle "
                                                     r"2024-03-02T00:59:00\+00:00\)"):
        scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp("2024-03-01"),
                                                   pd.Timestamp("2024-03-04"), now=FAKE_NOW)


def test_client_reports_a_bad_page_before_a_later_failed_request(sleeps: Sleeps) -> None:
    def answer(start: int) -> requests.Response:
        if start == T0:
            return response(200, body(candles(PAGE_LIMIT, start, price="1e999")))
        return response(400, b'{"code": -1100, "msg": "Illegal characters"}')

    session = ScriptedSession(answer)
    with pytest.raises(MalformedResponseError, match=r"open is .*inf.*, not a finite number"):
        scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp("2024-03-01"),
                                                   pd.Timestamp("2024-03-04"), now=FAKE_NOW)


def test_client_stops_at_a_page_holding_an_open_candle_even_if_not_last(sleeps: Sleeps) -> None:
    """A still-open candle inside page 1 (odd close times) ends the paging there, as before:
    later pages, even if fetched, are not returned."""
    now = to_ms(FAKE_NOW)

    def rows_at(start: int) -> list[str]:
        rows = candles(PAGE_LIMIT, start)
        if start == T0:
            rows[10] = row(T0 + 10 * MINUTE, ["1"] * 8, close_ms=now + 1)
        return rows

    session = ScriptedSession(pages_from(rows_at))
    frame = scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp("2024-03-01"),
                                                       pd.Timestamp("2024-03-04"), now=FAKE_NOW)
    assert len(frame) == 999  # the first page less its open candle: head(closed), as before
    assert frame["open_time"].iloc[-1] == pd.Timestamp(T0 + 998 * MINUTE, unit="ms", tz="UTC")


def test_client_failure_after_a_page_that_ended_the_paging_is_not_an_error(sleeps: Sleeps) -> None:
    now = to_ms(FAKE_NOW)

    def answer(start: int) -> requests.Response:
        if start == T0:
            rows = candles(PAGE_LIMIT, start)
            rows[10] = row(T0 + 10 * MINUTE, ["1"] * 8, close_ms=now + 1)
            return response(200, body(rows))
        return response(400, b'{"code": -1100, "msg": "Illegal characters"}')

    frame = scripted_client(ScriptedSession(answer), sleeps).klines_1m(
        "BTCUSDT", pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-04"), now=FAKE_NOW)
    assert len(frame) == 999


def test_client_http_error_without_bad_pages_is_raised(sleeps: Sleeps) -> None:
    def answer(start: int) -> requests.Response:
        if start == T0:
            return response(200, body(candles(PAGE_LIMIT, start)))
        return response(400, b'{"code": -1100, "msg": "Illegal characters"}')

    with pytest.raises(BinanceError, match="-1100"):
        scripted_client(ScriptedSession(answer), sleeps).klines_1m(
            "BTCUSDT", pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-04"), now=FAKE_NOW)


def test_client_stops_at_once_on_a_page_outside_the_window(sleeps: Sleeps) -> None:
    """A server that answers every request with the first page: the second is outside the
    window, an error at once (no paging on from it), as when each page was parsed on arrival."""
    session = ScriptedSession(lambda start: response(200, body(candles(PAGE_LIMIT))))
    with pytest.raises(MalformedResponseError, match=r"BTCUSDT at 2024-03-01T00:00:00\+00:00: "
                                                     r"candle outside the requested window"):
        scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp("2024-03-01"),
                                                   pd.Timestamp("2024-03-04"), now=FAKE_NOW)
    assert session.starts == [T0, T0 + PAGE_LIMIT * MINUTE]
