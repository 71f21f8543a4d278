""":func:`metrics.summarize` of one run: its keys, its inputs (calendar span, bar size, trade frame)
and the degenerate cases stated at the level of a run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.core.metrics.kit import random_curve, trades_frame
from threadx_core import metrics


def test_keys_are_the_metric_keys_plus_the_short_window_flag() -> None:
    result = metrics.summarize(random_curve(10), None, 1)
    assert list(result) == [*metrics.METRIC_KEYS, "cagr_short_window"]
    assert len(metrics.METRIC_KEYS) == 20


def test_annualisation_follows_the_bar_size() -> None:
    e = random_curve(seed=2)
    one = metrics.summarize(e, None, 1)
    hour = metrics.summarize(e, None, 60)
    assert hour["sharpe"] == pytest.approx(one["sharpe"] / math.sqrt(60), rel=1e-12)
    assert hour["volatility"] == pytest.approx(one["volatility"] / math.sqrt(60), rel=1e-12)


def test_max_drawdown_and_its_duration_by_hand() -> None:
    e = np.array([100, 110, 99, 88, 105, 110, 120, 108, 90, 130], dtype=float)
    got = metrics.summarize(e, None, 1)
    # deepest: peak 120 (bar 6) → 90 (bar 8): −25 %, recovered at bar 9 → 3 bars
    assert got["max_drawdown"] == pytest.approx(-0.25)
    assert got["max_drawdown_duration"] == 3
    unrecovered = metrics.summarize(np.array([100, 120, 90, 100, 110.0]), None, 1)
    assert unrecovered["max_drawdown"] == pytest.approx(-0.25)
    assert unrecovered["max_drawdown_duration"] == 3  # bar 1 → last bar 4, still underwater


def test_cagr_uses_calendar_time_from_the_index() -> None:
    index = pd.DatetimeIndex(["2024-01-01", "2024-07-01", "2025-01-01"], tz="UTC")
    e = pd.Series([100.0, 130.0, 121.0], index=index)
    got = metrics.summarize(e, None, 1440)
    days = 366 + 1  # last minus first, plus the last bar
    assert got["cagr"] == pytest.approx(1.21 ** (365 / days) - 1, rel=1e-12)
    assert got["cagr_short_window"] is False


def test_trade_metrics_match_plain_formulas() -> None:
    pnl = [50.0, -20.0, 0.0, 30.0, -40.0, 10.0]
    fees = [1.0, 2.0, 0.5, 1.5, 2.5, 1.0]
    bars = [(0, 3), (5, 5), (6, 8), (10, 20), (25, 26), (30, 40)]
    got = metrics.summarize(np.full(50, 10_000.0), trades_frame(pnl, fees, bars), 1)
    wins, losses = [p for p in pnl if p > 0], [p for p in pnl if p < 0]
    assert got["n_trades"] == 6
    assert got["win_rate"] == pytest.approx(3 / 6)
    assert got["profit_factor"] == pytest.approx(sum(wins) / abs(sum(losses)))
    assert got["expectancy"] == pytest.approx(sum(pnl) / 6)
    assert got["avg_win"] == pytest.approx(sum(wins) / 3)
    assert got["avg_loss"] == pytest.approx(sum(losses) / 2)
    assert (got["largest_win"], got["largest_loss"]) == (50.0, -40.0)
    assert got["fees_paid"] == pytest.approx(sum(fees))
    assert got["exposure"] == pytest.approx((3 + 0 + 2 + 10 + 1 + 10) / 50)
    assert got["turnover"] == pytest.approx(6 * 2 * (100 + 110) / 10_000)
    assert isinstance(got["n_trades"], int) and isinstance(got["max_drawdown_duration"], int)


# ---------------------------------------------------------------- degenerate cases ---------


def test_no_trade() -> None:
    got = metrics.summarize(np.full(10, 10_000.0), trades_frame([]), 1)
    assert got["n_trades"] == 0
    for key in ("win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss",
                "largest_win", "largest_loss"):
        assert math.isnan(got[key]), key
    assert (got["fees_paid"], got["turnover"], got["exposure"]) == (0.0, 0.0, 0.0)
    assert metrics.summarize(np.full(10, 10_000.0), None, 1) == pytest.approx(got, nan_ok=True)


def test_flat_equity_gives_zero_risk_ratios() -> None:
    got = metrics.summarize(np.full(100, 10_000.0), None, 1)
    assert (got["total_return"], got["cagr"], got["volatility"]) == (0.0, 0.0, 0.0)
    assert (got["sharpe"], got["sortino"], got["calmar"]) == (0.0, 0.0, 0.0)
    assert (got["max_drawdown"], got["max_drawdown_duration"]) == (0.0, 0)


@pytest.mark.parametrize("bars", [1, 2])
def test_one_and_two_bar_windows(bars: int) -> None:
    e = np.array([10_000.0, 10_100.0][:bars])
    got = metrics.summarize(e, None, 1)
    assert math.isnan(got["volatility"]) and math.isnan(got["sharpe"])
    assert math.isnan(got["sortino"])
    assert got["total_return"] == pytest.approx(e[-1] / e[0] - 1)
    assert got["final_equity"] == e[-1]
    assert got["cagr_short_window"] is True


def test_only_wins_give_infinite_profit_factor_only_losses_zero_only_zeros_nan() -> None:
    flat = np.full(10, 10_000.0)
    assert metrics.summarize(flat, trades_frame([5.0, 1.0]), 1)["profit_factor"] == math.inf
    only_losses = metrics.summarize(flat, trades_frame([-5.0, -1.0]), 1)
    assert only_losses["profit_factor"] == 0.0 and only_losses["win_rate"] == 0.0
    assert math.isnan(only_losses["avg_win"]) and only_losses["largest_loss"] == -5.0
    zeros = metrics.summarize(flat, trades_frame([0.0]), 1)
    assert math.isnan(zeros["profit_factor"]) and zeros["win_rate"] == 0.0
    assert math.isnan(zeros["avg_win"]) and math.isnan(zeros["avg_loss"])


def test_rising_curve_without_loss_bars() -> None:
    e = 10_000 * np.cumprod(np.r_[1.0, np.full(9, 1.001), [1.002] * 5])
    got = metrics.summarize(e, None, 1)
    assert got["sortino"] == math.inf and got["calmar"] == math.inf
    assert got["max_drawdown"] == 0.0 and got["sharpe"] > 0


def test_constant_nonzero_returns_give_infinite_sharpe() -> None:
    e = 10_000 * 2.0 ** np.arange(6)
    got = metrics.summarize(e, None, 1)
    assert got["sharpe"] == math.inf and got["volatility"] == 0.0


def test_wiped_out_account() -> None:
    e = np.array([10_000.0, 5_000.0, -100.0, -50.0])
    got = metrics.summarize(e, None, 1)
    assert got["cagr"] == -1.0
    assert math.isnan(got["sharpe"]) and math.isnan(got["volatility"])
    assert got["max_drawdown"] == pytest.approx(-1.01)


def test_short_window_flag_threshold() -> None:
    assert metrics.summarize(np.full(30 * 1440, 1.0), None, 1)["cagr_short_window"] is False
    assert metrics.summarize(np.full(30 * 1440 - 1, 1.0), None, 1)["cagr_short_window"] is True


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="at least one"):
        metrics.summarize(np.array([]), None, 1)
    with pytest.raises(ValueError, match="bar_minutes"):
        metrics.summarize(np.ones(3), None, 0)
