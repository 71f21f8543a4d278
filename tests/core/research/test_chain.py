"""Aggregation of monthly sweep partitions: daily-based equity metrics, compounded trade metrics,
grid matching, and exactness against chained engine runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.research.kit import CAPITAL, partition_frame, trade_lists
from threadx_core import metrics
from threadx_core.data import resample, synthetic
from threadx_core.engine import Params, backtest
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.research import chain, selection
from threadx_core.sweep import Grid, run_with_daily, stored

SETTINGS = settings(max_examples=30, deadline=None)
def months_of(draw_trades: list[list[list[tuple[int, float]]]]) -> dict[str, pd.DataFrame]:
    """Consecutive fake months 2024-01, 2024-02, … with the same number of combinations."""
    n = min(len(t) for t in draw_trades)
    labels = [f"2024-{m + 1:02d}" for m in range(len(draw_trades))]
    return {label: partition_frame(label, t[:n]) for label, t in zip(labels, draw_trades, strict=True)}


def assert_same_metrics(a: pd.DataFrame, b: pd.DataFrame) -> None:
    for key in metrics.OUTPUT_KEYS:
        np.testing.assert_allclose(a[key].to_numpy(np.float64), b[key].to_numpy(np.float64),
                                   rtol=1e-9, atol=1e-9, err_msg=key)


# ------------------------------------------------------------------ chaining partitions


@SETTINGS
@given(trade_lists)
def test_aggregating_one_month_gives_back_that_month(trades):
    month = partition_frame("2024-05", trades)
    out = chain.aggregate({"2024-05": month})
    compounded = [np.prod(1 + r) - 1 for r in month["daily_returns"]]
    np.testing.assert_allclose(out["total_return"], compounded, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["total_return"], month["total_return"], rtol=1e-9, atol=1e-12)
    for key in ("n_trades", "win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss",
                "largest_win", "largest_loss", "fees_paid", "turnover", "exposure", "final_equity"):
        np.testing.assert_allclose(out[key].to_numpy(np.float64), month[key].to_numpy(np.float64),
                                   rtol=1e-9, atol=1e-9, err_msg=key)
    assert json.loads(out.attrs["months"]) == ["2024-05"]
    assert out["cagr_short_window"].all()  # six days
    assert out.attrs["days"] == month.attrs["days"]


@settings(max_examples=15, deadline=None)
@given(st.lists(trade_lists, min_size=3, max_size=3))
def test_chaining_is_associative(draws):
    a, b, c = chain.align(months_of(draws)).values()
    flat = chain.chain([a, b, c])
    assert_same_metrics(chain.chain([chain.chain([a, b]), c]), flat)
    assert_same_metrics(chain.chain([a, chain.chain([b, c])]), flat)
    np.testing.assert_allclose(np.vstack(flat["daily_returns"].to_list()),
                               np.hstack([np.vstack(p["daily_returns"].to_list()) for p in (a, b, c)]))


def test_two_months_compound_returns_and_scale_money_by_the_growth_before_them():
    # combo 0: January +10 % (two wins), February one win 300 and one loss −100 (from 10 000)
    january = partition_frame("2024-01", [[(0, 400.0), (2, 600.0)]])
    february = partition_frame("2024-02", [[(1, 300.0), (3, -100.0)]])
    out = chain.aggregate({"2024-02": february, "2024-01": january}).iloc[0]
    g = 1.1  # the account starts February at 11 000
    assert out["total_return"] == pytest.approx(1.1 * 1.02 - 1)
    assert out["final_equity"] == pytest.approx(CAPITAL * 1.1 * 1.02)
    assert out["n_trades"] == 4
    assert out["win_rate"] == pytest.approx(3 / 4)
    assert out["fees_paid"] == pytest.approx(5 + 7 + g * (4 + 2))
    assert out["profit_factor"] == pytest.approx((1000 + g * 300) / (g * 100))
    assert out["expectancy"] == pytest.approx((1000 + g * 200) / 4)
    assert out["avg_win"] == pytest.approx((1000 + g * 300) / 3)
    assert out["avg_loss"] == pytest.approx(-g * 100)
    assert out["largest_win"] == pytest.approx(600.0) and out["largest_loss"] == pytest.approx(-g * 100)
    assert out["turnover"] == pytest.approx(100 * (1000 + g * 400) / CAPITAL)
    assert out["final_equity"] == pytest.approx(CAPITAL + out["n_trades"] * out["expectancy"])
    assert out["exposure"] == pytest.approx((6 * 2 / 3 + 6 * 2 / 3) / 12)
    assert out["cagr"] == pytest.approx((1.1 * 1.02) ** (365 / 37) - 1)  # 2024-01-01 … 2024-02-06
    assert not out["cagr_short_window"]


def test_profit_factor_and_averages_follow_the_section_7_conventions():
    frames = {"2024-01": partition_frame("2024-01", [[(0, 50.0)], [], [(1, -20.0)]]),
              "2024-02": partition_frame("2024-02", [[(0, 30.0)], [], [(2, -10.0)]])}
    out = chain.aggregate(frames)
    assert list(out["n_trades"]) == [2, 0, 2]
    assert out["profit_factor"][0] == math.inf and out["profit_factor"][2] == 0.0
    assert out.loc[1, ["profit_factor", "win_rate", "expectancy"]].isna().all()
    assert np.isnan(out["avg_loss"][0]) and np.isnan(out["avg_win"][2])
    assert out["n_trades"].dtype == np.int64 and out["max_drawdown_duration"].dtype == np.int64


def test_a_ruined_account_trades_no_more():
    january = partition_frame("2024-01", [[(0, 100.0), (1, -10_500.0)], [(0, 10.0)]])
    february = partition_frame("2024-02", [[(0, 400.0)], [(0, 10.0)]])
    out = chain.aggregate({"2024-01": january, "2024-02": february})
    ruined = out.iloc[0]
    assert ruined["n_trades"] == 2 and ruined["fees_paid"] == pytest.approx(2 + 106)
    assert ruined["final_equity"] == pytest.approx(CAPITAL - 10_400.0)
    assert np.all(ruined["daily_returns"][6:] == 0.0)
    assert ruined["cagr"] == -1.0 and np.isnan(ruined["sharpe"])
    assert out.iloc[1]["n_trades"] == 2


def test_rows_are_matched_by_parameters_not_by_position():
    january = partition_frame("2024-01", [[(0, 10.0)], [(1, -5.0)], [(2, 7.0)]])
    february = partition_frame("2024-02", [[(0, 1.0)], [(1, 2.0)], [(2, -3.0)]])
    shuffled = february.iloc[[2, 0, 1]].reset_index(drop=True)
    shuffled.attrs = february.attrs
    assert_same_metrics(chain.aggregate({"2024-01": january, "2024-02": shuffled}),
                        chain.aggregate({"2024-01": january, "2024-02": february}))


def test_partitions_that_cannot_be_combined_are_named():
    january = partition_frame("2024-01", [[(0, 10.0)], [(1, -5.0)]])
    with pytest.raises(ValueError, match="month 2024-02: its grid"):
        chain.aggregate({"2024-01": january,
                             "2024-02": partition_frame("2024-02", [[], []], bb_periods=[10, 99])})
    with pytest.raises(ValueError, match="month 2024-02: timeframe '4h'"):
        chain.aggregate({"2024-01": january,
                             "2024-02": partition_frame("2024-02", [[], []], timeframe="4h")})
    with pytest.raises(ValueError, match="month 2024-02 is missing"):
        chain.aggregate({"2024-01": january, "2024-03": partition_frame("2024-03", [[], []])})
    with pytest.raises(ValueError, match="month 2024-03: its days"):
        chain.aggregate({"2024-03": january})
    with pytest.raises(ValueError, match="month 2024-01 is given twice"):
        chain.aggregate({"2024-01": january, "2024-01-01": january})
    broken = january.drop(columns="avg_win")
    with pytest.raises(ValueError, match="month 2024-01: not a sweep partition"):
        chain.aggregate({"2024-01": broken})


def test_a_month_range_is_the_chain_of_those_months_only():
    frames = {f"2024-0{m}": partition_frame(f"2024-0{m}", [[(m, 10.0 * m)], [(0, -5.0 * m)]])
              for m in (1, 2, 3, 4)}
    middle = chain.aggregate(frames, "2024-02", "2024-03")
    assert json.loads(middle.attrs["months"]) == ["2024-02", "2024-03"]
    assert_same_metrics(middle, chain.chain([frames["2024-02"], frames["2024-03"]]))
    with pytest.raises(ValueError, match="no partition"):
        chain.aggregate(frames, "2025-01")


def test_aggregate_output_ranks_like_a_partition():
    frames = {"2024-01": partition_frame("2024-01", [[(0, 10.0)], [(0, 50.0), (1, 20.0)], [(2, -7.0)]]),
              "2024-02": partition_frame("2024-02", [[(0, 5.0)], [(0, 20.0), (3, 1.0)], [(2, 70.0)]])}
    ranked = selection.rank(chain.aggregate(frames), "total_return", min_trades=2)
    assert list(ranked["bb_period"]) == [11, 12, 10]


# ------------------------------------------------------------------ against the engine


def test_aggregated_trade_metrics_equal_engine_runs_chained_with_carried_capital():
    """Sweep three months separately, aggregate; then backtest each month with the capital the
    previous month ended with: trades, fees and equity must agree (sizing scales with equity)."""
    hourly = resample(synthetic("BTCUSDT", "2024-01-01", "2024-04-01", seed=1), "1h")
    bounds = [("2024-01", "2024-02"), ("2024-02", "2024-03"), ("2024-03", "2024-04")]
    grid = Grid({"bb_period": [10, 20], "atr_mult": [1.5, 2.0], "leverage": [3.0], "risk_per_trade": [0.02]})
    windows = {a: hourly[(hourly.open_time >= f"{a}-01") & (hourly.open_time < f"{b}-01")] for a, b in bounds}
    frames = {m: stored.to_frame(run_with_daily(w, grid, "cpu"), "1h", "t") for m, w in windows.items()}
    out = chain.aggregate(frames)
    for i, row in out.iterrows():
        params = Params.from_dict({k: row[k] for k in PARAM_NAMES})
        capital, trades, daily = params.initial_capital, [], []
        for window in windows.values():
            result = backtest(window, params.replace(initial_capital=capital))
            trades.append(result.trades)
            closes = result.equity.groupby(result.equity.index.normalize()).last()
            daily.append(closes / np.concatenate([[capital], closes.to_numpy()[:-1]]) - 1)
            capital = float(result.equity.iloc[-1])
        pnl = pd.concat(trades)["pnl"]
        assert row["n_trades"] == len(pnl) > 10, i
        assert row["final_equity"] == pytest.approx(capital, rel=1e-9)
        assert row["fees_paid"] == pytest.approx(pd.concat(trades)["fees"].sum(), rel=1e-9)
        assert row["win_rate"] == pytest.approx((pnl > 0).mean(), rel=1e-12)
        assert row["profit_factor"] == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum(), rel=1e-9)
        assert row["expectancy"] == pytest.approx(pnl.mean(), rel=1e-9)
        assert row["largest_loss"] == pytest.approx(pnl.min(), rel=1e-9)
        assert row["avg_win"] == pytest.approx(pnl[pnl > 0].mean(), rel=1e-9)
        assert row["sharpe"] == pytest.approx(
            float(metrics.sharpe(pd.concat(daily).to_numpy(), chain.DAYS_PER_YEAR)), rel=1e-9)
