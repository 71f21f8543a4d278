"""The month's selection re-run by the reference engine (reconciled with its sweep row, exported),
and the walk-forward's latest-selection equity computed from the stored daily returns."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from tests.core.research.kit import monthly
from threadx_core.data import resample, synthetic
from threadx_core.indicators.cache import month_indicators
from threadx_core.research import chain, selection
from threadx_core.research.best_by_run import best_by_run, selection_run
from threadx_core.research.featured import row_params
from threadx_core.research.walk_forward import decide, selection_curves, walk_forward
from threadx_core.sweep import Grid, run_with_daily, stored

GRID = Grid({"bb_period": [10, 20], "atr_mult": [1.5, 2.5], "leverage": [3.0]})


@pytest.fixture(scope="module")
def swept() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """February 2024 of synthetic 1h bars, its indicator cache warmed up on January, and its
    sweep partition over ``GRID`` (with a run id column, as ``best_by_run`` ranks it)."""
    hourly = resample(synthetic("ETHUSDT", "2024-01-01", "2024-03-01", seed=3), "1h")
    january, february = (hourly[hourly.open_time.dt.month == m].reset_index(drop=True) for m in (1, 2))
    cache = month_indicators(february, january, {}, [10, 20], [(14, "wilder")]).frame
    output = run_with_daily(february, GRID, "cpu", indicators=cache)
    return february, cache, stored.to_frame(output, "1h", "r1").assign(run_id="r1")


def test_each_sweep_row_is_reproduced_and_its_trades_add_up_to_its_final_equity(swept):
    bars, cache, rows = swept
    for _, row in rows.iterrows():
        run = selection_run(row, bars, cache, objective="sharpe", title="ETHUSDT 2024-02")
        assert len(run.trades) == row["n_trades"] and run.result.params == row_params(row)
        assert run.trades["pnl"].sum() == pytest.approx(row["final_equity"] - row["initial_capital"],
                                                        rel=1e-9, abs=1e-6)
        assert run.selection["parameters"]["bb_period"] == row["bb_period"]
        assert run.selection["run_id"] == "r1" and run.selection["objective"] == "sharpe"
        assert run.png.startswith(b"\x89PNG")
    assert rows["n_trades"].gt(0).all()


def test_the_exports_hold_the_same_trades_and_valid_json(swept):
    bars, cache, rows = swept
    run = selection_run(rows.iloc[0], bars, cache, objective="profit_factor", title="ETHUSDT 2024-02")
    files = run.files()
    assert set(files) == {"trades.csv", "trades.parquet", "selection.json"}
    from_parquet = pd.read_parquet(io.BytesIO(files["trades.parquet"]))
    from_csv = pd.read_csv(io.BytesIO(files["trades.csv"]), parse_dates=["entry_time", "exit_time"])
    pd.testing.assert_frame_equal(from_parquet, run.trades)
    pd.testing.assert_frame_equal(from_csv, run.trades, check_dtype=False)
    document = json.loads(files["selection.json"])  # strict: no NaN/Infinity tokens
    assert document["metrics"]["final_equity"] == rows["final_equity"].iloc[0]
    assert document["timeframe"] == "1h" and document["run"].startswith("1h bb10×")


@pytest.mark.parametrize(("column", "change"), [("final_equity", lambda v: v * (1 + 1e-7)),
                                                ("n_trades", lambda v: v + 1)])
def test_a_row_the_engine_does_not_reproduce_is_an_error_naming_it(swept, column, change):
    bars, cache, rows = swept
    tampered = rows.iloc[3].copy()
    tampered[column] = change(tampered[column])
    with pytest.raises(ValueError, match=r"ETHUSDT 2024-02 1h: .*'bb_period': 20.*'atr_mult': 2\.5"):
        selection_run(tampered, bars, cache, objective="sharpe", title="ETHUSDT 2024-02")


def test_best_by_run_ranks_the_month_reruns_rank_one_and_names_every_export(swept):
    bars, cache, rows = swept
    best = best_by_run({"1h": rows}, {"1h": bars}, {"1h": cache}, objective="sharpe", min_trades=1, top_k=3,
                       title="ETHUSDT 2024-02")
    top, _ = selection.best(rows.drop(columns="daily_returns"), "sharpe", min_trades=1, top_k=3)
    pd.testing.assert_frame_equal(best.top.drop(columns="run_id"), top.drop(columns="run_id"))
    assert best.top["run_id"].nunique() == 1 and best.run_id == best.top["run_id"].iloc[0] != "r1"
    assert (best.candidates, best.eligible) == (len(rows), len(rows))
    assert best.selection.selection["parameters"]["bb_period"] == top["bb_period"].iloc[0]
    assert set(best.charts) == {"pareto_chart", "heatmap", "distribution", "selection_equity",
                                 "selection_price"}
    assert set(best.files()) == {"best_by_run.csv", "best_by_run_trades.csv", "best_by_run_trades.parquet",
                                 "best_by_run_selection.json", *(f"best_by_run_{c}.png" for c in best.charts)}

    none = best_by_run({"1h": rows}, {"1h": bars}, {"1h": cache}, objective="sharpe", min_trades=10**6,
                       top_k=3, title="ETHUSDT 2024-02")
    assert none.selection is None and none.top.empty and none.eligible == 0
    assert set(none.files()) == {"best_by_run.csv", "best_by_run_pareto_chart.png"}


def test_selection_curves_compound_the_chosen_combinations_stored_daily_returns():
    frames = monthly()
    aligned = chain.align(frames)
    step = walk_forward(frames, 2, "total_return").steps.iloc[-1]  # Feb+Mar chose combination 1
    curves = selection_curves(aligned, step)
    assert list(curves) == ["in sample 2024-02…2024-03", "out of sample 2024-04"]
    in_sample, out_of_sample = curves.values()
    daily = np.concatenate([frames[m]["daily_returns"][1] for m in ("2024-02", "2024-03")])
    np.testing.assert_allclose(in_sample.to_numpy(), 10_000.0 * np.cumprod(np.r_[1.0, 1.0 + daily]),
                               rtol=1e-12)
    assert in_sample.iloc[-1] == pytest.approx(10_000.0 * 1.015 * 1.02)
    assert in_sample.index[0] == pd.Timestamp("2024-02-01", tz="UTC")
    assert in_sample.index[-1] == pd.Timestamp("2024-03-07", tz="UTC")  # end of the last stored day
    assert out_of_sample.iloc[0] == in_sample.iloc[-1]
    assert out_of_sample.iloc[-1] == pytest.approx(in_sample.iloc[-1] * 0.999)
    assert selection_curves(aligned, {**step.to_dict(), "combo": -1}) == {}


def test_decide_charts_the_latest_selection_or_notes_a_cash_step():
    arguments = {"in_sample_months": 1, "objective": "total_return", "pbo_groups": 4, "seed": 0,
                 "title": "BTCUSDT 1h"}
    report = decide(monthly(), min_trades=1, **arguments)
    assert report.charts["selection_equity"].startswith(b"\x89PNG")
    cash = decide(monthly(), min_trades=2, **arguments)
    assert "selection_equity" not in cash.charts
    assert any("2024-04" in note and "cash" in note for note in cash.notes)
