"""The per-metric functions over trade totals, and their degenerate rules."""

from __future__ import annotations

import math

import numpy as np

from threadx_core import metrics


def test_trade_formulas() -> None:
    assert metrics.win_rate(np.array(3.0), np.array(6.0)) == 0.5
    assert metrics.profit_factor(np.array(90.0), np.array(-60.0)) == 1.5
    assert metrics.per_trade(np.array(30.0), np.array(6.0)) == 5.0


def test_no_trade_no_win_no_loss() -> None:
    assert math.isnan(metrics.win_rate(np.array(0.0), np.array(0.0)))
    assert math.isnan(metrics.per_trade(np.array(0.0), np.array(0.0)))
    assert metrics.profit_factor(np.array(5.0), np.array(0.0)) == math.inf
    assert metrics.profit_factor(np.array(0.0), np.array(-5.0)) == 0.0
    assert math.isnan(metrics.profit_factor(np.array(0.0), np.array(0.0)))
    np.testing.assert_array_equal(metrics.profit_factor(np.array([5.0, 0.0]), np.array([0.0, 0.0])),
                                  [math.inf, math.nan])
