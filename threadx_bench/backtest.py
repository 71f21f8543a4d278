"""Throughput of the reference backtest engine on one symbol-year of 1-minute bars."""

from __future__ import annotations

import time
from typing import Any

import numba
import numpy as np

from threadx_bench import machine
from threadx_core import indicators
from threadx_core.engine import Params, backtest, carry, nb
from threadx_core.engine.backtest import loop_params
from threadx_core.testing.candles import random_walk_ohlcv


def _best(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _compile_time() -> float:
    """Seconds to compile an uncached copy of :func:`backtest_nb.run_nb` for float64 arrays."""
    fresh = numba.njit(nb.run_nb.py_func)
    array = numba.float64[::1]
    params = numba.typeof(loop_params(Params()))
    start = time.perf_counter()
    fresh.compile((array,) * 8 + (params, array, numba.boolean, numba.float64, array))
    return time.perf_counter() - start


def run(bars: int = 525_600, repeats: int = 3) -> dict[str, Any]:
    """Time :func:`engine.backtest` (indicators + loop + trade frame + metrics) and the compiled
    loop alone on ``bars`` random-walk 1m bars with the default parameters; best of ``repeats``.

    ``compile_seconds``: compiling the loop (with the step functions it inlines) from scratch,
    bypassing the on-disk cache — measured first, in a fresh process it is the true cost;
    ``first_call_seconds``: the first backtest, which loads the Numba caches (or compiles when
    they are cold). Throughputs exclude both.
    """
    ohlcv = random_walk_ohlcv(bars)
    params = Params()
    compile_seconds = _compile_time()
    start = time.perf_counter()
    result = backtest(ohlcv, params)
    first_call = time.perf_counter() - start
    seconds = _best(lambda: backtest(ohlcv, params), repeats)
    o, h, lo, c = (ohlcv[k].to_numpy() for k in ("open", "high", "low", "close"))
    middle, upper, lower = indicators.bollinger(c, params.bb_period, params.bb_std)
    atr = indicators.atr(h, lo, c, params.atr_period, params.atr_method)
    lp = loop_params(params)
    first, end = carry.fresh([params.initial_capital])[0], np.empty(len(carry.COLUMNS))
    loop_seconds = _best(lambda: nb.run_nb(o, h, lo, c, middle, upper, lower, atr, lp, first, True,
                                           0.0, end), repeats)
    return {
        "bars": bars,
        "repeats": repeats,
        "trades": len(result.trades),
        "compile_seconds": compile_seconds,
        "first_call_seconds": first_call,
        "seconds": seconds,
        "bars_per_second": bars / seconds,
        "loop_seconds": loop_seconds,
        "loop_bars_per_second": bars / loop_seconds,
        "machine": machine.describe(),
        "numba": numba.__version__,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
