"""Retries, back-off, bans and the request-weight budget (the shared HTTP side), through the
REST client against a real HTTP server on loopback (``FakeBinance``)."""

from __future__ import annotations

import logging
import random

import pytest

from tests.core.data.binance.kit import ServerSleeps, client, fetch, ts
from threadx_core.data.binance.http import BinanceError, IPBannedError
from threadx_core.data.binance.rest import BinanceClient
from threadx_core.testing.candles import FAKE_NOW, MaxJitter, Sleeps, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Fault

# -- request weight and rate limits ------------------------------------------------------------

def test_throttles_before_the_server_would_answer_429(fake_binance: FakeBinance,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Used weight near the budget: the client waits for the next minute of the server clock (at
    :30, so 30 s) instead of running into Binance's limit; the new minute's budget is then free."""
    fake_binance.weight_limit = 6000
    fake_binance.set_used_weight(5390)  # budget 0.9 · 6000 = 5400: room for 5 calls of weight 2
    sleeps = ServerSleeps(fake_binance)
    c = client(fake_binance, sleeps, clock=fake_binance.clock_s)
    with caplog.at_level(logging.INFO, logger="threadx_core.data.binance.rest"):
        frame = fetch(c, "2024-03-01", "2024-03-06")

    assert len(frame) == len(toy_candles("BTCUSDT", ts("2024-03-01"), ts("2024-03-06")))
    calls = fake_binance.klines_requests()
    assert [r.status for r in calls] == [200] * 8
    assert [r.used_weight for r in calls] == [5392, 5394, 5396, 5398, 5400, 2, 4, 6]
    assert sleeps == [30.0]  # the server clock stood at :30
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
