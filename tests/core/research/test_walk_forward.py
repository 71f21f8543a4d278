"""Walk-forward selection: in-sample choice on aggregated windows, out-of-sample chaining,
degradation figures, cash steps, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.research.kit import monthly, partition_frame, trade_lists
from threadx_core.research import chain, selection
from threadx_core.research.walk_forward import decide, walk_forward


def test_one_month_in_sample_picks_last_months_best_and_trades_it_next_month():
    result = walk_forward(monthly(), 1, "total_return")
    steps = result.steps
    assert list(steps["out_of_sample"]) == ["2024-02", "2024-03", "2024-04"]
    assert list(steps["in_sample_first"]) == ["2024-01", "2024-02", "2024-03"]
    assert list(steps["in_sample_last"]) == ["2024-01", "2024-02", "2024-03"]
    assert list(steps["combo"]) == [0, 2, 1]
    assert list(steps["bb_period"]) == [10, 12, 11]
    np.testing.assert_allclose(steps["in_sample_objective"], [0.03, 0.04, 0.02])
    np.testing.assert_allclose(steps["out_of_sample_return"], [-0.02, -0.03, -0.001])
    np.testing.assert_allclose(steps["out_of_sample_objective"], [-0.02, -0.03, -0.001])
    assert list(steps["out_of_sample_trades"]) == [1, 1, 1]
    summary = result.summary
    assert summary["in_sample_objective_mean"] == pytest.approx(0.03)
    assert summary["out_of_sample_objective_mean"] == pytest.approx(-0.017)
    assert summary["objective_ratio"] == pytest.approx(-0.017 / 0.03)
    total = 0.98 * 0.97 * 0.999 - 1
    assert summary["out_of_sample_total_return"] == pytest.approx(total)
    assert summary["out_of_sample_monthly_return"] == pytest.approx((1 + total) ** (1 / 3) - 1)
    assert summary["in_sample_monthly_return"] == pytest.approx(0.03)


def test_the_out_of_sample_curve_chains_the_chosen_months_daily_returns():
    frames = monthly()
    result = walk_forward(frames, 1, "total_return")
    expected = np.concatenate([frames[m]["daily_returns"][c] for m, c in
                               zip(["2024-02", "2024-03", "2024-04"], [0, 2, 1], strict=True)])
    np.testing.assert_array_equal(result.daily_returns.to_numpy(), expected)
    assert result.daily_returns.index[0] == pd.Timestamp("2024-02-01", tz="UTC")
    assert len(result.daily_returns) == 18 and result.daily_returns.index.is_unique


def test_a_longer_window_chooses_on_the_compounded_window():
    steps = walk_forward(monthly(), 2, "total_return").steps
    # Jan+Feb: 1.03·0.98, 1.01·1.015, 0.995·1.04 → combination 2; Feb+Mar → combination 1
    assert list(steps["combo"]) == [2, 1]
    np.testing.assert_allclose(steps["in_sample_return"], [0.995 * 1.04 - 1, 1.015 * 1.02 - 1])
    assert list(steps["in_sample_first"]) == ["2024-01", "2024-02"]
    assert list(steps["in_sample_last"]) == ["2024-02", "2024-03"]


def test_no_eligible_combination_means_cash_for_that_month():
    result = walk_forward(monthly(), 1, "total_return", min_trades=2)
    assert list(result.steps["combo"]) == [-1, -1, -1]
    assert result.steps["bb_period"].isna().all() and result.steps["out_of_sample_objective"].isna().all()
    assert (result.daily_returns == 0.0).all() and result.summary["out_of_sample_total_return"] == 0.0
    assert np.isnan(result.summary["objective_ratio"])
    assert list(walk_forward(monthly(), 2, "total_return", min_trades=2).steps["combo"]) == [2, 1]


def test_sharpe_objectives_in_and_out_of_sample_are_both_daily_based():
    frames = monthly()
    steps = walk_forward(frames, 2, "sharpe").steps
    for step in steps.itertuples():
        window = chain.aggregate(frames, step.in_sample_first, step.in_sample_last)
        assert step.in_sample_objective == window["sharpe"][step.combo]
        month = chain.aggregate(frames, step.out_of_sample, step.out_of_sample)
        assert step.out_of_sample_objective == month["sharpe"][step.combo]


def test_ties_go_to_grid_order_and_runs_are_deterministic():
    frames = {m: partition_frame(m, [[(1, 100.0)], [(1, 100.0)], [(1, 50.0)]])
              for m in ("2024-01", "2024-02")}
    first, second = walk_forward(frames, 1), walk_forward(frames, 1)
    assert list(first.steps["combo"]) == [0]
    pd.testing.assert_frame_equal(first.steps, second.steps)
    pd.testing.assert_series_equal(first.daily_returns, second.daily_returns)


@settings(max_examples=10, deadline=None)
@given(st.lists(trade_lists, min_size=4, max_size=4), st.integers(1, 3))
def test_each_choice_is_the_rank_one_of_its_aggregated_window(draws, k):
    n = min(len(t) for t in draws)
    frames = {f"2024-{m + 1:02d}": partition_frame(f"2024-{m + 1:02d}", t[:n]) for m, t in enumerate(draws)}
    result = walk_forward(frames, k, "total_return")
    for step in result.steps.itertuples():
        ranked = selection.rank(chain.aggregate(frames, step.in_sample_first, step.in_sample_last)
                                .assign(combo=np.arange(n)), "total_return")
        assert step.combo == (ranked["combo"].iloc[0] if len(ranked) else -1)
    compounded = np.prod(1 + result.steps["out_of_sample_return"].to_numpy()) - 1
    assert result.summary["out_of_sample_total_return"] == pytest.approx(compounded, abs=1e-12)


def test_bad_arguments_are_refused():
    frames = monthly()
    with pytest.raises(ValueError, match="in_sample_months must be ≥ 1"):
        walk_forward(frames, 0)
    with pytest.raises(ValueError, match="more than in_sample_months=4"):
        walk_forward(frames, 4)
    with pytest.raises(ValueError, match="'sharp'"):
        walk_forward(frames, 1, "sharp")
    frames["2024-03"] = partition_frame("2024-03", [[], [], []], bb_periods=[10, 11, 13])
    with pytest.raises(ValueError, match="month 2024-03: its grid"):
        walk_forward(frames, 1)


def test_the_decision_exports_are_the_timeframes_files_with_strict_json():
    report = decide(monthly(), in_sample_months=1, objective="total_return", min_trades=1, pbo_groups=4,
                    seed=0, title="BTCUSDT 1h")
    files = report.files("1h")
    assert set(files) == {"1h_walk_forward.csv", "1h_selection.json", *(f"1h_{c}.png" for c in report.charts)}
    document = json.loads(files["1h_selection.json"], parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert document["statistics"].keys() == report.summary.keys() >= {"deflated_sharpe", "pbo"}
    assert document["selection"]["out_of_sample"] == "2024-04" and document["notes"] == report.notes
