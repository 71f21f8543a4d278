"""Test kit of the Binance tests: a client of the fake server that records its waits, a sleep
that moves the fake server's clock, and canonical kline rows and bodies built by hand."""

from __future__ import annotations

import pandas as pd

from threadx_core.data.binance.rest import BinanceClient
from threadx_core.testing.candles import FAKE_NOW, MaxJitter, Sleeps
from threadx_core.testing.fake_binance import FakeBinance
from threadx_core.times import MINUTE_MS, to_ms

UTC = "UTC"
T0 = to_ms("2024-03-01")


def client(fake: FakeBinance, sleeps: Sleeps, **options: object) -> BinanceClient:
    """A client of ``fake`` that records its waits and draws maximal backoff jitter."""
    return BinanceClient(fake.url, sleep=sleeps, rng=MaxJitter(), **options)


class ServerSleeps(Sleeps):
    """A ``sleep`` that records the waits and moves the fake server's ``now`` on by them, as time
    would pass (give the client ``clock=fake.clock_s`` so that both read the same clock)."""

    def __init__(self, fake: FakeBinance) -> None:
        super().__init__()
        self.fake = fake

    def __call__(self, seconds: float) -> None:
        super().__call__(seconds)
        self.fake.now = self.fake.now + pd.Timedelta(seconds=seconds)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def fetch(c: BinanceClient, start: str, end: str, symbol: str = "BTCUSDT") -> pd.DataFrame:
    return c.klines_1m(symbol, ts(start), ts(end), now=FAKE_NOW)


def row(open_ms: int, prices: list[str], trades: int = 7, close_ms: int | None = None) -> str:
    """A canonical row: prices are the 8 decimal strings in FLOAT_FIELDS order."""
    o, h, lo, c, v, qv, tbb, tbq = prices
    close_ms = open_ms + MINUTE_MS - 1 if close_ms is None else close_ms
    return (f'[{open_ms},"{o}","{h}","{lo}","{c}","{v}",{close_ms},"{qv}",{trades},"{tbb}",'
            f'"{tbq}","0"]')


def body(rows: list[str]) -> bytes:
    return ("[" + ",".join(rows) + "]").encode()


def candles(n: int, start: int = T0, price: str = "62000.1") -> list[str]:
    return [row(start + i * MINUTE_MS, [price, price, price, price, "1.5", "93000.15", "0.5", "31000"])
            for i in range(n)]
