"""Indicator caches computed month by month equal the whole-series indicators."""

import numpy as np
import pandas as pd
import pytest

from threadx_core import indicators
from threadx_core.data import resample, synthetic
from threadx_core.indicators.cache import atr_column, bb_columns, decode_states, month_indicators

BB = [10, 20]
ATR = [(14, "wilder"), (10, "ema"), (12, "sma")]


@pytest.fixture(scope="module")
def hourly():
    raw = synthetic("BTCUSDT", "2024-01-01", "2024-04-01")
    bars = resample(raw, "1h")
    month = bars["open_time"].dt.strftime("%Y-%m")
    return bars, [bars[month == m].reset_index(drop=True) for m in ("2024-01", "2024-02", "2024-03")]


def whole_series(bars):
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    out = {}
    for n in BB:
        out[bb_columns(n)[0]], out[bb_columns(n)[1]] = indicators.rolling_mean_std(close, n)
    for n, m in ATR:
        out[atr_column(n, m)] = indicators.atr(high, low, close, n, m)
    return pd.DataFrame(out)


def test_month_by_month_with_stored_state_is_bitwise_the_whole_series(hourly):
    bars, months = hourly
    caches, previous, states = [], None, {}
    for month in months:
        cache = month_indicators(month, previous, states, BB, ATR)
        assert cache.atr_exact
        caches.append(cache)
        previous, states = month, decode_states(cache.frame.attrs["atr_state"])
    stitched = pd.concat([c.frame for c in caches], ignore_index=True)
    expected = whole_series(bars)
    for column in expected:
        np.testing.assert_array_equal(stitched[column].to_numpy(), expected[column].to_numpy(),
                                      err_msg=column)
    assert list(stitched["open_time"]) == list(bars["open_time"])
    assert caches[0].history == "none" and caches[1].history == "previous month"
    assert caches[1].warmup_bars == max(BB) - 1


def test_first_month_has_nan_warm_up_values(hourly):
    _, months = hourly
    frame = month_indicators(months[0], None, {}, BB, ATR).frame
    middle = frame[bb_columns(20)[0]]
    assert middle.iloc[:19].isna().all() and middle.iloc[19:].notna().all()
    assert frame[atr_column(14, "wilder")].iloc[:13].isna().all()


def test_without_stored_state_recursive_atr_is_warmed_up_and_flagged_inexact(hourly):
    bars, months = hourly
    cache = month_indicators(months[1], months[0], {}, BB, ATR)
    assert not cache.atr_exact
    expected = whole_series(bars).iloc[len(months[0]):len(months[0]) + len(months[1])]
    got = cache.frame[atr_column(14, "wilder")].to_numpy()
    np.testing.assert_allclose(got, expected[atr_column(14, "wilder")].to_numpy(), rtol=1e-9)
    sigma = bb_columns(20)[1]
    np.testing.assert_array_equal(cache.frame[sigma].to_numpy(), expected[sigma].to_numpy())
