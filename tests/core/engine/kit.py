"""Helpers the engine tests share (and the sweep's carried-state tests): markets split into
windows, and the reference engine chained across them."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from threadx_core import indicators
from threadx_core.engine import Params, Result, backtest

#: Parameters that trade often: narrow bands, short windows.
trading_params = st.builds(
    Params, bb_period=st.integers(3, 20), bb_std=st.floats(0.5, 2.0),
    atr_period=st.integers(2, 14), atr_method=st.sampled_from(["wilder", "ema", "sma"]),
    atr_mult=st.floats(0.5, 3.0), trailing=st.booleans(),
    take_profit=st.sampled_from(["mid", "none"]), max_hold_bars=st.integers(0, 30),
    allow_short=st.booleans(), risk_per_trade=st.floats(0.005, 0.2),
    leverage=st.floats(0.5, 3.0), fee_bps=st.floats(0.0, 30.0), slippage_bps=st.floats(0.0, 20.0),
    fill=st.sampled_from(["next_open", "close"]),
)
#: Bars, seed, 1–3 cut points as fractions (2–4 windows).
markets = st.tuples(st.integers(1500, 3000), st.integers(0, 2**32 - 1),
                    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3))


def windows(n: int, cuts: list[float]) -> list[tuple[int, int]]:
    """``[start, stop)`` windows covering ``range(n)``, cut at distinct bars in ``[1, n)``."""
    bounds = sorted({1 + int(f * (n - 2)) for f in cuts})
    edges = [0, *bounds, n]
    return list(itertools.pairwise(edges))


def precomputed(frame: pd.DataFrame, params: Params) -> tuple[np.ndarray, ...]:
    """``(middle, sigma, atr)`` over the whole frame (what a warmed-up indicator cache holds)."""
    h, lo, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
    middle, sigma = indicators.rolling_mean_std(c, params.bb_period)
    return middle, sigma, indicators.atr(h, lo, c, params.atr_period, params.atr_method)


def chained(frame: pd.DataFrame, params: Params,
            parts: list[tuple[int, int]]) -> list[Result]:
    """The backtests of ``parts`` in order, each started from the previous one's end state, the
    last one ending the evaluated window."""
    arrays = precomputed(frame, params)
    results, state = [], None
    for a, b in parts:
        result = backtest(frame.iloc[a:b], params, precomputed=tuple(x[a:b] for x in arrays),
                          bar_minutes=30, start=state, close_at_end=b == len(frame))
        results.append(result)
        state = result.end_state
    return results
