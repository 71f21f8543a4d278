"""The REST klines client against a real HTTP server on loopback (``FakeBinance``)."""

from __future__ import annotations

import logging
import random

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core.data.binance.rest import (
    PAGE_LIMIT,
    BinanceClient,
    BinanceError,
    InvalidSymbolError,
    IPBannedError,
    MalformedResponseError,
    to_ms,
)
from threadx_core.schema import empty_raw_1m
from threadx_core.testing.candles import FAKE_NOW, MaxJitter, Sleeps, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Fault

UTC = "UTC"


def client(fake: FakeBinance, sleeps: Sleeps, **options: object) -> BinanceClient:
    """A client of ``fake`` that records its waits and draws maximal backoff jitter."""
    return BinanceClient(fake.url, sleep=sleeps, rng=MaxJitter(), **options)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def fetch(c: BinanceClient, start: str, end: str, symbol: str = "BTCUSDT") -> pd.DataFrame:
    return c.klines_1m(symbol, ts(start), ts(end), now=FAKE_NOW)


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


# -- request weight and rate limits ------------------------------------------------------------

def test_throttles_before_the_server_would_answer_429(fake_binance: FakeBinance, sleeps: Sleeps,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Used weight near the budget: the client waits for the next minute (the server clock is at
    :30, so 30 s) instead of running into Binance's limit."""
    fake_binance.weight_limit = 6000
    fake_binance.set_used_weight(5390)  # budget 0.9 · 6000 = 5400: room for 4 calls of weight 2
    c = client(fake_binance, sleeps)
    with caplog.at_level(logging.INFO, logger="threadx_core.data.binance.rest"):
        frame = fetch(c, "2024-03-01", "2024-03-06")

    assert len(frame) == len(toy_candles("BTCUSDT", ts("2024-03-01"), ts("2024-03-06")))
    statuses = [r.status for r in fake_binance.klines_requests()]
    assert len(statuses) == 8 and 429 not in statuses
    assert len(sleeps) == 3  # the fake clock stands still, so every call past the 5th waits
    assert all(25.0 < s <= 30.0 for s in sleeps)  # the server clock stands at :30
    assert "waiting" in caplog.text and "next window" in caplog.text


def test_the_fake_server_answers_429_past_its_limit(fake_binance: FakeBinance,
                                                    sleeps: Sleeps) -> None:
    """A client with no budget of its own meets the server's limit: 429 and Retry-After."""
    fake_binance.set_used_weight(5998)
    c = client(fake_binance, sleeps, weight_limit=10**9, max_retries=1)
    with pytest.raises(BinanceError, match="429"):
        fetch(c, "2024-03-01", "2024-03-03")
    assert [r.status for r in fake_binance.klines_requests()] == [200, 429, 429]
    assert sleeps == [31]  # Retry-After: the rest of the server's minute (clock at :30), + 1 s


def test_429_waits_retry_after_then_succeeds(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.rate_limited(retry_after_s=7))
    frame = fetch(client(fake_binance, sleeps), "2024-03-01 00:00", "2024-03-01 01:00")

    assert len(frame) == len(toy_candles("BTCUSDT", ts("2024-03-01 00:00"), ts("2024-03-01 01:00")))
    assert sleeps == [7]
    assert [r.status for r in fake_binance.klines_requests()] == [429, 200]


def test_repeated_429_beyond_max_retries_is_an_error(fake_binance: FakeBinance,
                                                     sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.rate_limited(retry_after_s=3), times=4)
    with pytest.raises(BinanceError, match=r"BTCUSDT at 2024-03-01T00:00:00\+00:00.*429"):
        fetch(client(fake_binance, sleeps, max_retries=2), "2024-03-01", "2024-03-02")
    assert sleeps == [3, 3]
    assert len(fake_binance.klines_requests()) == 3


def test_418_is_a_ban_and_is_never_retried(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.banned(retry_after_s=120))
    with pytest.raises(IPBannedError, match="banned") as error:
        fetch(client(fake_binance, sleeps), "2024-03-01", "2024-03-02")
    assert "BTCUSDT at 2024-03-01T00:00:00+00:00" in str(error.value)
    assert "Retry-After: 120 s" in str(error.value) and "wait" in str(error.value)
    assert len(fake_binance.requests) == 1
    assert sleeps == []


# -- server errors and time-outs ---------------------------------------------------------------

def test_5xx_then_success_backs_off_exponentially(fake_binance: FakeBinance,
                                                  sleeps: Sleeps) -> None:
    for status in (500, 502, 503):
        fake_binance.inject(Fault.server_error(status))
    frame = fetch(client(fake_binance, sleeps, backoff_base_s=0.5), "2024-03-01", "2024-03-01 02:00")

    assert not frame.empty
    assert sleeps == [0.5, 1.0, 2.0]
    assert [r.status for r in fake_binance.klines_requests()] == [500, 502, 503, 200]


def test_backoff_is_capped_and_gives_up_after_max_retries(fake_binance: FakeBinance,
                                                          sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.server_error(503), times=6)
    c = client(fake_binance, sleeps, max_retries=5, backoff_base_s=1.0, backoff_max_s=3.0)
    with pytest.raises(BinanceError, match=r"BTCUSDT at 2024-03-01T00:00:00\+00:00.*HTTP 503"):
        fetch(c, "2024-03-01", "2024-03-02")
    assert sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert len(fake_binance.requests) == 6


def test_backoff_has_full_jitter(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.server_error(500), times=5)
    c = BinanceClient(fake_binance.url, sleep=sleeps, rng=random.Random(7), backoff_base_s=1.0,
                      backoff_max_s=4.0)
    fetch(c, "2024-03-01", "2024-03-01 01:00")
    caps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == 5 and all(0.0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))
    assert len(set(sleeps)) == 5


def test_time_out_is_retried(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    fake_binance.preload("BTCUSDT", ["2024-03"])  # the time-out is short: no provider call
    fake_binance.inject(Fault.delay(30.0))
    frame = fetch(client(fake_binance, sleeps, timeout_s=0.5), "2024-03-01", "2024-03-01 01:00")
    assert not frame.empty
    assert sleeps == [0.5]
    assert len(fake_binance.klines_requests()) == 2


def test_time_outs_beyond_max_retries_are_an_error(fake_binance: FakeBinance,
                                                   sleeps: Sleeps) -> None:
    fake_binance.preload("BTCUSDT", ["2024-03"])
    fake_binance.inject(Fault.delay(30.0), times=3)
    c = client(fake_binance, sleeps, timeout_s=0.5, max_retries=2)
    with pytest.raises(BinanceError, match=r"BTCUSDT at 2024-03-01T00:00:00\+00:00.*Timeout"):
        fetch(c, "2024-03-01", "2024-03-02")
    assert sleeps == [0.5, 1.0]
    assert len(fake_binance.klines_requests()) == 3


def test_connection_refused_is_retried_then_an_error(sleeps: Sleeps) -> None:
    with FakeBinance(toy_candles, ["BTCUSDT"], now=FAKE_NOW) as fake:
        url = fake.url  # a port that nothing listens on once the server is stopped
    c = BinanceClient(url, sleep=sleeps, rng=MaxJitter(), max_retries=1)
    with pytest.raises(BinanceError, match="ConnectionError"):
        fetch(c, "2024-03-01", "2024-03-02")
    assert sleeps == [0.5]


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
