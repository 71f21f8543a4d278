"""The synthetic source: canonical, deterministic, window-independent and realistic enough."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core.data.gaps import find_gaps
from threadx_core.data.resample import resample
from threadx_core.data.synthetic import synthetic
from threadx_core.schema import RAW_1M, RAW_1M_COLUMNS

MINUTE = pd.Timedelta(minutes=1)
# Three days spanning a month boundary (and so two midnights).
SPAN_START = pd.Timestamp("2024-01-30 00:00", tz="UTC")
SPAN_MINUTES = 3 * 1440


@pytest.fixture(scope="module")
def span() -> pd.DataFrame:
    return synthetic("BTCUSDT", SPAN_START, SPAN_START + SPAN_MINUTES * MINUTE, seed=7,
                     gap_probability=0.5)


@pytest.fixture(scope="module")
def month() -> pd.DataFrame:
    return synthetic("BTCUSDT", "2024-03-01", "2024-04-01", seed=3)


def test_is_a_valid_canonical_frame(month: pd.DataFrame) -> None:
    RAW_1M.validate(month)
    assert tuple(month.columns) == RAW_1M_COLUMNS
    assert isinstance(month.index, pd.RangeIndex)
    assert len(month) == 31 * 1440
    assert month["open_time"].iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert month["open_time"].iloc[-1] == pd.Timestamp("2024-03-31 23:59", tz="UTC")
    assert not month["filled"].any()


def test_same_arguments_same_frame_other_seed_or_symbol_differs() -> None:
    a = synthetic("ETHUSDT", "2024-05-01", "2024-05-02", seed=1)
    pd.testing.assert_frame_equal(a, synthetic("ETHUSDT", "2024-05-01", "2024-05-02", seed=1),
                                  check_exact=True)
    for other in (synthetic("ETHUSDT", "2024-05-01", "2024-05-02", seed=2),
                  synthetic("SOLUSDT", "2024-05-01", "2024-05-02", seed=1)):
        assert not np.array_equal(a["close"].to_numpy(), other["close"].to_numpy())


@settings(max_examples=25, deadline=None)
@given(first=st.integers(0, SPAN_MINUTES - 1), length=st.integers(1, SPAN_MINUTES))
def test_a_window_is_the_slice_of_any_larger_window(span: pd.DataFrame, first: int,
                                                    length: int) -> None:
    start = SPAN_START + first * MINUTE
    end = min(start + length * MINUTE, SPAN_START + SPAN_MINUTES * MINUTE)
    window = synthetic("BTCUSDT", start, end, seed=7, gap_probability=0.5)
    inside = span[(span["open_time"] >= start) & (span["open_time"] < end)]
    pd.testing.assert_frame_equal(window, inside.reset_index(drop=True), check_exact=True)


def test_a_single_minute_equals_the_same_minute_of_a_year() -> None:
    year = synthetic("BTCUSDT", "2023-01-01", "2024-01-01")
    minute = pd.Timestamp("2023-08-31 23:59", tz="UTC")
    one = synthetic("BTCUSDT", minute, minute + MINUTE)
    pd.testing.assert_frame_equal(one, year[year["open_time"] == minute].reset_index(drop=True),
                                  check_exact=True)


def test_window_bounds_accept_strings_naive_times_and_seconds() -> None:
    frame = synthetic("BTCUSDT", "2024-02-29T23:58:30", "2024-03-01 00:02:00+00:00")
    assert frame["open_time"].tolist() == [pd.Timestamp(t, tz="UTC") for t in
                                           ("2024-02-29 23:59", "2024-03-01 00:00",
                                            "2024-03-01 00:01")]
    empty = synthetic("BTCUSDT", "2024-03-01", "2024-03-01")
    assert empty.empty and tuple(empty.columns) == RAW_1M_COLUMNS


@pytest.mark.parametrize("frame_name", ["span", "month"])
def test_open_is_the_previous_close_across_midnight_and_month_end(
        frame_name: str, request: pytest.FixtureRequest) -> None:
    frame = request.getfixturevalue(frame_name)
    consecutive = (frame["open_time"].diff() == MINUTE).to_numpy()[1:]
    assert consecutive.sum() > 4000
    opens, closes = frame["open"].to_numpy(), frame["close"].to_numpy()
    np.testing.assert_array_equal(opens[1:][consecutive], closes[:-1][consecutive])


def test_the_first_open_of_a_month_is_the_last_close_before_it() -> None:
    midnight = pd.Timestamp("2024-02-01", tz="UTC")
    before = synthetic("BTCUSDT", "2024-01-01", midnight, seed=7)
    after = synthetic("BTCUSDT", midnight, "2024-03-01", seed=7)
    assert after["open"].iloc[0] == before["close"].iloc[-1]


def test_wicks_amounts_and_taker_share_are_plausible(month: pd.DataFrame) -> None:
    assert (month["high"] > month[["open", "close"]].max(axis=1)).mean() > 0.9
    assert (month["low"] < month[["open", "close"]].min(axis=1)).mean() > 0.9
    price = month["quote_volume"] / month["volume"]
    assert ((price >= month["low"] * 0.999) & (price <= month["high"] * 1.001)).all()
    share = month["taker_buy_base"] / month["volume"]
    assert share.between(0.35 - 1e-6, 0.65 + 1e-6).all()
    assert month["trades"].dtype == np.int64 and (month["trades"] > 0).mean() > 0.99
    assert np.corrcoef(month["volume"], month["trades"])[0, 1] > 0.95


def test_price_levels_are_stable_per_symbol() -> None:
    btc = resample(synthetic("BTCUSDT", "2023-01-01", "2025-01-01"), "1d")["close"]
    assert btc.between(30_000, 100_000).all()
    for symbol in ("ETHUSDT", "DOGEUSDT"):
        daily = resample(synthetic(symbol, "2024-01-01", "2024-07-01"), "1d")["close"]
        assert daily.max() / daily.min() < 4


def test_no_gaps_without_outages_and_gaps_with_them() -> None:
    start, end = "2024-01-01", "2024-03-01"
    assert find_gaps(synthetic("BTCUSDT", start, end), start, end).missing == 0
    gaps = find_gaps(synthetic("BTCUSDT", start, end, gap_probability=0.3), start, end)
    assert 5 <= len(gaps.ranges) <= 40
    lengths = [(last - first) // MINUTE + 1 for first, last in gaps.ranges]
    assert 1 <= min(lengths) and max(lengths) <= 120


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_gap_probability_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="gap_probability"):
        synthetic("BTCUSDT", "2024-01-01", "2024-01-02", gap_probability=bad)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="2015-01-01"):
        synthetic("BTCUSDT", "2014-12-31", "2015-01-02")
    with pytest.raises(ValueError, match="seed"):
        synthetic("BTCUSDT", "2024-01-01", "2024-01-02", seed=-1)
    with pytest.raises(ValueError, match="symbol"):
        synthetic("", "2024-01-01", "2024-01-02")


def _log_returns(frame: pd.DataFrame) -> np.ndarray:
    return np.diff(np.log(frame["close"].to_numpy()))


def _autocorrelation(x: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(x[:-lag], x[lag:])[0, 1])


def test_volatility_clusters_and_returns_have_fat_tails(month: pd.DataFrame) -> None:
    r = _log_returns(month)
    assert min(_autocorrelation(np.abs(r), lag) for lag in (1, 5, 15)) > 0.1
    assert abs(_autocorrelation(r, 1)) < 0.1  # clustering of size, not of direction
    excess_kurtosis = np.mean((r - r.mean()) ** 4) / np.var(r) ** 2 - 3
    assert excess_kurtosis > 2


def test_volume_follows_the_hour_of_day_and_the_size_of_moves(month: pd.DataFrame) -> None:
    by_hour = month.groupby(month["open_time"].dt.hour)["volume"].mean()
    assert by_hour.max() / by_hour.min() > 1.5
    assert by_hour.idxmax() in range(12, 18)
    moves = np.abs(np.log(month["close"] / month["open"]))
    assert np.corrcoef(moves, month["volume"])[0, 1] > 0.3


def test_large_moves_partly_revert_within_half_an_hour(month: pd.DataFrame) -> None:
    log_close = np.log(month["close"].to_numpy())
    r = np.diff(log_close)
    local_scale = np.convolve(np.abs(r), np.ones(61) / 61, mode="same")
    big = np.flatnonzero(np.abs(r[:-30]) > 5 * local_scale[:-30])
    assert len(big) > 100
    reverted = -(log_close[big + 31] - log_close[big + 1]) / r[big]
    assert np.median(reverted) > 0.15  # a plain random walk gives about 0


@pytest.mark.parametrize("tf", ["1m", "1h"])
def test_closes_cross_bollinger_bands_often(month: pd.DataFrame, tf: str) -> None:
    close = month["close"] if tf == "1m" else resample(month, tf)["close"]
    mid = close.rolling(20).mean()
    lower = mid - 2 * close.rolling(20).std(ddof=0)
    crossings = ((close < lower) & (close.shift() >= lower.shift())).sum()
    assert crossings >= len(close) / 200
