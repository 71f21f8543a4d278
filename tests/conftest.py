"""Shared fixtures: a deterministic candle provider and a fake Binance server on loopback."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from threadx_core.data.binance import MINUTE_MS, raw_1m_frame, to_ms
from threadx_core.data.fake_binance import FakeBinance

#: The fake server's clock in the tests: the candle opened at 12:34 is still open.
FAKE_NOW = pd.Timestamp("2024-03-15 12:34:30", tz="UTC")
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def toy_candles(symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Deterministic canonical raw_1m candles of ``[start, end)``: a pure function of the symbol
    and the minute (exact integer arithmetic), with every minute ≡ 13 (mod 97) untraded (a gap)."""
    first = -(-to_ms(start) // MINUTE_MS)
    minute = np.arange(first, -(-to_ms(end) // MINUTE_MS), dtype=np.int64)
    minute = minute[minute % 97 != 13]
    base = 100.0 + zlib.crc32(symbol.encode()) % 1000
    open_ = base + (minute * 7919 % 1000) / 100.0
    close = base + ((minute + 1) * 7919 % 1000) / 100.0
    volume = (minute % 13).astype(np.float64) / 4.0
    return raw_1m_frame(minute * MINUTE_MS, {
        "open": open_, "close": close,
        "high": np.maximum(open_, close) + (minute % 7) / 8.0,
        "low": np.minimum(open_, close) - (minute % 5) / 8.0,
        "volume": volume, "quote_volume": volume * close,
        "taker_buy_base": volume / 2.0, "taker_buy_quote": volume * close / 2.0,
    }, minute % 50)


class Sleeps(list):
    """A ``sleep`` for the clients that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class MaxJitter(random.Random):
    """Backoff jitter always at its upper bound, so waits are exactly base·2ⁿ, capped."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def sleeps() -> Sleeps:
    """A fresh recording ``sleep``."""
    return Sleeps()


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    """A fresh fake Binance (toy candles, ``SYMBOLS``, clock at ``FAKE_NOW``) per test."""
    with FakeBinance(toy_candles, SYMBOLS, now=FAKE_NOW) as fake:
        yield fake
