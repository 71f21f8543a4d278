"""A month's indicator cache equals the in-order chain's whichever earlier caches are stored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import times
from threadx_core.indicators.cache import chained_month_indicators, decode_states, month_indicators

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]


def month_bars(months: list[str], lengths: list[int], seed: int) -> dict[str, pd.DataFrame]:
    """Hourly random-walk bars from the start of each month (``lengths[i]`` bars of ``months[i]``)."""
    rng = np.random.default_rng(seed)
    out, last = {}, 100.0
    for month, n in zip(months, lengths, strict=True):
        close = last * np.exp(np.cumsum(rng.standard_t(3, n) * 0.01))
        open_ = np.concatenate([[last], close[:-1]])
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
        start = times.parse_month(month)
        out[month] = pd.DataFrame({"open_time": pd.date_range(start, periods=n, freq="1h"), "open": open_,
                                   "high": high, "low": low, "close": close})
        last = float(close[-1]) if n else last
    return out


def in_order(bars: dict[str, pd.DataFrame], bb, atr) -> dict[str, pd.DataFrame]:
    """The caches of an in-order loop: each month from the previous month's bars and cache."""
    caches, previous, states = {}, None, {}
    for month, frame in bars.items():
        caches[month] = month_indicators(frame, previous, states, bb, atr).frame
        previous, states = frame, decode_states(caches[month].attrs["atr_state"])
    return caches


def assert_same_cache(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.attrs == expected.attrs


cases = st.tuples(
    st.integers(3, 4),                                                     # months
    st.lists(st.integers(1, 80), min_size=4, max_size=4),                 # bars per month
    st.integers(0, 2**32 - 1),                                             # price seed
    st.lists(st.integers(2, 40), min_size=1, max_size=3),                 # Bollinger periods
    st.lists(st.tuples(st.integers(1, 40), st.sampled_from(["wilder", "ema", "sma"])), min_size=1,
             max_size=4),                                                  # ATR windows
    st.lists(st.booleans(), min_size=3, max_size=3),                      # earlier caches stored
)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_last_month_equals_the_in_order_chain_whichever_earlier_caches_are_stored(case):
    count, lengths, seed, bb, atr, stored = case
    months = MONTHS[:count]
    bars = month_bars(months, lengths[:count], seed)
    expected = in_order(bars, bb, atr)
    last = months[-1]

    # only bars stored: every earlier month is rebuilt in memory, in calendar order
    cold = chained_month_indicators(last, bars.get, lambda month: None, bb, atr)
    assert_same_cache(cold.frame, expected[last])
    assert cold.atr_exact and cold.rebuilt == tuple(months[:-1])

    # some earlier caches stored: the chain restarts from the last stored one
    caches = {m: expected[m] for m, keep in zip(months[:-1], stored, strict=False) if keep}
    partial = chained_month_indicators(last, bars.get, caches.get, bb, atr)
    assert_same_cache(partial.frame, expected[last])
    kept = [m for m in months[:-1] if m in caches]
    assert partial.rebuilt == tuple(months[months.index(kept[-1]) + 1:-1] if kept else months[:-1])


def test_a_stored_cache_without_a_window_s_state_is_rebuilt_not_warmed_up():
    bars = month_bars(MONTHS[:3], [50, 60, 40], seed=7)
    atr = [(14, "wilder"), (10, "ema")]
    expected = in_order(bars, [20], atr)
    other_grid = in_order(bars, [20], [(14, "wilder")])   # a cache built for another grid
    result = chained_month_indicators("2024-03", bars.get, other_grid.get, [20], atr)
    assert_same_cache(result.frame, expected["2024-03"])
    assert result.rebuilt == ("2024-01", "2024-02")


def test_the_first_month_with_bars_starts_cold_and_a_month_without_bars_is_an_error():
    bars = month_bars(MONTHS[1:3], [30, 30], seed=3)
    result = chained_month_indicators("2024-02", bars.get, lambda month: None, [20], [(14, "wilder")])
    assert result.history == "none" and result.rebuilt == ()
    with pytest.raises(ValueError, match="2024-04"):
        chained_month_indicators("2024-04", bars.get, lambda month: None, [20], [(14, "wilder")])
