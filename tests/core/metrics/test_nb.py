"""The streaming accumulators (metrics.nb, behind summarize and every sweep kernel) against the
per-metric functions of metrics.returns / metrics.trades, their reference: the same formulas and
the same rule for every degenerate case; and the accumulators' own contracts (plain Python,
equity_acc_repeat, exact zero spread)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.core.metrics.kit import P_1M, random_curve, trades_frame
from threadx_core import metrics
from threadx_core.metrics import nb

EQUITY_KEYS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
               "max_drawdown_duration")


def reference(equity: np.ndarray, bar_minutes: float) -> dict[str, float]:
    """The equity metrics of a per-bar curve by the per-metric functions: over its returns, P =
    525 600 / bar minutes, CAGR over len(equity) bars (the span summarize gives an array)."""
    r = metrics.simple_returns(equity)
    p = P_1M / bar_minutes
    return {"total_return": float(metrics.total_return(r)), "cagr": float(metrics.cagr(r, p, len(equity))),
            "volatility": float(metrics.volatility(r, p)), "sharpe": float(metrics.sharpe(r, p)),
            "sortino": float(metrics.sortino(r, p)), "calmar": float(metrics.calmar(r, p, len(equity))),
            "max_drawdown": float(metrics.max_drawdown(r)),
            "max_drawdown_duration": int(metrics.max_drawdown_duration(r))}


def assert_reference(got: dict[str, object], want: dict[str, float], rel: float = 1e-9) -> None:
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=rel, abs=1e-12, nan_ok=True), key


@pytest.mark.parametrize("bar_minutes", [1, 5, 60])
def test_equity_metrics_equal_the_reference_functions(bar_minutes: int) -> None:
    e = random_curve(seed=bar_minutes)
    got = metrics.summarize(e, None, bar_minutes)
    assert_reference(got, reference(e, bar_minutes))
    assert got["final_equity"] == e[-1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.2, 0.2).map(lambda x: round(x, 6)), max_size=60))
def test_a_one_day_bar_curve_gives_the_daily_reference_metrics(r: list[float]) -> None:
    """summarize on a daily equity curve (1440-minute bars: P = 365) is the per-metric functions
    on its daily returns. The curve is compounded from unit capital, so both drawdowns see the
    same roundings. (A constant non-zero series is left out: its two-pass std is rounding noise,
    the streaming one exactly 0, so both Sharpe values are arbitrary.)"""
    assume(len(set(r)) != 1 or r[0] == 0.0)
    daily = np.array(r)
    curve = np.cumprod(np.concatenate([[1.0], 1.0 + daily]))
    got = metrics.summarize(curve, None, 1440)
    want = {"total_return": metrics.total_return(daily), "volatility": metrics.volatility(daily, 365),
            "sharpe": metrics.sharpe(daily, 365), "sortino": metrics.sortino(daily, 365),
            "max_drawdown": metrics.max_drawdown(daily),
            "max_drawdown_duration": metrics.max_drawdown_duration(daily),
            "cagr": metrics.cagr(daily, 365, len(curve)), "calmar": metrics.calmar(daily, 365, len(curve))}
    assert_reference(got, {key: float(value) for key, value in want.items()})


DEGENERATE = {
    "one bar": np.array([10_000.0]),
    "two bars": np.array([10_000.0, 10_100.0]),
    "flat": np.full(100, 10_000.0),
    "rising without a loss": 10_000 * np.cumprod(np.r_[1.0, np.full(9, 1.001), [1.002] * 5]),
    "constant non-zero return": 10_000 * 2.0 ** np.arange(6),
    "flat after a constant return": 10_000 * 2.0 ** np.r_[np.arange(4), 3, 3],
    "wiped out": np.array([10_000.0, 5_000.0, -100.0, -50.0]),
    "wiped out on the last bar": np.array([10_000.0, 11_000.0, 9_000.0, -10.0]),
}


@pytest.mark.parametrize("name", DEGENERATE)
def test_degenerate_curves_follow_the_reference_rules(name: str) -> None:
    e = DEGENERATE[name]
    assert_reference(metrics.summarize(e, None, 1), reference(e, 1))


def test_trade_metrics_equal_the_reference_functions() -> None:
    for pnl in ([50.0, -20.0, 0.0, 30.0, -40.0, 10.0], [5.0, 1.0], [-5.0, -1.0], [0.0], []):
        got = metrics.summarize(np.full(50, 10_000.0), trades_frame(pnl), 1)
        p = np.array(pnl)
        wins, losses, n = float(np.sum(p > 0)), float(np.sum(p < 0)), float(p.size)
        gross_win, gross_loss = float(p[p > 0].sum()), float(p[p < 0].sum())
        want = {"win_rate": metrics.win_rate(wins, n),
                "profit_factor": metrics.profit_factor(gross_win, gross_loss),
                "expectancy": metrics.per_trade(float(p.sum()), n),
                "avg_win": metrics.per_trade(gross_win, wins),
                "avg_loss": metrics.per_trade(gross_loss, losses)}
        assert_reference(got, {key: float(value) for key, value in want.items()}, rel=1e-12)
        assert got["n_trades"] == len(pnl)


def test_accumulators_run_as_plain_python_with_the_same_result() -> None:
    """The cores are register_jitable: the interpreted path is the debugger's view of the kernel."""
    e = random_curve(200, seed=6)
    acc = nb.equity_acc_new()
    for value in e:
        acc = nb.equity_acc_add(acc, float(value))
    trades = nb.trade_acc_new()
    for pnl in (3.0, -1.0):
        trades = nb.trade_acc_add(trades, pnl, 0.1, 50.0, 2)
    out = np.empty(len(metrics.OUTPUT_KEYS))
    nb.metrics_into(out, acc, trades, P_1M, 200.0)
    frame = trades_frame([3.0, -1.0], [0.1, 0.1], [(0, 2), (3, 5)])
    frame["qty"], frame["entry_price"], frame["exit_price"] = 1.0, 25.0, 25.0
    got = metrics.summarize(e, frame, 1)
    np.testing.assert_allclose(out, [float(got[k]) for k in metrics.OUTPUT_KEYS], rtol=1e-12)


def _fields(acc: nb.EquityAcc) -> list[str]:
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
    by_bar = fast = nb.equity_acc_new()
    for value, length in runs:
        for _ in range(length):
            by_bar = nb.equity_acc_add(by_bar, value)
        fast = nb.equity_acc_add(fast, value)
        if length > 1:
            fast = nb.equity_acc_repeat(fast, length - 1)
        assert _fields(fast) == _fields(by_bar)
    out_by_bar, out_fast = np.empty(len(metrics.OUTPUT_KEYS)), np.empty(len(metrics.OUTPUT_KEYS))
    trades = nb.trade_acc_new()
    nb.metrics_into(out_by_bar, by_bar, trades, P_1M, P_1M)
    nb.metrics_into(out_fast, fast, trades, P_1M, P_1M)
    assert _fields(out_fast.tolist()) == _fields(out_by_bar.tolist())


def test_a_flat_stretch_after_a_constant_return_makes_the_spread_non_zero() -> None:
    """std(r) is exactly 0 only while every return is bitwise the same: a repeated (r = 0) bar
    after constant non-zero returns gives a finite Sharpe, fed either way."""
    e = 10_000 * 2.0 ** np.arange(4)
    acc = nb.equity_acc_new()
    for value in e:
        acc = nb.equity_acc_add(acc, value)
    assert acc.same_r
    repeated = nb.equity_acc_repeat(acc, 2)
    assert not repeated.same_r
    got = metrics.summarize(np.r_[e, e[-1], e[-1]], None, 1)
    assert math.isfinite(got["sharpe"]) and got["volatility"] > 0.0
