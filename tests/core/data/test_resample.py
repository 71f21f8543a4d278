"""Resampling (docs/ARCHITECTURE.md, Data contracts): bin rules, epoch alignment, tf₂-from-tf₁ equality,
errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core.data.resample import resample, resample_all
from threadx_core.data.synthetic import synthetic
from threadx_core.schema import OHLCV, OHLCV_COLUMNS, TIME_DTYPE, empty_raw_1m
from threadx_core.times import DERIVED, tf_minutes

MINUTE = pd.Timedelta(minutes=1)
SUMS = ["volume", "quote_volume", "taker_buy_base", "taker_buy_quote"]
# (tf₁, tf₂) with tf₁ dividing tf₂; "1m" means the raw frame itself.
TIMEFRAMES = ("1m", "2m", *DERIVED, "6h", "12h")
PAIRS = [(a, b) for a in TIMEFRAMES for b in TIMEFRAMES
         if tf_minutes(a) < tf_minutes(b) and tf_minutes(b) % tf_minutes(a) == 0]
BASE_START = pd.Timestamp("2024-02-28 22:00", tz="UTC")


def raw(times: list[str], rows: list[tuple[float, ...]], filled: list[bool]) -> pd.DataFrame:
    """A raw_1m frame from open times and (open, high, low, close, volume, trades) rows."""
    o, h, lo, c, v, n = (list(col) for col in zip(*rows, strict=True))
    return pd.DataFrame({
        "open_time": pd.Series(pd.to_datetime(times, utc=True), dtype=TIME_DTYPE),
        "open": o, "high": h, "low": lo, "close": c, "volume": v,
        "quote_volume": [x * 10 for x in v], "trades": np.array(n, dtype=np.int64),
        "taker_buy_base": [x / 2 for x in v], "taker_buy_quote": [x * 5 for x in v],
        "filled": filled,
    })


def test_hand_computed_5m_bins() -> None:
    frame = raw(
        ["2024-01-01 23:58", "2024-01-01 23:59",                       # bin 23:55, 2 of 5
         "2024-01-02 00:00", "2024-01-02 00:01", "2024-01-02 00:02",   # bin 00:00, 5 of 5
         "2024-01-02 00:03", "2024-01-02 00:04",
         "2024-01-02 00:07",                                           # bin 00:05, 1 of 5
         "2024-01-02 00:15"],                                          # 00:10 empty; 00:15
        [(10, 12, 9, 11, 1, 3), (11, 11.5, 10, 10.5, 2, 4),
         (10.5, 13, 10, 12, 1, 1), (12, 12, 12, 12, 0, 0), (12, 14, 11, 13, 4, 5),
         (13, 13.5, 8, 9, 2, 2), (9, 10, 9, 9.5, 1, 1),
         (9.5, 9.5, 9.5, 9.5, 0, 0),
         (7, 8, 6, 7.5, 3, 6)],
        [False, False, False, True, False, False, False, True, False])
    out = resample(frame, "5m")
    OHLCV.validate(out)
    assert tuple(out.columns) == OHLCV_COLUMNS and isinstance(out.index, pd.RangeIndex)
    expected = pd.DataFrame({
        "open_time": pd.Series(pd.to_datetime(["2024-01-01 23:55", "2024-01-02 00:00",
                                               "2024-01-02 00:05", "2024-01-02 00:15"], utc=True),
                               dtype=TIME_DTYPE),
        "open": [10.0, 10.5, 9.5, 7.0], "high": [12.0, 14.0, 9.5, 8.0],
        "low": [9.0, 8.0, 9.5, 6.0], "close": [10.5, 9.5, 9.5, 7.5],
        "volume": [3.0, 8.0, 0.0, 3.0], "quote_volume": [30.0, 80.0, 0.0, 30.0],
        "trades": np.array([7, 9, 0, 6], dtype=np.int64),
        "taker_buy_base": [1.5, 4.0, 0.0, 1.5], "taker_buy_quote": [15.0, 40.0, 0.0, 15.0],
        "minutes": np.array([2, 5, 1, 1], dtype=np.int64),
        "filled_minutes": np.array([0, 1, 1, 0], dtype=np.int64),
        "complete": [False, True, False, False],
    })
    pd.testing.assert_frame_equal(out, expected, check_exact=True)


def test_whole_days_are_complete_and_partial_edges_are_not() -> None:
    frame = synthetic("BTCUSDT", "2024-03-01 01:37", "2024-03-03 22:10")
    daily = resample(frame, "1d")
    assert daily["complete"].tolist() == [False, True, False]
    assert daily["minutes"].tolist() == [1440 - 97, 1440, 22 * 60 + 10]
    hourly = resample(frame, "1h")
    assert hourly["complete"].sum() == len(hourly) - 2
    assert hourly["minutes"].sum() == len(frame)


@pytest.mark.parametrize("tf", DERIVED)
def test_bins_are_aligned_to_the_epoch(tf: str) -> None:
    frame = synthetic("ETHUSDT", "2024-03-01 01:37", "2024-03-03 22:10")
    labels = resample(frame, tf)["open_time"]
    assert (labels.astype("int64") % (tf_minutes(tf) * 60_000) == 0).all()
    if tf == "4h":
        assert set(labels.dt.hour) <= {0, 4, 8, 12, 16, 20}
        assert (labels.dt.minute == 0).all()
    if tf == "1d":
        assert (labels == labels.dt.normalize()).all()
        assert labels.iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """Four days across a month end with outages; amounts on a binary grid (exact sums)."""
    frame = synthetic("BTCUSDT", BASE_START, BASE_START + pd.Timedelta(days=4), seed=5,
                      gap_probability=0.9)
    flags = np.random.default_rng(0).random(len(frame)) < 0.05
    return frame.assign(filled=flags)


def _sample(base: pd.DataFrame, seed: int, first: int, length: int,
            drop: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    window = base.iloc[first:first + length]
    return window[rng.random(len(window)) >= drop].reset_index(drop=True)


def _via(frame: pd.DataFrame, tf1: str, tf2: str) -> pd.DataFrame:
    return resample(frame if tf1 == "1m" else resample(frame, tf1), tf2)


frames = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 4 * 1440 - 1),
                   st.integers(1, 4 * 1440), st.sampled_from([0.0, 0.01, 0.3, 0.9]))


@settings(max_examples=60, deadline=None)
@given(spec=frames, pair=st.sampled_from(PAIRS))
def test_resampling_a_resampled_frame_equals_resampling_1m_exactly(
        base: pd.DataFrame, spec: tuple[int, int, int, float], pair: tuple[str, str]) -> None:
    frame = _sample(base, *spec)
    tf1, tf2 = pair
    pd.testing.assert_frame_equal(_via(frame, tf1, tf2), resample(frame, tf2), check_exact=True)


@settings(max_examples=25, deadline=None)
@given(spec=frames, pair=st.sampled_from(PAIRS))
def test_arbitrary_float_amounts_agree_to_rounding(
        base: pd.DataFrame, spec: tuple[int, int, int, float], pair: tuple[str, str]) -> None:
    frame = _sample(base, *spec)
    noise = np.random.default_rng(spec[0]).lognormal(0.0, 1.0, (len(frame), len(SUMS)))
    frame[SUMS] = frame[SUMS].to_numpy() * noise
    tf1, tf2 = pair
    direct, via = resample(frame, tf2), _via(frame, tf1, tf2)
    others = [c for c in OHLCV_COLUMNS if c not in SUMS]
    pd.testing.assert_frame_equal(via[others], direct[others], check_exact=True)
    np.testing.assert_allclose(via[SUMS], direct[SUMS], rtol=1e-13, atol=0)


def test_resample_all_equals_resample_bit_for_bit(base: pd.DataFrame) -> None:
    built = resample_all(base, DERIVED)
    assert list(built) == list(DERIVED)
    for tf, frame in built.items():
        pd.testing.assert_frame_equal(frame, resample(base, tf), check_exact=True)


def test_empty_input_gives_an_empty_frame() -> None:
    out = resample(empty_raw_1m(), "1h")
    assert out.empty and tuple(out.columns) == OHLCV_COLUMNS
    OHLCV.validate(out)
    assert resample(out, "4h").empty


@pytest.mark.parametrize("tf", ["7m", "1M", "2d", "90s", "", "1H"])
def test_invalid_timeframes_are_rejected(base: pd.DataFrame, tf: str) -> None:
    with pytest.raises(ValueError, match=f"timeframe '{tf}'"):
        resample(base, tf)


@pytest.mark.parametrize(("source", "tf"), [("5m", "1m"), ("5m", "3m"), ("2h", "1h"), ("4h", "6h")])
def test_a_timeframe_not_a_multiple_of_the_input_bars_is_rejected(base: pd.DataFrame, source: str,
                                                                  tf: str) -> None:
    with pytest.raises(ValueError, match=rf"timeframe '{tf}'.*not a multiple"):
        resample(resample(base, source), tf)


def test_an_ambiguous_input_bar_size_is_rejected(base: pd.DataFrame) -> None:
    bars = resample(base, "3m")
    # A lone 3-minute bar at 00:15 could be a 3m, 5m or 15m bar holding 3 minutes.
    at = bars["open_time"].dt
    lonely = bars[(at.hour == 0) & (at.minute == 15)].head(1).reset_index(drop=True)
    assert lonely.attrs == {"timeframe": "3m"}
    pd.testing.assert_frame_equal(resample(lonely, "6m")[["open", "minutes"]],
                                  lonely[["open", "minutes"]])
    lonely.attrs = {}  # e.g. rebuilt by hand: nothing says these are 3m bars
    with pytest.raises(ValueError, match=r"timeframe '5m'.*cannot be established"):
        resample(lonely, "5m")
    pd.testing.assert_frame_equal(resample(lonely, "15m")[["open", "close", "minutes"]],
                                  lonely[["open", "close", "minutes"]])


def test_the_bar_size_is_inferred_without_attrs_and_checked_with_them(base: pd.DataFrame) -> None:
    bars = resample(base, "15m")
    bars.attrs = {}
    pd.testing.assert_frame_equal(resample(bars, "1h"), resample(base, "1h"), check_exact=True)
    with pytest.raises(ValueError, match=r"'5m'.*not a multiple of the input's bar size"):
        resample(bars, "5m")
    bars.attrs = {"timeframe": "5m"}  # wrong: these bars hold up to 15 minutes
    with pytest.raises(ValueError, match=r"'1h'.*declares 5-minute bars"):
        resample(bars, "1h")


def test_unsorted_or_foreign_input_is_rejected(base: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="increasing"):
        resample(base.iloc[::-1], "5m")
    with pytest.raises(ValueError, match="neither a raw_1m nor an OHLCV"):
        resample(base.drop(columns="filled"), "5m")
