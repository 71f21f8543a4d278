"""What the client processes of the IP-state tests run (importable, for the ``spawn`` start method),
and the clock they share with the fake server.

Each entry point reports to ``results`` (a multiprocessing queue) one tuple: the process id, then
``"ok"`` and a count, or the name of the error raised and its message.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import pandas as pd

from threadx_core.data.binance import BinanceClient, BinanceError
from threadx_core.data.binance.ip_state import IpState
from threadx_core.testing.candles import MaxJitter

SPAWN = multiprocessing.get_context("spawn")
SYMBOL = "BTCUSDT"


class SharedClock:
    """Epoch seconds in shared memory: the clock of the fake server and of every client process.
    A ``sleep`` moves it on (never back) to the time the sleeper wakes up at, instead of waiting."""

    def __init__(self, value: Synchronized) -> None:
        self.value = value
        self._last = value.value

    def now(self) -> float:
        self._last = self.value.value
        return self._last

    def sleep(self, seconds: float) -> None:
        with self.value.get_lock():
            self.value.value = max(self.value.value, self._last + seconds)


def client(url: str, state_dir: str, clock: SharedClock, weight_limit: int) -> BinanceClient:
    """A client of the fake server on the shared clock, recording the IP's state in ``state_dir``."""
    return BinanceClient(url, state_dir=Path(state_dir), weight_limit=weight_limit,
                         sleep=clock.sleep, clock=clock.now, rng=MaxJitter())


def fetch(url: str, state_dir: str, clock_value: Synchronized, weight_limit: int, start: str,
          end: str, results: multiprocessing.Queue) -> None:
    """Fetch ``SYMBOL`` over ``[start, end)`` (all closed) and report the number of candles."""
    c = client(url, state_dir, SharedClock(clock_value), weight_limit)
    try:
        frame = c.klines_1m(SYMBOL, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"),
                            now=pd.Timestamp(end, tz="UTC"))
    except BinanceError as exc:
        results.put((os.getpid(), type(exc).__name__, str(exc)))
    else:
        results.put((os.getpid(), "ok", len(frame)))


def reserve(url: str, state_dir: str, times: int, weight: int, results: multiprocessing.Queue,
            leave: multiprocessing.synchronize.Event) -> None:
    """Reserve ``weight`` ``times`` times (never released), report, then stay alive until ``leave``
    is set (the reservations of a process that has ended are dropped)."""
    state = IpState(Path(state_dir), url, limit=10**9, clock=time.time, sleep=time.sleep,
                    logger=logging.getLogger(__name__))
    for i in range(times):
        state.reserve(weight, f"reservation {i}")
    results.put((os.getpid(), "ok", times))
    leave.wait()
