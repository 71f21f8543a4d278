"""Invariants of the reference engine on random candles (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import metrics
from threadx_core.engine import Params, backtest
from threadx_core.engine import nb as nb
from threadx_core.engine.backtest import loop_params
from threadx_core.indicators import atr, rolling_mean_std

SETTINGS = settings(max_examples=40, deadline=None)


def candles(n: int, seed: int) -> pd.DataFrame:
    """Random walk with fat-tailed jumps and gaps, so stops, gaps and crosses all happen."""
    rng = np.random.default_rng(seed)
    steps = rng.standard_t(3, n) * 0.004
    close = 100.0 * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    index = pd.date_range("2024-03-01", periods=n, freq="15min", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=index)


params_strategy = st.builds(
    Params,
    bb_period=st.integers(2, 12),
    bb_std=st.floats(0.5, 2.5),
    atr_period=st.integers(1, 10),
    atr_method=st.sampled_from(["wilder", "ema", "sma"]),
    atr_mult=st.floats(0.5, 3.0),
    trailing=st.booleans(),
    take_profit=st.sampled_from(["mid", "none"]),
    max_hold_bars=st.integers(0, 6),
    allow_short=st.booleans(),
    risk_per_trade=st.floats(0.005, 0.5),
    leverage=st.floats(0.5, 5.0),
    fee_bps=st.floats(0.0, 30.0),
    slippage_bps=st.floats(0.0, 20.0),
    fill=st.sampled_from(["next_open", "close"]),
)
cases = st.tuples(st.integers(2, 160), st.integers(0, 2**32 - 1), params_strategy)


@SETTINGS
@given(cases)
def test_final_equity_is_initial_capital_plus_the_sum_of_trade_pnl(case) -> None:
    n, seed, params = case
    result = backtest(candles(n, seed), params)
    pnl = result.trades["pnl"].to_numpy()
    sequential = params.initial_capital
    for p in pnl:
        sequential += p
    assert result.equity.iloc[-1] == sequential  # bitwise: that is how cash is kept
    scale = params.initial_capital + np.abs(pnl).sum()
    assert abs(result.equity.iloc[-1] - (params.initial_capital + pnl.sum())) <= 1e-9 * scale
    assert result.metrics["final_equity"] == result.equity.iloc[-1]
    assert result.position.iloc[-1] == 0.0


@SETTINGS
@given(cases)
def test_equity_is_marked_to_market_every_bar(case) -> None:
    """Rebuild equity independently from the trade log: realised pnl of closed trades plus, for
    an open trade, side·qty·(close − entry) − entry fee."""
    n, seed, params = case
    frame = candles(n, seed)
    result = backtest(frame, params)
    close = frame["close"].to_numpy()
    np.testing.assert_array_equal(result.equity, result.cash + result.position * close)
    fee_rate = params.fee_bps / 1e4
    expected = np.full(n, params.initial_capital)
    position = np.zeros(n)
    for trade in result.trades.itertuples():
        side = 1.0 if trade.side == "long" else -1.0
        expected[trade.exit_bar:] += trade.pnl
        held = slice(trade.entry_bar, trade.exit_bar)  # bars whose close sees the position
        entry_fee = fee_rate * trade.qty * trade.entry_price
        expected[held] += side * trade.qty * (close[held] - trade.entry_price) - entry_fee
        assert (position[held] == 0).all(), "trades overlap"
        position[held] = side * trade.qty
    np.testing.assert_allclose(result.equity, expected, rtol=1e-9,
                               atol=1e-9 * params.initial_capital)
    np.testing.assert_array_equal(result.position, position)
    assert result.metrics["exposure"] == pytest.approx(np.mean(position != 0), abs=1e-15)


@SETTINGS
@given(cases, st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_no_look_ahead(case, where: float, other_seed: int) -> None:
    """Replacing every bar after t changes nothing up to t."""
    n, seed, params = case
    if n < 3:
        return
    t = int(where * (n - 2))
    frame = candles(n, seed)
    changed = frame.copy()
    changed.iloc[t + 1 :] = candles(n, other_seed).iloc[t + 1 :].to_numpy() * 1.3
    a, b = backtest(frame, params), backtest(changed, params)
    np.testing.assert_array_equal(a.equity.iloc[: t + 1], b.equity.iloc[: t + 1])
    np.testing.assert_array_equal(a.position.iloc[: t + 1], b.position.iloc[: t + 1])
    done_a = a.trades[a.trades["exit_bar"] <= t].reset_index(drop=True)
    done_b = b.trades[b.trades["exit_bar"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(done_a, done_b)
    entered_a = a.trades.loc[a.trades["entry_bar"] <= t, ["side", "entry_bar", "entry_price", "qty"]]
    entered_b = b.trades.loc[b.trades["entry_bar"] <= t, ["side", "entry_bar", "entry_price", "qty"]]
    pd.testing.assert_frame_equal(entered_a.reset_index(drop=True),
                                  entered_b.reset_index(drop=True))


@SETTINGS
@given(cases)
def test_metrics_only_loop_reproduces_summarize_of_the_full_run_bitwise(case) -> None:
    """The sweep's building block: same steps, accumulators instead of a trade log."""
    n, seed, params = case
    frame = candles(n, seed)
    result = backtest(frame, params)
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    middle, sigma = rolling_mean_std(c, params.bb_period)
    atr_values = atr(h, lo, c, params.atr_period, params.atr_method)
    out = np.empty(len(metrics.OUTPUT_KEYS))
    nb.run_metrics_nb(o, h, lo, c, middle, sigma, params.bb_std, atr_values, loop_params(params),
                      525_600 / 15, n * 15.0, out)
    want = [float(result.metrics[k]) for k in metrics.OUTPUT_KEYS]
    np.testing.assert_array_equal(out, want)


@SETTINGS
@given(cases)
def test_trade_records_are_consistent(case) -> None:
    n, seed, params = case
    frame = candles(n, seed)
    trades = backtest(frame, params).trades
    assert (trades["exit_bar"] >= trades["entry_bar"]).all()
    assert (trades["qty"] > 0).all()
    assert (trades["exit_bar"].iloc[1:].to_numpy() >= trades["exit_bar"].iloc[:-1].to_numpy()).all()
    assert set(trades["exit_reason"]) <= {"take_profit", "stop", "max_hold", "end"}
    assert (trades["exit_reason"] == "end").sum() <= 1
    if params.take_profit == "none":
        assert not (trades["exit_reason"] == "take_profit").any()
    if params.max_hold_bars == 0:
        assert not (trades["exit_reason"] == "max_hold").any()
    if not params.allow_short:
        assert (trades["side"] == "long").all()
    high = frame["high"].to_numpy()
    low = frame["low"].to_numpy()
    slip = params.slippage_bps / 1e4
    for trade in trades.itertuples():
        side = 1 if trade.side == "long" else -1
        raw_entry = trade.entry_price / (1 + side * slip)
        raw_exit = trade.exit_price / (1 - side * slip)
        assert low[trade.entry_bar] * (1 - 1e-12) <= raw_entry <= high[trade.entry_bar] * (1 + 1e-12)
        # a stop fills at min(stop, open) with low ≤ stop: inside the bar's range too
        assert low[trade.exit_bar] * (1 - 1e-12) <= raw_exit <= high[trade.exit_bar] * (1 + 1e-12)
        gross = side * trade.qty * (trade.exit_price - trade.entry_price)
        assert math.isclose(trade.pnl, gross - trade.fees, rel_tol=1e-12, abs_tol=1e-9)
