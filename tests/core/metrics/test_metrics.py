"""Metrics (DESIGN §7) against straightforward numpy/python formulas, and every degenerate case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import metrics

P_1M = 525_600.0


def trades_frame(pnl: list[float], fees: list[float] | None = None,
                 bars: list[tuple[int, int]] | None = None) -> pd.DataFrame:
    n = len(pnl)
    bars = bars or [(i, i + 1) for i in range(n)]
    return pd.DataFrame({
        "pnl": pnl, "fees": fees or [1.0] * n, "qty": [2.0] * n,
        "entry_price": [100.0] * n, "exit_price": [110.0] * n,
        "entry_bar": [b[0] for b in bars], "exit_bar": [b[1] for b in bars],
    })


def random_curve(n: int = 5_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10_000 * np.cumprod(1 + rng.normal(1e-5, 1e-3, n))


def test_keys_are_the_design_keys_plus_the_short_window_flag() -> None:
    result = metrics.summarize(random_curve(10), None, 1)
    assert list(result) == [*metrics.METRIC_KEYS, "cagr_short_window"]
    assert len(metrics.METRIC_KEYS) == 20


def test_equity_metrics_match_plain_formulas() -> None:
    e = random_curve()
    r = e[1:] / e[:-1] - 1
    got = metrics.summarize(e, None, 1)
    years = len(e) / P_1M
    cagr = (e[-1] / e[0]) ** (1 / years) - 1
    mdd = float(np.min(e / np.maximum.accumulate(e) - 1))
    want = {
        "total_return": e[-1] / e[0] - 1,
        "cagr": cagr,
        "volatility": np.std(r, ddof=1) * math.sqrt(P_1M),
        "sharpe": r.mean() / np.std(r, ddof=1) * math.sqrt(P_1M),
        "sortino": r.mean() / math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(P_1M),
        "max_drawdown": mdd,
        "calmar": cagr / abs(mdd),
        "final_equity": e[-1],
    }
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    assert got["cagr_short_window"] is True  # 5 000 minutes < 30 days


def test_friendly_functions_agree_with_summarize() -> None:
    e = random_curve(seed=4)
    got = metrics.summarize(e, None, 5)
    p = P_1M / 5
    assert metrics.total_return(e) == pytest.approx(got["total_return"], rel=1e-12)
    assert metrics.cagr(e, len(e) * 5) == pytest.approx(got["cagr"], rel=1e-9)
    assert metrics.volatility(e, p) == pytest.approx(got["volatility"], rel=1e-9)
    assert metrics.sharpe(e, p) == pytest.approx(got["sharpe"], rel=1e-9)
    assert metrics.sortino(e, p) == pytest.approx(got["sortino"], rel=1e-9)
    assert metrics.max_drawdown(e) == pytest.approx(got["max_drawdown"], rel=1e-12)
    assert metrics.calmar(got["cagr"], got["max_drawdown"]) == pytest.approx(got["calmar"])


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
    assert metrics.sharpe(np.full(100, 1.0), P_1M) == 0.0
    assert metrics.sortino(np.full(100, 1.0), P_1M) == 0.0


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


def test_accumulators_run_as_plain_python_with_the_same_result() -> None:
    """The cores are register_jitable: the interpreted path is the debugger's view of the kernel."""
    e = random_curve(200, seed=6)
    acc = metrics.equity_acc_new()
    for value in e:
        acc = metrics.equity_acc_add(acc, float(value))
    trades = metrics.trade_acc_new()
    for pnl in (3.0, -1.0):
        trades = metrics.trade_acc_add(trades, pnl, 0.1, 50.0, 2)
    out = np.empty(len(metrics.OUTPUT_KEYS))
    metrics.metrics_into(out, acc, trades, P_1M, 200.0)
    frame = trades_frame([3.0, -1.0], [0.1, 0.1], [(0, 2), (3, 5)])
    frame["qty"], frame["entry_price"], frame["exit_price"] = 1.0, 25.0, 25.0
    got = metrics.summarize(e, frame, 1)
    np.testing.assert_allclose(out, [float(got[k]) for k in metrics.OUTPUT_KEYS], rtol=1e-12)


def _fields(acc: metrics.EquityAcc) -> list[str]:
    """Every field, NaN-safe and bitwise (``repr`` of a float round-trips exactly)."""
    return [repr(v) for v in acc]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6),
       st.lists(st.tuples(st.sampled_from([10_000.0, 9_000.0, 12_000.0, 500.0, 0.0, -250.0, 11_000.5]),
                          st.integers(1, 6)), max_size=12))
def test_repeating_the_last_equity_equals_feeding_it_bar_by_bar(first: int,
                                                              runs: list[tuple[float, int]]) -> None:
    """equity_acc_repeat (the sweep kernel's flat-stretch path) is bitwise equity_acc_add repeated:
    runs of equal equities after the initial capital, including new peaks, troughs, recoveries,
    zero and negative equity."""
    runs = [(10_000.0, first), *runs]
    by_bar = fast = metrics.equity_acc_new()
    for value, length in runs:
        for _ in range(length):
            by_bar = metrics.equity_acc_add(by_bar, value)
        fast = metrics.equity_acc_add(fast, value)
        if length > 1:
            fast = metrics.equity_acc_repeat(fast, length - 1)
        assert _fields(fast) == _fields(by_bar)
    out_by_bar, out_fast = np.empty(len(metrics.OUTPUT_KEYS)), np.empty(len(metrics.OUTPUT_KEYS))
    trades = metrics.trade_acc_new()
    metrics.metrics_into(out_by_bar, by_bar, trades, P_1M, P_1M)
    metrics.metrics_into(out_fast, fast, trades, P_1M, P_1M)
    assert _fields(out_fast.tolist()) == _fields(out_by_bar.tolist())


def test_a_flat_stretch_after_a_constant_return_makes_the_spread_non_zero() -> None:
    """std(r) is exactly 0 only while every return is bitwise the same: a repeated (r = 0) bar
    after constant non-zero returns gives a finite Sharpe, fed either way."""
    e = 10_000 * 2.0 ** np.arange(4)
    acc = metrics.equity_acc_new()
    for value in e:
        acc = metrics.equity_acc_add(acc, value)
    assert acc.same_r
    repeated = metrics.equity_acc_repeat(acc, 2)
    assert not repeated.same_r
    got = metrics.summarize(np.r_[e, e[-1], e[-1]], None, 1)
    assert math.isfinite(got["sharpe"]) and got["volatility"] > 0.0
