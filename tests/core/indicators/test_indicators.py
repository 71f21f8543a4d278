"""Indicators (docs/ARCHITECTURE.md, Strategy) against exact references: Fractions, math.fsum and
explicit loops."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from threadx_core import indicators

YEAR = 525_600


def btc_like(n: int, seed: int = 0, level: float = 100_000.0, vol: float = 0.0011) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, vol, n)))


def ohlc(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    close = btc_like(n, seed)
    prev = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(prev, close) * (1 + np.abs(rng.normal(0, 5e-4, n)))
    low = np.minimum(prev, close) * (1 - np.abs(rng.normal(0, 5e-4, n)))
    return high, low, close


def exact_mean_std(window: np.ndarray) -> tuple[float, float]:
    """Exact rational mean and population variance, rounded once at the end."""
    values = [Fraction(float(v)) for v in window]
    mean = sum(values, Fraction(0)) / len(values)
    var = sum(((v - mean) ** 2 for v in values), Fraction(0)) / len(values)
    return float(mean), math.sqrt(float(var))


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# ---------------------------------------------------------------- Bollinger ----------------


def test_bollinger_matches_exact_reference_over_a_year_of_1m_bars_near_100k() -> None:
    close = btc_like(YEAR)
    period = 20
    middle, upper, lower = indicators.bollinger(close, period, 2.0)
    rng = np.random.default_rng(7)
    positions = np.concatenate([rng.integers(period - 1, YEAR, 150), [period - 1, YEAR - 1]])
    for t in positions:
        mean, std = exact_mean_std(close[t - period + 1 : t + 1])
        assert rel(middle[t], mean) < 1e-12
        # σ relative to σ itself (not to the price level): the strict measure
        sigma = (upper[t] - middle[t]) / 2.0
        assert rel(sigma, std) < 1e-9, (t, sigma, std)
        assert rel((middle[t] - lower[t]) / 2.0, std) < 1e-9
    assert np.isnan(middle[: period - 1]).all() and np.isnan(upper[: period - 1]).all()
    assert np.isfinite(middle[period - 1 :]).all()


def test_sigma_is_accurate_relative_to_itself_when_tiny_against_the_price() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    close = 100_000.0 + np.cumsum(rng.normal(0.0, 1e-6, n))  # σ ~ 1e-6, i.e. 1e-11 of price
    middle, sigma = indicators.rolling_mean_std(close, 30)
    for t in rng.integers(29, n, 100):
        mean, std = exact_mean_std(close[t - 29 : t + 1])
        assert rel(sigma[t], std) < 1e-9
        assert rel(middle[t], mean) < 1e-15


def test_sigma_is_population_and_bands_are_k_sigma() -> None:
    close = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    middle, upper, lower = indicators.bollinger(close, 3, 1.5)
    for t in range(2, 5):
        w = close[t - 2 : t + 1]
        assert middle[t] == pytest.approx(w.mean(), rel=1e-15)
        assert upper[t] - middle[t] == pytest.approx(1.5 * np.std(w, ddof=0), rel=1e-14)
        assert middle[t] - lower[t] == pytest.approx(1.5 * np.std(w, ddof=0), rel=1e-14)
    assert np.isnan(middle[:2]).all()


def test_constant_series_has_zero_sigma() -> None:
    middle, sigma = indicators.rolling_mean_std(np.full(50, 98_765.4321), 20)
    assert (sigma[19:] == 0.0).all()
    assert (middle[19:] == 98_765.4321).all()


def test_nan_poisons_only_the_windows_that_contain_it() -> None:
    close = btc_like(100)
    close[50] = np.nan
    middle, sigma = indicators.rolling_mean_std(close, 10)
    assert np.isnan(middle[50:60]).all() and np.isnan(sigma[50:60]).all()
    assert np.isfinite(middle[9:50]).all() and np.isfinite(middle[60:]).all()


def test_bollinger_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bb period"):
        indicators.bollinger(np.ones(10), 1, 2.0)
    with pytest.raises(ValueError, match="bb std"):
        indicators.bollinger(np.ones(10), 5, 0.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        indicators.bollinger(np.ones((3, 3)), 2, 2.0)


def test_bollinger_batch_equals_single_computations() -> None:
    close = btc_like(5000)
    batch = indicators.bollinger_batch(close, [20, 10, 20, 30])
    assert sorted(batch) == [10, 20, 30]
    for period, (middle, sigma) in batch.items():
        m, u, lo = indicators.bollinger(close, period, 2.5)
        np.testing.assert_array_equal(middle, m)
        upper, lower = indicators.bands(middle, sigma, 2.5)
        np.testing.assert_array_equal(upper, u)
        np.testing.assert_array_equal(lower, lo)


# ---------------------------------------------------------------- ATR ----------------------


def reference_tr(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> list[float]:
    tr = [high[0] - low[0]]
    for t in range(1, len(close)):
        pc = close[t - 1]
        tr.append(max(high[t] - low[t], abs(high[t] - pc), abs(low[t] - pc)))
    return tr


def reference_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int,
                  method: str) -> np.ndarray:
    """The indicator definitions (docs/ARCHITECTURE.md, Strategy), written as plainly as possible."""
    tr = reference_tr(high, low, close)
    out = np.full(len(tr), np.nan)
    if method == "sma":
        for t in range(n - 1, len(tr)):
            out[t] = math.fsum(tr[t - n + 1 : t + 1]) / n
    elif method == "wilder":
        value = math.fsum(tr[:n]) / n
        out[n - 1] = value
        for t in range(n, len(tr)):
            value = value + (tr[t] - value) / n
            out[t] = value
    else:
        alpha = 2.0 / (n + 1)
        value = tr[0]
        out[0] = value
        for t in range(1, len(tr)):
            value = value + alpha * (tr[t] - value)
            out[t] = value
    return out


@pytest.mark.parametrize("method", ["wilder", "ema", "sma"])
@pytest.mark.parametrize("period", [1, 14, 30])
def test_atr_matches_the_definition(method: str, period: int) -> None:
    high, low, close = ohlc(20_000)
    got = indicators.atr(high, low, close, period, method)
    want = reference_atr(high, low, close, period, method)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=0)


def test_atr_warm_up_positions() -> None:
    high, low, close = ohlc(100)
    wilder = indicators.atr(high, low, close, 14, "wilder")
    assert np.isnan(wilder[:13]).all() and np.isfinite(wilder[13:]).all()
    ema = indicators.atr(high, low, close, 14, "ema")
    assert ema[0] == high[0] - low[0] and np.isfinite(ema).all()
    sma = indicators.atr(high, low, close, 14, "sma")
    assert np.isnan(sma[:13]).all() and np.isfinite(sma[13:]).all()


def test_true_range_uses_the_previous_close_for_gaps() -> None:
    high = np.array([10.0, 12.0, 9.0])
    low = np.array([9.0, 11.0, 8.0])
    close = np.array([9.5, 11.5, 8.5])
    np.testing.assert_array_equal(indicators.true_range(high, low, close), [1.0, 2.5, 3.5])


def test_atr_batch_shares_the_true_range_and_equals_single_calls() -> None:
    high, low, close = ohlc(3000)
    specs = [(14, "wilder"), (10, "ema"), (14, "wilder"), (20, "sma")]
    batch = indicators.atr_batch(high, low, close, specs)
    assert set(batch) == {(14, "wilder"), (10, "ema"), (20, "sma")}
    for (period, method), values in batch.items():
        np.testing.assert_array_equal(values, indicators.atr(high, low, close, period, method))


def test_atr_rejects_bad_arguments() -> None:
    h, lo, c = ohlc(10)
    with pytest.raises(ValueError, match="atr method"):
        indicators.atr(h, lo, c, 14, "rma")
    with pytest.raises(ValueError, match="atr period"):
        indicators.atr(h, lo, c, 0)
    with pytest.raises(ValueError, match="lengths differ"):
        indicators.atr(h, lo[:-1], c, 3)
    _, state = indicators.atr_with_state(h, lo, c, 5, "ema")
    with pytest.raises(ValueError, match="state is for"):
        indicators.atr(h, lo, c, 5, "wilder", state=state)


def test_recursive_atr_carries_nan_forward() -> None:
    high, low, close = ohlc(60)
    high[30] = np.nan
    values = indicators.atr(high, low, close, 5, "wilder")
    assert np.isfinite(values[4:30]).all() and np.isnan(values[30:]).all()


# ---------------------------------------------------------------- month by month -----------


def chunks(n: int, sizes: list[int]) -> list[slice]:
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == n
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def test_bollinger_month_by_month_with_warm_up_equals_whole_series_bitwise() -> None:
    close = btc_like(3 * 44_640, seed=5)
    period = 30
    whole_mid, whole_sigma = indicators.rolling_mean_std(close, period)
    for part in chunks(close.size, [44_640, 40_320, 48_960]):
        start = max(part.start - (period - 1), 0)
        mid, sigma = indicators.rolling_mean_std(close[start : part.stop], period)
        np.testing.assert_array_equal(mid[part.start - start :], whole_mid[part])
        np.testing.assert_array_equal(sigma[part.start - start :], whole_sigma[part])


@pytest.mark.parametrize("method", ["wilder", "ema", "sma"])
def test_atr_continued_from_state_equals_whole_series_bitwise(method: str) -> None:
    high, low, close = ohlc(10_000, seed=9)
    whole = indicators.atr(high, low, close, 14, method)
    state = None
    parts = []
    for part in chunks(close.size, [5, 3, 2_000, 0, 7_000, 992]):  # includes chunks < period
        values, state = indicators.atr_with_state(high[part], low[part], close[part], 14, method,
                                                  state=state)
        parts.append(values)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_sma_atr_with_a_raw_warm_up_of_period_bars_equals_whole_series() -> None:
    high, low, close = ohlc(2_000, seed=2)
    whole = indicators.atr(high, low, close, 14, "sma")
    start = 1_000 - 14
    part = indicators.atr(high[start:], low[start:], close[start:], 14, "sma")
    np.testing.assert_array_equal(part[14:], whole[1_000:])


def test_wilder_with_a_finite_warm_up_only_converges() -> None:
    high, low, close = ohlc(5_000, seed=4)
    whole = indicators.atr(high, low, close, 14, "wilder")
    start = 4_000 - 500
    part = indicators.atr(high[start:], low[start:], close[start:], 14, "wilder")[500:]
    np.testing.assert_allclose(part, whole[4_000:], rtol=1e-9)
