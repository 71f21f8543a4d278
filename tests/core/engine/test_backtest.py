"""Engine API: Params validation, backtest() inputs and Result shape."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from threadx_bench import backtest as bench
from threadx_core.engine import Params, Result, backtest
from threadx_core.engine.backtest import TRADE_COLUMNS
from threadx_core.testing.candles import random_walk_ohlcv

# ---------------------------------------------------------------- Params -------------------


def test_params_defaults_are_design_section_6() -> None:
    assert Params().to_dict() == {
        "bb_period": 20, "bb_std": 2.0, "atr_period": 14, "atr_method": "wilder",
        "atr_mult": 1.5, "trailing": True, "take_profit": "mid", "max_hold_bars": 0,
        "allow_short": True, "risk_per_trade": 0.01, "leverage": 1.0, "fee_bps": 10.0,
        "slippage_bps": 5.0, "fill": "next_open", "initial_capital": 10_000.0,
    }


@pytest.mark.parametrize(("name", "value"), [
    ("bb_period", 1), ("bb_period", 20.5), ("bb_period", True), ("bb_period", "20"),
    ("bb_std", 0.0), ("bb_std", -1.0), ("bb_std", math.nan), ("bb_std", math.inf),
    ("atr_period", 0), ("atr_method", "rma"), ("atr_mult", 0.0), ("take_profit", "upper"),
    ("max_hold_bars", -1), ("risk_per_trade", 0.0), ("risk_per_trade", 1.5),
    ("leverage", 0.0), ("fee_bps", -0.1), ("slippage_bps", -1.0), ("fill", "open"),
    ("initial_capital", 0.0), ("trailing", 1), ("allow_short", "yes"),
])
def test_invalid_params_raise_naming_the_parameter_and_value(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name) as info:
        Params(**{name: value})
    assert repr(value) in str(info.value)


def test_params_normalise_types_and_are_immutable() -> None:
    p = Params(bb_period=np.int64(30), atr_period=10.0, bb_std=np.float32(2.5),
               trailing=np.bool_(False), risk_per_trade=1)
    assert (type(p.bb_period), type(p.atr_period), type(p.bb_std)) == (int, int, float)
    assert p.trailing is False and p.risk_per_trade == 1.0
    with pytest.raises(AttributeError):
        p.bb_period = 3  # type: ignore[misc]


def test_unknown_parameters_are_named() -> None:
    with pytest.raises(TypeError, match="bb_perod"):
        Params(bb_perod=20)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="bb_perod, zzz"):
        Params.from_dict({"bb_perod": 20, "zzz": 1, "fill": "close"})


def test_replace_validates_and_to_dict_round_trips() -> None:
    p = Params(fill="close")
    assert p.replace(bb_period=30).bb_period == 30 and p.replace(bb_period=30).fill == "close"
    with pytest.raises(ValueError, match="leverage"):
        p.replace(leverage=-2)
    assert Params.from_dict(p.to_dict()) == p


# ---------------------------------------------------------------- backtest -----------------


def test_backtest_returns_a_result_on_the_bar_times() -> None:
    frame = random_walk_ohlcv(3_000, seed=1)
    result = backtest(frame, Params(bb_period=10))
    assert isinstance(result, Result)
    assert result.bar_minutes == 1.0
    assert list(result.trades.columns) == list(TRADE_COLUMNS)
    assert len(result.trades) > 10
    for series in (result.equity, result.position, result.cash):
        assert series.index.equals(frame.index)
    trade = result.trades.iloc[0]
    assert trade.entry_time == frame.index[trade.entry_bar]
    assert trade.exit_time == frame.index[trade.exit_bar]
    assert trade["return"] == pytest.approx(trade.pnl / (trade.qty * trade.entry_price))
    assert result.metrics["n_trades"] == len(result.trades)
    assert result.params == Params(bb_period=10)


def test_open_time_column_and_bar_size_inference() -> None:
    frame = random_walk_ohlcv(500, seed=2)
    frame.index = pd.date_range("2024-01-01", periods=500, freq="15min", tz="UTC")
    frame = frame.drop(frame.index[[10, 11, 12]])  # a gap does not change the median spacing
    by_column = frame.reset_index(names="open_time")
    a, b = backtest(frame), backtest(by_column)
    assert a.bar_minutes == b.bar_minutes == 15.0
    pd.testing.assert_series_equal(a.equity, b.equity)
    assert backtest(frame, bar_minutes=60).metrics["volatility"] == pytest.approx(
        a.metrics["volatility"] / 2)


def test_no_trade_gives_a_typed_empty_frame() -> None:
    frame = random_walk_ohlcv(30, seed=3)
    result = backtest(frame, Params(bb_period=40))  # bands never defined
    assert result.trades.empty and list(result.trades.columns) == list(TRADE_COLUMNS)
    dtypes = result.trades.dtypes
    assert dtypes["qty"] == np.float64 and dtypes["entry_bar"] == np.int64
    assert isinstance(dtypes["entry_time"], pd.DatetimeTZDtype)
    assert (result.equity == 10_000.0).all()
    assert result.metrics["n_trades"] == 0 and math.isnan(result.metrics["profit_factor"])


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}), "open_time"),
    (random_walk_ohlcv(5).drop(columns="high"), "high"),
    (random_walk_ohlcv(5).iloc[::-1], "increasing"),
    (random_walk_ohlcv(1), "bar_minutes"),
    (random_walk_ohlcv(5).assign(close=np.nan), "NaN"),
])
def test_bad_frames_are_rejected_with_a_clear_message(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backtest(frame)


def test_single_bar_with_explicit_bar_size() -> None:
    result = backtest(random_walk_ohlcv(1), bar_minutes=1)
    assert result.equity.tolist() == [10_000.0] and result.trades.empty


def test_bench_reports_its_figures() -> None:
    figures = bench.run(bars=5_000, repeats=1)
    assert figures["bars"] == 5_000 and figures["trades"] > 0
    for key in ("compile_seconds", "first_call_seconds", "seconds", "bars_per_second",
                "loop_seconds", "loop_bars_per_second"):
        assert figures[key] > 0, key
