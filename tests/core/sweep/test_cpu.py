"""The CPU sweep against the reference engine (docs/ARCHITECTURE.md, Strategy and Sweeps, selection and
research): same trades, same metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.sweep.kit import base_params, grid_axes
from threadx_core import metrics, sweep
from threadx_core.data import resample, synthetic
from threadx_core.engine import Params, backtest, simulate
from threadx_core.engine.backtest import indicator_arrays, trades_frame
from threadx_core.indicators.cache import month_indicators
from threadx_core.sweep import Grid, build
from threadx_core.sweep.layout import SCALAR_COLUMNS
from threadx_core.sweep.run import run_with_daily
from threadx_core.testing.candles import fat_tailed_walk

SETTINGS = settings(max_examples=25, deadline=None)


def reference(frame: pd.DataFrame, params: Params, warmup: int = 0) -> dict[str, float]:
    """The engine's metrics: ``backtest`` without warm-up; with it, indicators on the whole frame,
    the window ``[warmup:]`` simulated with them (the documented sweep semantics)."""
    if warmup == 0:
        result = backtest(frame, params)
        return {k: float(result.metrics[k]) for k in metrics.OUTPUT_KEYS}
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    window = [a[warmup:] for a in indicator_arrays(h, lo, c, params)]
    sim = simulate(o[warmup:], h[warmup:], lo[warmup:], c[warmup:], *window, params)
    times = frame.index[warmup:]
    minutes = (frame.index[1] - frame.index[0]).total_seconds() / 60
    summary = metrics.summarize(pd.Series(sim.equity, index=times), trades_frame(sim.log, times),
                                minutes)
    return {k: float(summary[k]) for k in metrics.OUTPUT_KEYS}


def assert_matches(results: pd.DataFrame, frame: pd.DataFrame, grid: Grid, warmup: int = 0) -> None:
    for i, params in enumerate(grid):
        want = reference(frame, params, warmup)
        got = results.iloc[i]
        assert got["n_trades"] == want["n_trades"], params
        np.testing.assert_allclose([float(got[k]) for k in metrics.OUTPUT_KEYS],
                                   [want[k] for k in metrics.OUTPUT_KEYS], rtol=1e-9, atol=0,
                                   equal_nan=True, err_msg=str(params))


cases = st.tuples(st.integers(2, 220), st.integers(0, 2**32 - 1), base_params, grid_axes())


@SETTINGS
@given(cases)
def test_every_combination_reproduces_the_reference_engine(case) -> None:
    n, seed, base, mapping = case
    frame, grid = fat_tailed_walk(n, seed), Grid(mapping, base)
    out = sweep.run_with_daily(frame, grid, "cpu", chunk=3)
    assert_matches(out.results, frame, grid)
    compounded = np.prod(1.0 + out.daily.to_numpy(), axis=0) - 1.0
    np.testing.assert_allclose(compounded, out.results["total_return"], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(st.integers(3, 200), st.integers(0, 2**32 - 1), st.floats(0.0, 0.95), base_params)
def test_warm_up_trades_only_the_window_with_indicators_of_the_whole_frame(n, seed, share, base) -> None:
    warmup = int(share * (n - 1))
    frame = fat_tailed_walk(n, seed, minutes=60)
    grid = Grid({"bb_period": [3, 9], "atr_period": [2, 7]}, base)
    results = sweep.run(frame, grid, "cpu", warmup_bars=warmup)
    assert_matches(results, frame, grid, warmup)


def test_warm_up_lets_the_first_window_bars_use_indicators() -> None:
    frame = fat_tailed_walk(400, 7, minutes=15)
    grid = Grid({"bb_period": [30], "bb_std": [1.0]})
    cold = build(frame.iloc[200:], grid)
    warm = build(frame, grid, warmup_bars=200)
    assert np.isnan(cold.middle[0, :29]).all() and np.isfinite(warm.middle[0]).all()
    np.testing.assert_array_equal(warm.close, cold.close)
    assert warm.times.equals(cold.times) and warm.elapsed_minutes == cold.elapsed_minutes


def test_no_trade_combinations_report_documented_values() -> None:
    frame = fat_tailed_walk(150, 3)
    results = sweep.run(frame, Grid({"bb_std": [60.0], "bb_period": [5]}), "cpu")
    row = results.iloc[0]
    assert row["n_trades"] == 0 and row["total_return"] == 0.0 and row["final_equity"] == 10_000.0
    assert all(math.isnan(row[k]) for k in ("win_rate", "profit_factor", "expectancy", "avg_win"))
    assert row["sharpe"] == 0.0 and row["exposure"] == 0.0


def test_results_are_in_grid_order_with_typed_columns() -> None:
    frame = fat_tailed_walk(120, 11)
    grid = Grid({"bb_period": [4, 6], "bb_std": [1.0, 1.5, 2.0], "atr_mult": [1.0, 2.0]})
    results = sweep.run(frame, grid, "cpu")
    pd.testing.assert_frame_equal(results[list(grid.to_frame().columns)], grid.to_frame())
    assert list(results.columns) == [*grid.to_frame().columns, *metrics.OUTPUT_KEYS]
    assert results["n_trades"].dtype == np.int64 and results["cagr_short_window"].dtype == bool
    assert results.attrs["devices"] == ["cpu"] and results.attrs["warning"] is None


def test_chunking_and_progress_do_not_change_results() -> None:
    frame = fat_tailed_walk(300, 5, minutes=5)
    grid = Grid({"bb_period": [5, 9, 14], "bb_std": [1.0, 2.0], "atr_period": [3, 5],
                 "allow_short": [True, False]})
    calls: list[tuple[int, int]] = []
    small = sweep.run_with_daily(frame, grid, "cpu", chunk=5, progress=lambda d, t: calls.append((d, t)))
    whole = sweep.run_with_daily(frame, grid, "cpu", chunk=1000)
    pd.testing.assert_frame_equal(small.results, whole.results)
    pd.testing.assert_frame_equal(small.daily, whole.daily)
    assert [d for d, _ in calls] == [*range(5, len(grid), 5), len(grid)]
    assert {t for _, t in calls} == {len(grid)}


def test_daily_returns_sample_the_last_bar_of_each_utc_day() -> None:
    frame = fat_tailed_walk(200, 9, minutes=60)  # starts 17:00 UTC: a short first day
    grid = Grid({"bb_period": [4], "bb_std": [1.0], "fill": ["close"]})
    out = sweep.run_with_daily(frame, grid, "cpu")
    equity = backtest(frame, grid[0]).equity
    last = equity.groupby(equity.index.normalize()).last()
    want = last / np.concatenate([[10_000.0], last.to_numpy()[:-1]]) - 1.0
    np.testing.assert_allclose(out.daily[0].to_numpy(), want.to_numpy(), rtol=1e-12)
    assert out.daily.index.equals(pd.DatetimeIndex(last.index, name="day"))


def test_layout_memory_is_per_window_not_per_combination() -> None:
    frame = fat_tailed_walk(500, 1, minutes=1)
    layout = build(frame)  # the 1 760-combination reference grid
    assert layout.middle.shape == layout.sigma.shape == (5, 500)
    assert layout.atr.shape == (11, 500)
    assert layout.scalars.shape == (1760, len(SCALAR_COLUMNS))
    assert layout.bb_row.shape == layout.atr_row.shape == (1760,)
    assert layout.bars_per_year == 525_600 and layout.elapsed_minutes == 500
    assert layout.day_end.tolist() == [419, 499]


def test_open_time_column_and_explicit_bar_size_are_accepted() -> None:
    frame = fat_tailed_walk(80, 2)
    grid = Grid({"bb_period": [5]})
    by_index = sweep.run(frame, grid, "cpu")
    by_column = sweep.run(frame.reset_index(names="open_time"), grid, "cpu", bar_minutes=30)
    pd.testing.assert_frame_equal(by_index, by_column)


@pytest.mark.parametrize("warmup", [-1, 80, 1.5, True])
def test_bad_warm_up_is_rejected(warmup) -> None:
    with pytest.raises(ValueError, match="warmup_bars"):
        build(fat_tailed_walk(80, 2), Grid({"bb_period": [5]}), warmup_bars=warmup)


@pytest.mark.parametrize("price", [np.nan, np.inf, 0.0, -1.0])
def test_bad_prices_are_rejected(price) -> None:
    frame = fat_tailed_walk(50, 2)
    frame.iloc[10, 3] = price
    with pytest.raises(ValueError, match="close"):
        build(frame, Grid({"bb_period": [5]}))


def test_a_precomputed_indicator_cache_gives_the_same_sweep_as_warming_up_here():
    bars = resample(synthetic("ETHUSDT", "2024-01-01", "2024-03-01"), "1h")
    january = int((bars["open_time"] < pd.Timestamp("2024-02-01", tz="UTC")).sum())
    grid = Grid({"bb_period": [10, 20], "bb_std": [1.5, 2.0], "atr_period": [14], "atr_method": ["sma"]})
    cache = month_indicators(bars.iloc[january:].reset_index(drop=True), bars.iloc[:january], {},
                             grid.bb_periods(), grid.atr_windows()).frame
    warmed = run_with_daily(bars, grid, "cpu", warmup_bars=january)
    cached = run_with_daily(bars.iloc[january:].reset_index(drop=True), grid, "cpu", indicators=cache)
    pd.testing.assert_frame_equal(cached.results, warmed.results)
    with pytest.raises(ValueError, match="bb_mid_30"):
        run_with_daily(bars.iloc[january:].reset_index(drop=True), Grid({"bb_period": [30]}), "cpu",
                       indicators=cache)


def assert_bitwise(results: pd.DataFrame, frame: pd.DataFrame, grid: Grid) -> None:
    """Every metric of every combination equal to the reference engine's, to the bit."""
    for i, params in enumerate(grid):
        want = reference(frame, params)
        np.testing.assert_array_equal([float(results.iloc[i][k]) for k in metrics.OUTPUT_KEYS],
                                      [want[k] for k in metrics.OUTPUT_KEYS], err_msg=str(params))


def test_flat_stretches_take_a_fast_path_that_changes_no_bit() -> None:
    # 1m bars over ~3 days: long flat stretches between many trades, some across day ends; the
    # kernel's flat-stretch path (kernel_nb.combo_fast_nb) must leave every metric bit unchanged.
    frame = fat_tailed_walk(4000, 21, minutes=1)
    grid = Grid({"bb_period": [5, 20], "bb_std": [1.0, 1.8], "allow_short": [True, False],
                 "fill": ["next_open", "close"]}, Params(max_hold_bars=30))
    out = sweep.run_with_daily(frame, grid, "cpu")
    assert out.results["n_trades"].min() > 0 and out.results["exposure"].max() < 0.8
    assert_bitwise(out.results, frame, grid)
    for i, params in enumerate(grid):
        equity = backtest(frame, params).equity
        last = equity.groupby(equity.index.normalize()).last().to_numpy()
        want = last / np.concatenate([[10_000.0], last[:-1]]) - 1.0
        np.testing.assert_array_equal(out.daily[i].to_numpy(), want)


def test_ruin_leaves_the_return_statistics_undefined_as_the_engine_does() -> None:
    params = Params(bb_period=5, bb_std=0.5, leverage=5.0, risk_per_trade=0.5, allow_short=False,
                    trailing=False, take_profit="none", atr_mult=0.5)
    frame = fat_tailed_walk(600, 4, minutes=1)
    longs = np.flatnonzero(backtest(frame, params).position.to_numpy() > 0)
    crashed = frame.copy()
    crashed.iloc[longs[3] + 1:] *= 0.5  # a 50 % gap down while 5× long: equity < 0, then flat
    assert (backtest(crashed, params).equity <= 0).sum() > 100
    grid = Grid({"bb_period": [5], "bb_std": [0.5, 1.0]}, params)
    results = sweep.run(crashed, grid, "cpu")
    assert results["volatility"].isna().all() and (results["final_equity"] < 0).all()
    assert_bitwise(results, crashed, grid)


def test_sweep_bench_measures_the_grid_it_is_given_and_its_gpu_grid_is_over_100_000() -> None:
    from threadx_bench import sweep as bench
    from threadx_core.sweep.devices import CPU

    assert len(Grid(bench.LARGE_GRID)) >= 100_000
    figures = bench.case("2024-01-01", "2024-01-03", CPU, {"bb_period": [10, 20]})
    assert figures["combinations"] == 2 and figures["bars"] == 2 * 1440 and figures["days"] == 2
    assert figures["bar_combos_per_s"] > 0
