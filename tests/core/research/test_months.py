"""Month sets with holes (threadx_core.research.months): a month not stored or without trading ends
one chain and starts another, in the chains, full-period metrics and walk-forward alike."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.core.research.kit import PNL, monthly, partition_frame
from threadx_core import times
from threadx_core.research import chain, months
from threadx_core.research.full_period import full_period, full_periods
from threadx_core.research.walk_forward import decide, walk_forward
from threadx_core.sweep import stored
from threadx_core.sweep.grid import Grid

OPTIONS = {"objective": "total_return", "min_trades": 1, "top_k": 2, "title": "BTCUSDT"}
#: Months 2024-01..2024-07 whose 2024-03 (a hole) and 2024-06 (no trading) cannot be chained.
STORED = ("2024-01", "2024-02", "2024-04", "2024-05", "2024-07")


def empty(month: str = "2024-06", tf: str = "1h") -> pd.DataFrame:
    """The sweep partition of a month without trading, on the grid of :func:`kit.monthly`."""
    return months.empty_sweep(Grid({"bb_period": [10, 11, 12]}), tf, f"empty {month}")


def with_holes(tf: str = "1h") -> dict[str, pd.DataFrame]:
    """Sweep partitions of :data:`STORED` (each month trading like one of :data:`PNL`) and an
    empty 2024-06: holes at 2024-03 (not stored) and 2024-06 (no trading)."""
    pnl = list(PNL.values())
    frames = {m: partition_frame(m, [[(2, p)] for p in pnl[i % len(pnl)]], timeframe=tf)
              for i, m in enumerate(STORED)}
    return {**frames, "2024-06": empty(tf=tf)}


def test_the_empty_sweep_partition_has_the_columns_of_a_sweep_and_no_row():
    frame, swept = empty(), monthly()["2024-01"]  # the kit's partitions store no end state
    assert set(frame.columns) == set(swept.columns) | set(stored.CARRY_COLUMNS) and len(frame) == 0
    assert months.is_empty(frame) and not months.is_empty(swept)
    assert frame.attrs == {"days": "[]", "run_id": "empty 2024-06", "devices": "-", "empty": "true"}
    assert frame["n_trades"].dtype == "int64" and frame["total_return"].dtype == "float64"


def test_holes_split_the_span_into_chains_and_the_warning_names_them():
    sweeps = {"1h": with_holes("1h"), "4h": with_holes("4h")}
    del sweeps["4h"]["2024-05"]
    split = months.month_chains(sweeps, times.month_span("2024-01", "2024-07"))
    assert split.chains == [["2024-01", "2024-02"], ["2024-04"], ["2024-07"]]
    assert split.holes == {"2024-03": "not stored", "2024-05": "not stored for 4h", "2024-06": "no trading"}
    assert split.longest == 2
    assert split.warning("BTCUSDT") == (
        "BTCUSDT: months that cannot be chained (not stored: 2024-03; not stored for 4h: 2024-05; "
        "no trading: 2024-06); chains 2024-01..2024-02, 2024-04..2024-04, 2024-07..2024-07, each on its "
        "own, none joined across a hole")
    assert months.chains_of(monthly()).warning("BTCUSDT 1h") is None


def test_a_chained_account_never_spans_a_hole():
    partitions = with_holes()
    with pytest.raises(ValueError, match="month 2024-03 is missing"):
        chain.aggregate(partitions)
    with pytest.raises(ValueError, match="month 2024-06 has no trading"):
        chain.aggregate({m: partitions[m] for m in ("2024-05", "2024-06", "2024-07")})


def test_full_periods_are_the_full_period_of_each_chain_with_a_warning_naming_the_holes():
    sweeps = {"1h": with_holes("1h"), "4h": with_holes("4h")}
    result = full_periods(sweeps, **OPTIONS)
    assert (result.first, result.last) == ("2024-01", "2024-07")
    assert [(p.first, p.last) for p in result.periods] == [("2024-01", "2024-02"), ("2024-04", "2024-05"),
                                                          ("2024-07", "2024-07")]
    assert result.holes == {"2024-03": "not stored", "2024-06": "no trading"}
    assert result.warning.startswith("BTCUSDT: months that cannot be chained (not stored: 2024-03; "
                                     "no trading: 2024-06)")
    for period in result.periods:
        alone = full_period(sweeps, period.first, period.last, **OPTIONS)
        pd.testing.assert_frame_equal(period.frame.drop(columns="daily_returns"),
                                      alone.frame.drop(columns="daily_returns"))
    frame = result.frame
    assert len(frame) == 3 * 2 * 3  # chains × timeframes × combinations
    assert json.loads(frame.attrs["chains"]) == [["2024-01", "2024-02"], ["2024-04", "2024-05"],
                                                 ["2024-07", "2024-07"]]
    assert json.loads(frame.attrs["months"]) == list(STORED)
    later = frame[frame["first"] == "2024-04"]
    assert set(later["last"]) == {"2024-05"} and len(later) == 6

    with pytest.raises(ValueError, match="BTCUSDT 1h: month 2024-03 is not stored"):
        full_period(sweeps, **OPTIONS)  # one account over the whole range does not exist


def test_full_periods_of_a_symbol_that_never_traded_are_none_and_the_range_edges_must_be_stored():
    nothing = full_periods({"1h": {"2024-01": empty("2024-01"), "2024-02": empty("2024-02")}}, **OPTIONS)
    assert nothing.periods == [] and nothing.holes == {"2024-01": "no trading", "2024-02": "no trading"}
    assert len(nothing.frame) == 0 and json.loads(nothing.frame.attrs["chains"]) == []
    with pytest.raises(ValueError, match="BTCUSDT 1h: month 2024-08 is not stored"):
        full_periods({"1h": with_holes()}, "2024-02", "2024-08", **OPTIONS)


def test_walk_forward_walks_each_chain_and_never_spans_a_hole():
    partitions = with_holes()
    result = walk_forward(partitions, 1, "total_return")
    steps = result.steps
    assert list(zip(steps["in_sample_first"], steps["out_of_sample"], strict=True)) == [
        ("2024-01", "2024-02"), ("2024-04", "2024-05")]
    for chained in (["2024-01", "2024-02"], ["2024-04", "2024-05"]):
        alone = walk_forward({m: partitions[m] for m in chained}, 1, "total_return").steps
        mine = steps[steps["out_of_sample"] == chained[1]].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)
    days = result.daily_returns.index
    assert days.min() == pd.Timestamp("2024-02-01", tz="UTC")
    assert not days.month.isin([3, 4]).any()  # the hole and the second chain's in-sample month

    with pytest.raises(ValueError, match=r"more than in_sample_months=2 consecutive months, got 2 \(chains: "
                                         r"2024-01\.\.2024-02, 2024-04\.\.2024-05, 2024-07\.\.2024-07\)"):
        walk_forward(partitions, 2)


def test_the_decision_report_notes_the_holes():
    report = decide(with_holes(), in_sample_months=1, objective="total_return", min_trades=1, pbo_groups=4,
                    seed=0, title="BTCUSDT 1h")
    assert report.notes[0] == ("months that cannot be chained (not stored: 2024-03; no trading: 2024-06); "
                               "chains 2024-01..2024-02, 2024-04..2024-05, 2024-07..2024-07, each on its "
                               "own, none joined across a hole")
    assert list(report.walk.steps["out_of_sample"]) == ["2024-02", "2024-05"]
