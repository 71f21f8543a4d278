"""Ranking sweep results: directions, filters, tie-breaks; Pareto front."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadx_core.research.selection import pareto_front, rank


def results(**columns):
    n = len(next(iter(columns.values())))
    base = {"n_trades": [10] * n, "total_return": [0.0] * n, "sharpe": [0.0] * n,
            "max_drawdown": [-0.1] * n, "profit_factor": [1.0] * n, "volatility": [0.1] * n}
    return pd.DataFrame({**base, **columns})


def test_sharpe_objective_ranks_highest_first_and_filters_min_trades_and_nan():
    ranked = rank(results(sharpe=[1.0, 3.0, 2.0, np.nan], n_trades=[10, 2, 10, 10]), "sharpe", min_trades=5)
    assert list(ranked["sharpe"]) == [2.0, 1.0]
    assert list(ranked["rank"]) == [1, 2]


def test_max_drawdown_closer_to_zero_is_better():
    ranked = rank(results(max_drawdown=[-0.30, -0.05, -0.10]), "max_drawdown")
    assert list(ranked["max_drawdown"]) == [-0.05, -0.10, -0.30]


def test_lower_is_better_metrics_sort_ascending():
    assert list(rank(results(volatility=[0.3, 0.1, 0.2]), "volatility")["volatility"]) == [0.1, 0.2, 0.3]


def test_ties_break_by_total_return_then_sharpe_then_drawdown_then_profit_factor_then_grid_order():
    table = results(sharpe=[1.0] * 5, total_return=[0.1, 0.2, 0.2, 0.2, 0.2],
                    max_drawdown=[-0.1, -0.1, -0.05, -0.05, -0.05], profit_factor=[1, 1, 1, np.inf, np.inf])
    table["id"] = range(5)
    assert list(rank(table, "sharpe")["id"]) == [3, 4, 2, 1, 0]


def test_unknown_objective_is_named():
    with pytest.raises(ValueError, match="'sharp'"):
        rank(results(sharpe=[1.0]), "sharp")


def test_pareto_front_keeps_only_non_dominated_points():
    table = results(max_drawdown=[-0.1, -0.2, -0.05, -0.3, -0.2], total_return=[0.2, 0.5, 0.1, 0.4, 0.3])
    front = pareto_front(table)
    assert list(zip(front["max_drawdown"], front["total_return"], strict=True)) == [
        (-0.2, 0.5), (-0.1, 0.2), (-0.05, 0.1)]


@given(st.lists(st.tuples(st.floats(-1, 0), st.floats(-1, 1)), min_size=1, max_size=40))
def test_no_point_dominates_a_front_point(points):
    table = results(max_drawdown=[p[0] for p in points], total_return=[p[1] for p in points])
    front = pareto_front(table)
    for f in front.itertuples():
        dominated = (table["max_drawdown"] >= f.max_drawdown) & (table["total_return"] >= f.total_return) & (
            (table["max_drawdown"] > f.max_drawdown) | (table["total_return"] > f.total_return))
        assert not dominated.any()
