"""Shared fixtures: a deterministic candle provider and a fake Binance server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadx_core.testing.candles import FAKE_NOW, SYMBOLS, Sleeps, toy_candles
from threadx_core.testing.fake_binance import FakeBinance


@pytest.fixture
def sleeps() -> Sleeps:
    """A fresh recording ``sleep``."""
    return Sleeps()


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    """A fresh fake Binance (toy candles, ``SYMBOLS``, clock at ``FAKE_NOW``) per test."""
    with FakeBinance(toy_candles, SYMBOLS, now=FAKE_NOW) as fake:
        yield fake
