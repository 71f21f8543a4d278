"""``threadx bench pipeline``: one command runs the core work and a native backfill side by side in
fresh homes, reports each case's figures and checks both left the same warehouse (never timing)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.pipeline.kit import threadx
from threadx_bench import services
from threadx_core import storage


def _report(stdout: str) -> dict:
    """The JSON document the command prints last (run logs of the backfill come before it)."""
    return json.loads(stdout[stdout.index("\n{\n") + 1:stdout.rindex("\n}") + 2])


@pytest.mark.slow
def test_bench_pipeline_times_core_and_a_driven_backfill_and_finds_their_warehouses_equal(tmp_path):
    done = threadx("bench", "pipeline", "--symbols", "1", "--months", "1", "--cases", "core,in_process",
                   home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in ("warm-up (Numba kernels", "core: threadx_core alone", "in_process: native backfill",
                 "warehouses: {'equal': True"):
        assert line in done.stdout, line
    report = _report(done.stdout)
    assert report["bench"] == "pipeline" and report["ok"] is True
    assert report["symbols"] == ["BTCUSDT"] and report["months"] == ["2024-01", "2024-01"]
    assert set(report["cases"]) == {"core", "in_process"}
    core, backfill = report["cases"]["core"], report["cases"]["in_process"]
    assert core["runs"] == 0 and core["x_core"] == 1.0 and core["write_seconds"] >= 0
    # the month graph but best_by_run in one run (no asset of it depends on another month in
    # Dagster's eyes); then best_by_run (a backfill policy of its own) beside the per-symbol reports
    assert backfill["runs"] == 3 and backfill["success"] and backfill["status"] == "completed_success"
    assert backfill["x_core"] == pytest.approx(backfill["seconds"] / core["seconds"], rel=0.01)
    assert report["warehouses"] == {"equal": True, "reference": "core", "compared": ["in_process"],
                                    "files": report["warehouses"]["files"]}
    # raw_1m and its gap list, 8 ohlcv, 2 × (indicators, sweep), best_by_run, report, trades, the
    # walk-forward and full-period frames, and best_by_run's exported trades
    assert report["warehouses"]["files"] == 20
    assert {"cpu", "cores", "memory", "python", "os"} <= set(report["machine"])
    assert not (tmp_path / "home").exists(), "the bench wrote to the user's DAGSTER_HOME"


def test_bench_pipeline_refuses_unknown_cases_and_its_options_elsewhere(tmp_path):
    unknown = threadx("bench", "pipeline", "--cases", "core,gpu", home=tmp_path, cwd=tmp_path)
    assert unknown.returncode == 2 and "['gpu']" in unknown.stderr
    elsewhere = threadx("bench", "backtest", "--months", "2", home=tmp_path, cwd=tmp_path)
    assert elsewhere.returncode == 2 and "--months" in elsewhere.stderr


def test_a_warehouse_comparison_names_the_partition_that_differs(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    for side, value in (("a", 2.0), ("b", 2.5)):
        storage.write_partition(frame.assign(x=[1.0, value]),
                                storage.partition_path(tmp_path / side, "sweep_1h", "BTCUSDT", "2024-01"))
    with pytest.raises(services.WarehouseMismatch, match=r"sweep_1h/symbol=BTCUSDT/month=2024-01\.parquet"):
        services.assert_same_warehouse(tmp_path / "a", tmp_path / "b")
    assert services.assert_same_warehouse(tmp_path / "a", tmp_path / "a") == 1
