"""Candles and clock doubles shared by the tests and the benchmarks.

``toy_candles`` is a candle provider for :class:`~threadx_core.testing.fake_binance.FakeBinance`:
exact integer arithmetic, so a test can recompute any candle; ``FAKE_NOW`` is the fake server's
clock in the tests; ``Sleeps`` and ``MaxJitter`` replace the Binance client's ``sleep`` and random
source so that waits are recorded, not slept, and back-offs are exactly predictable.
"""

from __future__ import annotations

import random
import zlib

import numpy as np
import pandas as pd

from threadx_core.data.binance import raw_1m_frame
from threadx_core.times import MINUTE_MS, to_ms

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


def fat_tailed_walk(n: int, seed: int, minutes: int = 30) -> pd.DataFrame:
    """Fat-tailed random walk with gaps at the open, so crosses, stops and gaps all happen."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_t(3, n) * 0.004))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    index = pd.date_range("2024-03-01 17:00", periods=n, freq=f"{minutes}min", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=index)


MINUTE_VOLATILITY = 0.0011  # ≈ 80 % a year, BTC-like


def random_walk_ohlcv(bars: int, seed: int = 0, start: float = 100_000.0) -> pd.DataFrame:
    """Geometric random-walk 1m candles: open = previous close, high/low beyond both by a
    half-normal wick; a UTC DatetimeIndex from 2024-01-01."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, MINUTE_VOLATILITY, bars)))
    open_ = np.concatenate([[start], close[:-1]])
    wick = np.abs(rng.normal(0.0, MINUTE_VOLATILITY / 2, (2, bars)))
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
         "low": np.minimum(open_, close) * (1 - wick[1]), "close": close},
        index=pd.date_range("2024-01-01", periods=bars, freq="1min", tz="UTC"),
    )
