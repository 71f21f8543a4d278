"""The CPU sweep carrying each combination's state across windows (docs/ARCHITECTURE.md, Sweeps and
devices): chained windows give the continuous sweep's metrics, and at every boundary the state
the reference engine carries."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.engine.kit import chained, markets, precomputed, trading_params, windows
from threadx_core import metrics
from threadx_core.engine import Params, backtest, carry
from threadx_core.sweep import Grid
from threadx_core.sweep.run import run_with_daily
from threadx_core.testing.candles import fat_tailed_walk

SETTINGS = settings(max_examples=10, deadline=None)
axes = st.fixed_dictionaries({
    "bb_period": st.lists(st.integers(3, 20), min_size=1, max_size=2, unique=True),
    "bb_std": st.lists(st.floats(0.5, 2.0), min_size=1, max_size=2, unique=True),
    "fill": st.sampled_from([["next_open"], ["close"], ["next_open", "close"]]),
})


def chained_sweep(frame: pd.DataFrame, grid: Grid, parts: list[tuple[int, int]]) -> list:
    """The sweeps of ``parts`` (indicators warmed up on every earlier bar), each from the
    previous one's end states, the last one ending the evaluated window."""
    outputs, state = [], None
    for a, b in parts:
        out = run_with_daily(frame.iloc[:b], grid, "cpu", bar_minutes=30, warmup_bars=a,
                             start=state, close_at_end=b == len(frame), chunk=3)
        outputs.append(out)
        state = out.end_state
    return outputs


@SETTINGS
@given(markets, trading_params, axes)
def test_chained_sweeps_are_the_continuous_sweep_and_carry_the_engine_state(market, base,
                                                                            mapping) -> None:
    n, seed, cuts = market
    frame, grid = fat_tailed_walk(n, seed), Grid(mapping, base)
    parts = windows(n, cuts)
    whole = run_with_daily(frame, grid, "cpu", bar_minutes=30)
    outputs = chained_sweep(frame, grid, parts)

    keys = list(metrics.OUTPUT_KEYS)
    last = outputs[-1].results
    np.testing.assert_array_equal(last["n_trades"], whole.results["n_trades"])
    np.testing.assert_allclose(last[keys].to_numpy(float), whole.results[keys].to_numpy(float),
                               rtol=1e-9, atol=0, equal_nan=True)
    pd.testing.assert_frame_equal(outputs[-1].end_state, whole.end_state, rtol=1e-9, atol=0)
    # A day cut by a window boundary has one return per window: compounded, the day's return.
    daily = pd.concat([o.daily for o in outputs])
    by_day = (1.0 + daily).groupby(level=0).prod() - 1.0
    np.testing.assert_allclose(by_day.to_numpy(), whole.daily.to_numpy(), rtol=1e-9, atol=1e-12)

    for i, params in enumerate(grid):
        engine = chained(frame, params, parts)
        for out, result in zip(outputs, engine, strict=True):
            pd.testing.assert_series_equal(out.end_state.iloc[i], result.end_state,
                                           check_names=False, rtol=1e-9, atol=0)


def test_without_a_carried_state_each_window_is_its_own_backtest() -> None:
    frame = fat_tailed_walk(1200, 5)
    grid = Grid({"bb_period": [5]}, Params(bb_std=0.8, take_profit="none", trailing=False))
    first, second = chained_sweep(frame, grid, [(0, 600), (600, 1200)])
    alone = run_with_daily(frame, grid, "cpu", bar_minutes=30, warmup_bars=600)
    assert first.end_state["side"].iloc[0] != 0  # a position crosses the boundary
    assert alone.end_state["tr_n"].iloc[0] < second.end_state["tr_n"].iloc[0]
    assert alone.results["final_equity"].iloc[0] != second.results["final_equity"].iloc[0]


def test_fresh_accumulators_give_the_window_metrics_of_a_carried_position() -> None:
    frame = fat_tailed_walk(1200, 5)
    grid = Grid({"bb_period": [5, 9], "fill": ["next_open", "close"]},
                Params(bb_std=0.8, take_profit="none", trailing=False))
    first = run_with_daily(frame.iloc[:600], grid, "cpu", bar_minutes=30, close_at_end=False)
    assert (first.end_state["side"] != 0).any()
    metric_state = [c for c in carry.COLUMNS if c.startswith(("eq_", "tr_"))] + ["minutes"]
    start = first.end_state.copy()
    start[metric_state] = carry.to_frame(carry.fresh(np.full(len(grid), 10_000.0)))[metric_state]
    second = run_with_daily(frame, grid, "cpu", bar_minutes=30, warmup_bars=600, start=start)
    keys = list(metrics.OUTPUT_KEYS)
    for i, params in enumerate(grid):
        arrays = precomputed(frame, params)
        engine = backtest(frame.iloc[600:], params, bar_minutes=30, start=start.iloc[i],
                          precomputed=tuple(a[600:] for a in arrays))
        np.testing.assert_allclose(second.results[keys].iloc[i].to_numpy(float),
                                   [float(engine.metrics[k]) for k in keys], rtol=1e-9, atol=0,
                                   equal_nan=True, err_msg=str(params))
