"""Gap reports and the fill policies (docs/ARCHITECTURE.md, Data contracts: nothing ever invents volume)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core.data.gaps import Gaps, fill_gaps, find_gaps
from threadx_core.data.synthetic import synthetic
from threadx_core.schema import RAW_1M, empty_raw_1m
from threadx_core.times import TIME_DTYPE

T0 = pd.Timestamp("2024-03-31 23:50", tz="UTC")
MINUTE = pd.Timedelta(minutes=1)
AMOUNTS = ["volume", "quote_volume", "trades", "taker_buy_base", "taker_buy_quote"]


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    return synthetic("BTCUSDT", T0, T0 + pd.Timedelta(days=1), seed=11)


def at(minute: int) -> pd.Timestamp:
    return T0 + minute * MINUTE


def keep(frame: pd.DataFrame, minutes: list[int] | np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` at the given minute offsets from T0."""
    return frame[frame["open_time"].isin([at(m) for m in minutes])].reset_index(drop=True)


def test_ranges_counts_and_ratio(day: pd.DataFrame) -> None:
    frame = keep(day, [2, 3, 7, 12])
    gaps = find_gaps(frame, at(0), at(10))
    assert gaps.ranges == ((at(0), at(1)), (at(4), at(6)), (at(8), at(9)))
    assert (gaps.missing, gaps.expected) == (7, 10)
    assert gaps.ratio == pytest.approx(0.3)


def test_a_complete_window_and_an_empty_window(day: pd.DataFrame) -> None:
    full = find_gaps(day, at(0), at(1440))
    assert full == Gaps((), 0, 1440) and full.ratio == 1.0
    empty = find_gaps(day, at(5), at(5))
    assert (empty.ranges, empty.missing, empty.expected, empty.ratio) == ((), 0, 0, 1.0)
    nothing = find_gaps(empty_raw_1m(), "2024-04-01", "2024-04-01 00:03")
    assert nothing.ranges == ((at(10), at(12)),) and nothing.ratio == 0.0


def test_window_edges_are_minute_slots_and_accept_strings(day: pd.DataFrame) -> None:
    frame = keep(day, [0, 5])
    gaps = find_gaps(frame, "2024-03-31T23:50:30", "2024-03-31 23:55:10+00:00")
    # Slots 23:51 … 23:55: 23:50 is before the window, 23:55 is inside it and present.
    assert gaps.expected == 5 and gaps.ranges == ((at(1), at(4)),)


def test_describe_lists_the_first_ranges(day: pd.DataFrame) -> None:
    frame = keep(day, [0, 3, 5, 8, 600])
    gaps = find_gaps(frame, at(0), at(601))
    assert gaps.describe(2) == ("2024-03-31 23:51 → 23:52 (2 min); "
                                "2024-03-31 23:54 → 23:54 (1 min); … and 2 more")
    assert gaps.describe().endswith("; 2024-03-31 23:59 → 2024-04-01 09:49 (591 min)")
    assert find_gaps(day, at(0), at(5)).describe() == "no gaps"


def test_table_holds_every_range_with_its_length_and_no_rows_without_gaps(day: pd.DataFrame) -> None:
    gaps = find_gaps(keep(day, [0, 3, 5, 8, 600]), at(0), at(601))
    table = gaps.table()
    assert list(table.columns) == ["first_missing", "last_missing", "minutes"]
    assert list(zip(table["first_missing"], table["last_missing"], strict=True)) == list(gaps.ranges)
    assert table["minutes"].tolist() == [2, 1, 2, 591] and table["minutes"].sum() == gaps.missing
    assert table["first_missing"].dtype == TIME_DTYPE
    empty = find_gaps(day, at(0), at(5)).table()
    assert empty.empty and dict(empty.dtypes) == dict(table.dtypes)


def test_flat_fill_repeats_the_previous_close_with_zero_amounts(day: pd.DataFrame) -> None:
    frame = keep(day, [3, 4, 5, 8, 9, 13, 14])  # leading 0–2, gaps 6–7 (2) and 10–12 (3)
    filled = fill_gaps(frame, "flat", 2)
    RAW_1M.validate(filled)
    assert isinstance(filled.index, pd.RangeIndex)
    new = filled[filled["filled"]]
    assert new["open_time"].tolist() == [at(6), at(7)]
    close = frame.loc[frame["open_time"] == at(5), "close"].item()
    assert (new[["open", "high", "low", "close"]] == close).all().all()
    assert (new[AMOUNTS] == 0).all().all() and new["trades"].dtype == np.int64
    pd.testing.assert_frame_equal(filled[~filled["filled"]].reset_index(drop=True), frame)
    assert find_gaps(filled, at(0), at(15)).ranges == ((at(0), at(2)), (at(10), at(12)))


def test_max_minutes_bounds_the_filled_gaps(day: pd.DataFrame) -> None:
    frame = keep(day, [3, 4, 5, 8, 9, 13, 14])
    assert fill_gaps(frame, "flat", 3)["filled"].sum() == 5
    assert fill_gaps(frame, "flat", 1)["filled"].sum() == 0
    assert fill_gaps(frame, "flat", 0)["filled"].sum() == 0
    assert fill_gaps(frame, "flat", 3)["volume"].sum() == frame["volume"].sum()


def test_policy_none_returns_the_frame_unchanged(day: pd.DataFrame) -> None:
    frame = keep(day, [0, 5])
    assert fill_gaps(frame, "none", 10) is frame
    assert fill_gaps(empty_raw_1m(), "flat", 10).empty


def test_unknown_policy_and_bad_max_minutes_are_rejected(day: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'linear'"):
        fill_gaps(day, "linear", 5)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="max_minutes"):
            fill_gaps(day, "flat", bad)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.05, 0.3, 0.7, 0.95]),
       max_minutes=st.integers(0, 8))
def test_after_a_flat_fill_only_longer_gaps_remain(day: pd.DataFrame, seed: int, density: float,
                                                   max_minutes: int) -> None:
    frame = day.iloc[:300][np.random.default_rng(seed).random(300) < density]
    frame = frame.reset_index(drop=True)
    filled = RAW_1M.validate(fill_gaps(frame, "flat", max_minutes))
    before, after = find_gaps(frame, at(0), at(300)), find_gaps(filled, at(0), at(300))
    leading = [r for r in before.ranges if r[0] == at(0)]
    longer = [r for r in before.ranges if (r[1] - r[0]) // MINUTE + 1 > max_minutes]
    trailing = [r for r in before.ranges if r[1] == at(299)]
    assert list(after.ranges) == sorted(set(leading) | set(longer) | set(trailing))
    assert filled["filled"].sum() == before.missing - after.missing
    assert filled[AMOUNTS].sum().equals(frame[AMOUNTS].sum())
