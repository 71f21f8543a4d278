"""The REST klines client: paging, still-open candles and client errors against a real HTTP
server on loopback (``FakeBinance``), and its batched conversion of canonical pages against
scripted answers: the same frame and the same first error as page-by-page parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.data.binance.kit import T0, UTC, body, candles, client, fetch, row, ts
from threadx_core.data.binance.http import BinanceError, InvalidSymbolError, MalformedResponseError
from threadx_core.data.binance.rest import PAGE_LIMIT, BinanceClient
from threadx_core.schema import empty_raw_1m
from threadx_core.testing.candles import FAKE_NOW, Sleeps, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Fault
from threadx_core.times import MINUTE_MS, to_ms


def page_starts(fake: FakeBinance) -> list[int]:
    return [int(r.params["startTime"]) for r in fake.klines_requests()]


# -- pagination --------------------------------------------------------------------------------

def test_pages_across_page_and_month_boundaries(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    start, end = "2024-02-29 06:00", "2024-03-01 18:00"
    frame = fetch(client(fake_binance, sleeps), start, end)

    expected = toy_candles("BTCUSDT", ts(start), ts(end))
    pd.testing.assert_frame_equal(frame, expected)
    assert len(frame) == 2160 - 22  # 36 h, of which 22 minutes untraded in the toy data
    assert frame["open_time"].dt.month.unique().tolist() == [2, 3]
    requests = fake_binance.klines_requests()
    assert len(requests) == 3  # 1000 + 1000 + 138 candles: the short last page ends the paging
    first_page_last = to_ms(frame["open_time"].iloc[PAGE_LIMIT - 1])
    assert page_starts(fake_binance)[:2] == [to_ms(ts(start)), first_page_last + 60_000]
    for r in requests:
        assert r.params["endTime"] == str(to_ms(ts(end)) - 1)
        assert (r.params["symbol"], r.params["interval"], r.params["limit"]) == ("BTCUSDT", "1m",
                                                                                  "1000")
    assert sleeps == []


def test_a_full_page_reaching_the_end_is_the_last(fake_binance: FakeBinance,
                                                   sleeps: Sleeps) -> None:
    start = ts("2024-03-01 00:00")
    window = toy_candles("BTCUSDT", start, ts("2024-03-02"))
    end = window["open_time"].iloc[PAGE_LIMIT - 1] + pd.Timedelta(minutes=1)

    frame = client(fake_binance, sleeps).klines_1m("BTCUSDT", start, end, now=FAKE_NOW)

    pd.testing.assert_frame_equal(frame, window.iloc[:PAGE_LIMIT])
    assert len(fake_binance.klines_requests()) == 1


def test_an_empty_page_ends_the_paging(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    """A full page whose next minute is untraded and last in the window: the next page is empty."""
    day = toy_candles("BTCUSDT", ts("2024-03-01"), ts("2024-03-02"))
    minutes = day["open_time"]
    after_gap = minutes[minutes.diff() > pd.Timedelta(minutes=1)].index[-1]
    start = minutes.iloc[after_gap - PAGE_LIMIT]
    end = minutes.iloc[after_gap]  # [start, end) = 1000 candles, then an untraded minute

    frame = client(fake_binance, sleeps).klines_1m("BTCUSDT", start, end, now=FAKE_NOW)

    pd.testing.assert_frame_equal(frame, day.iloc[after_gap - PAGE_LIMIT:after_gap]
                                  .reset_index(drop=True))
    assert [r.status for r in fake_binance.klines_requests()] == [200, 200]
    assert page_starts(fake_binance)[1] == to_ms(end) - 60_000


def test_empty_window_sends_nothing(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    frame = fetch(client(fake_binance, sleeps), "2024-03-01", "2024-03-01")
    pd.testing.assert_frame_equal(frame, empty_raw_1m())
    assert fake_binance.requests == []


def test_still_open_candle_is_dropped(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    """The server's clock is 12:34:30: the 12:34 candle is open, later ones do not exist."""
    frame = fetch(client(fake_binance, sleeps), "2024-03-15 12:00", "2024-03-15 13:00")

    assert frame["open_time"].iloc[-1] == ts("2024-03-15 12:33")
    pd.testing.assert_frame_equal(frame, toy_candles("BTCUSDT", ts("2024-03-15 12:00"),
                                                     ts("2024-03-15 12:34")))


def test_window_invariant(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    """For any [start, end) and clock, the client returns exactly the provider's closed candles."""
    c = client(fake_binance, sleeps)
    origin = to_ms(ts("2024-02-28"))
    day_ms = 86_400_000

    @settings(max_examples=40, deadline=None)
    @given(start=st.integers(0, 3 * day_ms), length=st.integers(0, 2 * day_ms),
           now=st.integers(0, 5 * day_ms))
    def check(start: int, length: int, now: int) -> None:
        first = pd.Timestamp(origin + start, unit="ms", tz=UTC)
        end = first + pd.Timedelta(milliseconds=length)
        clock = pd.Timestamp(origin + now, unit="ms", tz=UTC)
        fake_binance.now = clock
        frame = c.klines_1m("ETHUSDT", first, end, now=clock)
        expected = toy_candles("ETHUSDT", first, min(end, clock.floor("min")))
        pd.testing.assert_frame_equal(frame, expected)

    check()


# -- client errors and malformed answers -------------------------------------------------------

def test_invalid_symbol_fails_at_once(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    with pytest.raises(InvalidSymbolError, match=r"NOPEUSDT at 2024-03-01T00:00:00\+00:00.*-1121"):
        fetch(client(fake_binance, sleeps), "2024-03-01", "2024-03-02", symbol="NOPEUSDT")
    assert [r.status for r in fake_binance.requests] == [400]
    assert sleeps == []


def test_other_4xx_fails_at_once_with_binance_message(fake_binance: FakeBinance,
                                                      sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.http_error(400, -1100, "Illegal characters found in parameter."))
    with pytest.raises(BinanceError, match=r"HTTP 400.*-1100: Illegal characters") as error:
        fetch(client(fake_binance, sleeps), "2024-03-01", "2024-03-02")
    assert type(error.value) is BinanceError
    assert len(fake_binance.requests) == 1


@pytest.mark.parametrize(("fault", "message"), [
    (Fault.bad_json(), r"BTCUSDT at 2024-03-01T00:00:00\+00:00: response is not JSON"),
    (Fault.wrong_fields(), r"BTCUSDT at 2024-03-01T00:00:00\+00:00: row 500 \(open_time "
                           r"2024-03-01T08:2\d:00\+00:00\) has 11 fields, expected 12"),
    (Fault.bad_price(), r"BTCUSDT at 2024-03-01T00:00:00\+00:00: row 500 \(open_time "
                        r"2024-03-01T08:2\d:00\+00:00\): close 'n/a' is not a number"),
    (Fault.repeat_row(), r"BTCUSDT at 2024-03-01T08:2\d:00\+00:00: open_time does not increase"),
    (Fault.bad_time(), r"BTCUSDT at open_time 100000000000000000 ms \(not a representable time\): "
                       r"candle outside the requested window"),
])
def test_malformed_pages_name_symbol_and_time(fake_binance: FakeBinance, sleeps: Sleeps,
                                              fault: Fault, message: str) -> None:
    fake_binance.inject(fault)
    with pytest.raises(MalformedResponseError, match=message):
        fetch(client(fake_binance, sleeps), "2024-03-01", "2024-03-02")
    assert len(fake_binance.requests) == 1  # never retried
    assert sleeps == []


def test_a_malformed_later_page_returns_nothing(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.ok())  # the first page is fine, the second is not
    fake_binance.inject(Fault.bad_price())
    with pytest.raises(MalformedResponseError, match="is not a number"):
        fetch(client(fake_binance, sleeps), "2024-03-01", "2024-03-02")
    assert len(fake_binance.requests) == 2


def test_fake_server_latency_holds_every_answer(sleeps: Sleeps) -> None:
    with FakeBinance(toy_candles, ["BTCUSDT"], now=FAKE_NOW, latency_s=0.5) as fake:
        impatient = BinanceClient(fake.url, sleep=sleeps, timeout_s=0.1, max_retries=0)
        with pytest.raises(BinanceError, match="Timeout"):
            fetch(impatient, "2024-03-01", "2024-03-01 01:00")
        frame = fetch(BinanceClient(fake.url, sleep=sleeps, timeout_s=5.0), "2024-03-01",
                      "2024-03-01 01:00")
    assert len(frame) == len(toy_candles("BTCUSDT", pd.Timestamp("2024-03-01", tz="UTC"),
                                         pd.Timestamp("2024-03-01 01:00", tz="UTC")))
    with pytest.raises(ValueError, match="latency_s must be >= 0"):
        FakeBinance(toy_candles, ["BTCUSDT"], latency_s=-1.0)


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
    end = T0 + 2500 * MINUTE_MS
    session = ScriptedSession(pages_from(lambda s: candles(min(PAGE_LIMIT, (end - s) // MINUTE_MS), s)))
    frame = scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp(T0, unit="ms"),
                                                       pd.Timestamp(end, unit="ms"), now=FAKE_NOW)
    assert session.starts == [T0, T0 + 1000 * MINUTE_MS, T0 + 2000 * MINUTE_MS]
    assert len(frame) == 2500 and (frame["open_time"].diff().dropna() == pd.Timedelta("1min")).all()


def test_client_error_in_a_canonical_page_is_that_page_error(sleeps: Sleeps) -> None:
    """Page 2 of 3 repeats a candle: the client names it, as when it parsed each page on arrival
    (it may have asked for the next page first: conversion is batched)."""
    def rows_at(start: int) -> list[str]:
        rows = candles(PAGE_LIMIT, start)
        if start == T0 + PAGE_LIMIT * MINUTE_MS:
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
            rows[10] = row(T0 + 10 * MINUTE_MS, ["1"] * 8, close_ms=now + 1)
        return rows

    session = ScriptedSession(pages_from(rows_at))
    frame = scripted_client(session, sleeps).klines_1m("BTCUSDT", pd.Timestamp("2024-03-01"),
                                                       pd.Timestamp("2024-03-04"), now=FAKE_NOW)
    assert len(frame) == 999  # the first page less its open candle: head(closed), as before
    assert frame["open_time"].iloc[-1] == pd.Timestamp(T0 + 998 * MINUTE_MS, unit="ms", tz="UTC")


def test_client_failure_after_a_page_that_ended_the_paging_is_not_an_error(sleeps: Sleeps) -> None:
    now = to_ms(FAKE_NOW)

    def answer(start: int) -> requests.Response:
        if start == T0:
            rows = candles(PAGE_LIMIT, start)
            rows[10] = row(T0 + 10 * MINUTE_MS, ["1"] * 8, close_ms=now + 1)
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
    assert session.starts == [T0, T0 + PAGE_LIMIT * MINUTE_MS]
