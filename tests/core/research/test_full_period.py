"""Full-period metrics over a month range for every sweep timeframe (threadx_core.research.full_period)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.core.research.kit import partition_frame
from threadx_core.research import chain, selection
from threadx_core.research.full_period import full_period

TRADES = [[(0, 120.0), (2, -40.0)], [(1, -60.0), (3, 90.0), (4, 15.0)], [(5, 200.0)]]
OPTIONS = {"objective": "total_return", "min_trades": 1, "top_k": 2, "title": "BTCUSDT"}


def stored(labels=("2024-01", "2024-02", "2024-03"), tfs=("1h", "4h")) -> dict[str, dict[str, pd.DataFrame]]:
    """Fake sweeps: timeframe → month → partition; the 4h trades are those of 1h shifted by a month."""
    return {tf: {m: partition_frame(m, TRADES[i:] + TRADES[:i], timeframe=tf)
                 for i, m in enumerate(labels if tf == tfs[0] else labels[::-1])} for tf in tfs}


def five_days() -> pd.DataFrame:
    """A 4h partition of 2024-02 with one day fewer than the 1h one."""
    return partition_frame("2024-02", [[(0, 1.0)], [(1, 2.0)], [(4, 3.0)]], n_days=5, timeframe="4h")


def test_every_timeframe_is_the_aggregate_of_its_months_and_rows_are_ranked_together():
    sweeps = stored()
    result = full_period(sweeps, "2024-02", "2024-03", **OPTIONS)
    assert (result.first, result.last, result.months, result.days) == ("2024-02", "2024-03",
                                                                        ["2024-02", "2024-03"], 12)
    for tf in ("1h", "4h"):
        mine = result.frame[result.frame["timeframe"] == tf].reset_index(drop=True)
        reference = chain.aggregate(sweeps[tf], "2024-02", "2024-03")
        pd.testing.assert_frame_equal(mine.drop(columns="daily_returns"),
                                      reference.drop(columns="daily_returns"))
        assert chain.chain([mine]).attrs["days"] == reference.attrs["days"]
    assert json.loads(result.frame.attrs["months"]) == ["2024-02", "2024-03"]
    ranked = selection.rank(result.frame.drop(columns="daily_returns"), "total_return", min_trades=1)
    pd.testing.assert_frame_equal(result.top, ranked.head(2))
    assert set(result.charts) == {"heatmap", "distribution"}


def test_the_default_range_is_every_stored_month_and_gaps_outside_the_range_do_not_matter():
    sweeps = stored()
    assert full_period(sweeps, **OPTIONS).months == ["2024-01", "2024-02", "2024-03"]
    del sweeps["4h"]["2024-01"]
    assert full_period(sweeps, first="2024-02", **OPTIONS).months == ["2024-02", "2024-03"]


@pytest.mark.parametrize(("change", "first", "last", "message"), [
    (lambda s: s["4h"].pop("2024-02"), None, None, "BTCUSDT 4h: month 2024-02 is not stored"),
    (lambda s: None, "2024-02", "2024-04", "BTCUSDT 1h: month 2024-04 is not stored"),
    (lambda s: s["4h"].update({"2024-02": five_days()}), None, None,
     "BTCUSDT 4h: month 2024-02 covers 5 days but 1h 6"),
    (lambda s: s["1h"].update({"2024-03": partition_frame("2024-03", TRADES[:2])}),
     None, None, "BTCUSDT 1h: month 2024-03: its grid"),
    (lambda s: None, "2024-3", None, "BTCUSDT: month '2024-3' is not of the form YYYY-MM"),
    (lambda s: None, "2024-03", "2024-01", "BTCUSDT: month range 2024-03..2024-01 is empty"),
    (lambda s: [s[tf].clear() for tf in s], None, None, "BTCUSDT: no sweep partition is stored"),
])
def test_ranges_that_cannot_be_aggregated_are_named(change, first, last, message):
    sweeps = stored()
    change(sweeps)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        full_period(sweeps, first, last, **OPTIONS)
