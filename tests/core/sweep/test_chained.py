"""Sweep months as one continuous run (docs/ARCHITECTURE.md, Sweeps and devices, "Months are
partitions"): each month continues the previous month's end states, whatever order the months are
computed in, and chaining the stored months gives the continuous run's totals exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import times
from threadx_core.data import resample, synthetic
from threadx_core.indicators.cache import chained_month_indicators
from threadx_core.research import chain, provenance
from threadx_core.sweep import Grid, chained, stored
from threadx_core.sweep.run import run_with_daily

GRID = Grid({"bb_period": [10, 20], "bb_std": [1.5, 2.0], "atr_mult": [1.5, 3.0], "leverage": [3.0],
             "risk_per_trade": [0.02], "take_profit": ["mid", "none"]})
MONTHS = ["2024-01", "2024-02", "2024-03"]
BB, ATR = sorted({p.bb_period for p in GRID}), sorted({(p.atr_period, p.atr_method) for p in GRID})


class Warehouse:
    """Months of bars, caches and sweeps of one symbol and timeframe, as the pipeline stores them;
    counts the months each sweep call ran."""

    def __init__(self, bars: dict[str, pd.DataFrame]) -> None:
        self.bars, self.caches, self.sweeps, self.ran = dict(bars), {}, {}, []
        for month in sorted(bars):
            self.caches[month] = chained_month_indicators(month, self.bars.get, self.caches.get,
                                                          BB, ATR).frame

    def inputs(self, month: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        bars = self.bars.get(month)
        return None if bars is None else (bars, self.caches.get(month, pd.DataFrame()))

    def run_id(self, bars: pd.DataFrame, cache: pd.DataFrame, previous: str) -> str:
        versions = [provenance.frame_version(bars), provenance.frame_version(cache), f"continues:{previous}"]
        return provenance.run_id(GRID.digest(), versions, "test")

    def run_month(self, month: str, bars: pd.DataFrame, cache: pd.DataFrame, start: pd.DataFrame | None,
                  run_id: str, previous: str) -> pd.DataFrame:
        self.ran.append(month)
        output = run_with_daily(bars, GRID, "cpu", indicators=cache, start=start, close_at_end=False)
        return stored.to_frame(output, "1h", run_id, previous)

    def sweep(self, month: str) -> chained.MonthSweep:
        """The month's sweep; it and every month computed on the way are stored."""
        result = chained.chained_month_sweep(month, MONTHS[0], self.inputs, self.sweeps.get, self.run_id,
                                             self.run_month)
        self.sweeps.update(result.computed)
        self.sweeps[month] = result.frame
        return result


def hourly(seed: int = 3) -> dict[str, pd.DataFrame]:
    bars = resample(synthetic("ETHUSDT", "2024-01-01", "2024-04-01", seed=seed), "1h")
    def month(m: str) -> pd.DataFrame:
        start, end = times.month_bounds(m)
        return bars[(bars.open_time >= start) & (bars.open_time < end)].reset_index(drop=True)
    return {m: month(m) for m in MONTHS}


def continuous(warehouse: Warehouse) -> pd.DataFrame:
    """One sweep over every month's bars with the same caches, nothing closed at the end."""
    bars = pd.concat([warehouse.bars[m] for m in MONTHS], ignore_index=True)
    cache = pd.concat([warehouse.caches[m] for m in MONTHS], ignore_index=True)
    return run_with_daily(bars, GRID, "cpu", indicators=cache, close_at_end=False)


@pytest.fixture(scope="module")
def in_order() -> Warehouse:
    warehouse = Warehouse(hourly())
    for month in MONTHS:
        warehouse.sweep(month)
    return warehouse


TOTALS = ["n_trades", "final_equity", "fees_paid", "win_rate", "profit_factor", "expectancy",
          "largest_win", "largest_loss", "avg_win", "avg_loss", "total_return", "exposure"]


def test_chained_months_are_the_continuous_run(in_order: Warehouse) -> None:
    whole = continuous(in_order)
    out = chain.aggregate(in_order.sweeps)
    assert (whole.results["n_trades"] > 5).all()
    # a position open at a month end is carried, not closed: such a trade is counted once
    assert any((in_order.sweeps[m][stored.CARRY_PREFIX + "side"] != 0).any() for m in MONTHS[:-1])
    np.testing.assert_array_equal(out["n_trades"], whole.results["n_trades"])
    np.testing.assert_allclose(out[TOTALS].to_numpy(float), whole.results[TOTALS].to_numpy(float),
                               rtol=1e-9, atol=1e-12, equal_nan=True)
    for month in MONTHS:  # a month's total return is the account's growth over it
        frame = in_order.sweeps[month]
        growth = [np.prod(1.0 + np.asarray(r)) - 1.0 for r in frame["daily_returns"]]
        np.testing.assert_allclose(frame["total_return"], growth, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(stored.end_state(in_order.sweeps[MONTHS[-1]]).drop(
        columns=[c for c in whole.end_state.columns if c.startswith(("eq_", "tr_")) or c == "minutes"]),
        whole.end_state.drop(columns=[c for c in whole.end_state.columns
                                      if c.startswith(("eq_", "tr_")) or c == "minutes"]), rtol=1e-9, atol=0)


def test_a_month_computed_first_is_the_in_order_month_and_stores_those_before(in_order: Warehouse) -> None:
    late = Warehouse(hourly())
    result = late.sweep("2024-03")
    assert list(result.computed) == ["2024-01", "2024-02"] and result.previous == "2024-02"
    pd.testing.assert_frame_equal(result.frame, in_order.sweeps["2024-03"])
    assert result.frame.attrs == in_order.sweeps["2024-03"].attrs
    # their own runs then reuse them: nothing runs again
    late.ran.clear()
    again = late.sweep("2024-02")
    assert again.reused and late.ran == []


def test_a_previous_month_made_from_other_bars_is_computed_again(in_order: Warehouse) -> None:
    warehouse = Warehouse(hourly())
    warehouse.sweep("2024-01")
    warehouse.sweep("2024-02")
    changed = warehouse.bars["2024-02"].copy()
    changed.loc[10, ["high", "close"]] *= 1.01  # re-ingested bars: the stored sweep is stale
    warehouse.bars["2024-02"] = changed
    warehouse.caches["2024-02"] = chained_month_indicators("2024-02", warehouse.bars.get,
                                                           warehouse.caches.get, BB, ATR).frame
    warehouse.ran.clear()
    result = warehouse.sweep("2024-03")
    assert warehouse.ran == ["2024-02", "2024-03"] and list(result.computed) == ["2024-02"]
    assert result.frame.attrs["run_id"] != in_order.sweeps["2024-03"].attrs["run_id"]


def test_a_hole_starts_a_new_chain_flat() -> None:
    bars = hourly()
    del bars["2024-02"]
    warehouse = Warehouse(bars)
    first = warehouse.sweep("2024-01")
    result = warehouse.sweep("2024-03")
    assert first.chain_start == "first" and first.previous is None
    assert result.previous is None and result.chain_start == "no bars stored for 2024-02"
    assert result.frame.attrs["previous_run_id"] == ""
    fresh = run_with_daily(bars["2024-03"], GRID, "cpu", indicators=warehouse.caches["2024-03"],
                           close_at_end=False)
    np.testing.assert_allclose(result.frame["final_equity"], fresh.results["final_equity"], rtol=1e-12)
    with pytest.raises(chain.MonthSetError, match="2024-02 is missing"):
        chain.aggregate(warehouse.sweeps)


def test_months_that_do_not_continue_each_other_are_refused_as_one_account(in_order: Warehouse) -> None:
    isolated = Warehouse(hourly())
    isolated.sweep("2024-01")
    stray = dict(in_order.sweeps)
    stray["2024-01"] = isolated.sweeps["2024-01"].copy()
    stray["2024-01"].attrs = {**stray["2024-01"].attrs, "run_id": "other"}
    with pytest.raises(chain.MonthSetError, match="continue each other"):
        chain.aggregate(stray)


def test_the_selection_rerun_starts_from_the_state_the_sweep_started_it_from(in_order: Warehouse) -> None:
    march, february = in_order.sweeps["2024-03"], in_order.sweeps["2024-02"]
    row = march.iloc[int(np.argmax(march["n_trades"]))]
    start = chained.start_of(march, february, row)
    assert start is not None and start["side"] == february.loc[row.name, stored.CARRY_PREFIX + "side"]
    assert chained.start_of(in_order.sweeps["2024-01"], None, row) is None
    with pytest.raises(ValueError, match="not the one this month continued"):
        chained.start_of(march, in_order.sweeps["2024-01"], row)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000), st.permutations(MONTHS))
def test_any_order_of_computing_the_months_gives_the_continuous_run(seed: int, order: list[str]) -> None:
    warehouse = Warehouse(hourly(seed))
    for month in order:
        warehouse.sweep(month)
    assert sorted(warehouse.ran) == MONTHS  # each month ran once
    whole = continuous(warehouse)
    out = chain.aggregate(warehouse.sweeps)
    np.testing.assert_array_equal(out["n_trades"], whole.results["n_trades"])
    np.testing.assert_allclose(out[TOTALS].to_numpy(float), whole.results[TOTALS].to_numpy(float),
                               rtol=1e-9, atol=1e-12, equal_nan=True)


def test_a_span_closed_at_its_end_is_the_continuous_run_closed_there(in_order: Warehouse) -> None:
    bars = pd.concat([in_order.bars[m] for m in MONTHS], ignore_index=True)
    cache = pd.concat([in_order.caches[m] for m in MONTHS], ignore_index=True)
    whole = run_with_daily(bars, GRID, "cpu", indicators=cache, close_at_end=True)
    marked = chain.aggregate(in_order.sweeps)
    out = chain.aggregate(in_order.sweeps, close_at_end=True)
    assert out["open_at_end"].any() and (out["open_at_end"] == marked["open_at_end"]).all()
    assert (out["n_trades"] == marked["n_trades"] + out["open_at_end"]).all()
    np.testing.assert_array_equal(out["n_trades"], whole.results["n_trades"])
    np.testing.assert_allclose(out[TOTALS].to_numpy(float), whole.results[TOTALS].to_numpy(float),
                               rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(np.vstack(out["daily_returns"]).T, whole.daily.to_numpy(),
                               rtol=1e-9, atol=1e-12)
