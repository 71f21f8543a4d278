"""The per-metric functions over returns against plain numpy formulas, and one test per degenerate
rule of the module docstring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from threadx_core import metrics

DAYS = 365


def test_equity_metrics_match_plain_formulas_column_by_column() -> None:
    rng = np.random.default_rng(3)
    daily = rng.normal(0.001, 0.02, (90, 4))
    for j in range(4):
        r = daily[:, j]
        equity = np.cumprod(np.concatenate([[1.0], 1 + r]))
        np.testing.assert_allclose(metrics.equity_curve(daily)[:, j], equity, rtol=1e-15)
        assert metrics.total_return(daily)[j] == pytest.approx(equity[-1] - 1)
        assert metrics.cagr(daily, DAYS, 90)[j] == pytest.approx(equity[-1] ** (365 / 90) - 1)
        assert metrics.volatility(daily, DAYS)[j] == pytest.approx(r.std(ddof=1) * math.sqrt(365))
        assert metrics.sharpe(daily, DAYS)[j] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
        downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
        assert metrics.sortino(daily, DAYS)[j] == pytest.approx(r.mean() / downside * math.sqrt(365))
        peak = np.maximum.accumulate(equity)
        mdd = np.min(equity / peak - 1)
        assert metrics.max_drawdown(daily)[j] == pytest.approx(mdd)
        assert metrics.max_drawdown_duration(daily)[j] == metrics.max_drawdown_duration(r)
        assert metrics.calmar(daily, DAYS, 90)[j] == pytest.approx((equity[-1] ** (365 / 90) - 1) / -mdd)


def test_axis_selects_the_period_axis() -> None:
    daily = np.random.default_rng(4).normal(0.001, 0.02, (30, 3))
    for name in ("total_return", "max_drawdown", "max_drawdown_duration"):
        np.testing.assert_allclose(getattr(metrics, name)(daily.T, axis=1), getattr(metrics, name)(daily))
    for name in ("volatility", "sharpe", "sortino"):
        np.testing.assert_allclose(getattr(metrics, name)(daily.T, DAYS, axis=1),
                                   getattr(metrics, name)(daily, DAYS), rtol=1e-12)
    np.testing.assert_allclose(metrics.equity_curve(daily.T, axis=1), metrics.equity_curve(daily).T)


def test_simple_returns_invert_the_equity_curve() -> None:
    r = np.random.default_rng(5).normal(0.0, 0.01, (20, 2))
    np.testing.assert_allclose(metrics.simple_returns(metrics.equity_curve(r)), r, atol=1e-15)
    np.testing.assert_allclose(metrics.simple_returns(100 * metrics.equity_curve(r).T, axis=1), r.T,
                               atol=1e-14)


def test_annualisation_scales_with_the_root_of_the_periods_per_year() -> None:
    r = np.random.default_rng(6).normal(0.001, 0.02, 100)
    for name in ("volatility", "sharpe", "sortino"):
        assert getattr(metrics, name)(r, DAYS) == pytest.approx(
            getattr(metrics, name)(r, 1.0) * math.sqrt(DAYS), rel=1e-12), name


def test_drawdown_duration_counts_periods_from_the_peak_to_the_recovery() -> None:
    # E: 1, 1.1, 0.88, 0.99, 1.1 (recovered), 1.2, 1.08
    r = np.array([0.1, -0.2, 0.125, 1.1 / 0.99 - 1, 1.2 / 1.1 - 1, -0.1])
    assert metrics.max_drawdown(r) == pytest.approx(-0.2)
    assert metrics.max_drawdown_duration(r) == 3
    # never recovered: counted to the last period
    assert metrics.max_drawdown_duration(np.array([0.1, -0.2, 0.1])) == 2


# ---------------------------------------------------------------- degenerate cases ---------


def test_no_return() -> None:
    none = np.empty((0, 2))
    assert list(metrics.total_return(none)) == [0.0, 0.0]
    assert np.isnan(metrics.cagr(none, DAYS, 0)).all()
    assert np.isnan(metrics.sharpe(none, DAYS)).all() and np.isnan(metrics.volatility(none, DAYS)).all()
    assert np.isnan(metrics.sortino(none, DAYS)).all()
    assert list(metrics.max_drawdown(none)) == [0.0, 0.0]
    assert list(metrics.max_drawdown_duration(none)) == [0, 0]


def test_one_return_has_no_spread() -> None:
    one = np.array([0.01])
    for statistic in (metrics.volatility, metrics.sharpe, metrics.sortino):
        assert np.isnan(statistic(one, DAYS))


def test_flat_series_give_zero_risk_ratios() -> None:
    flat = np.zeros(10)
    assert (metrics.volatility(flat, DAYS), metrics.sharpe(flat, DAYS), metrics.sortino(flat, DAYS)) == (
        0.0, 0.0, 0.0)
    assert metrics.sharpe(flat, 1.0) == 0.0
    assert metrics.calmar(flat, DAYS, 10) == 0.0 and metrics.max_drawdown(flat) == 0.0


def test_zero_spread_gives_infinite_ratios() -> None:
    assert metrics.sharpe(np.full(5, 0.5), DAYS) == math.inf
    assert metrics.sharpe(np.full(5, -0.25), DAYS) == -math.inf
    assert metrics.volatility(np.full(5, 0.5), DAYS) == 0.0
    assert metrics.sortino(np.array([0.01, 0.02, 0.0]), DAYS) == math.inf


def test_returns_after_a_non_positive_equity_make_risk_ratios_undefined() -> None:
    r = np.array([0.1, -1.2, 0.5, 0.1])
    for statistic in (metrics.sharpe, metrics.volatility, metrics.sortino):
        assert np.isnan(statistic(r, DAYS)) and np.isnan(statistic(r, 1.0))
    # ruin on the last return: no return follows it, the ratios are defined
    assert np.isfinite(metrics.sharpe(np.array([0.1, -0.05, -1.2]), DAYS))


def test_cagr_of_a_wiped_out_account_and_of_no_span() -> None:
    assert metrics.cagr(np.array([-1.0, 0.0]), DAYS, 31) == -1.0
    assert metrics.cagr(np.array([0.1, -1.2, 0.5, 0.1]), DAYS, 4) == -1.0
    assert np.isnan(metrics.cagr(np.array([0.1]), DAYS, 0))


def test_calmar_without_drawdown() -> None:
    rising = np.full(10, 0.01)
    assert metrics.calmar(rising, DAYS, 10) == math.inf
    assert metrics.calmar(np.zeros(3), DAYS, 3) == 0.0
    assert np.isnan(metrics.calmar(np.empty(0), DAYS, 0))  # no span: CAGR NaN
