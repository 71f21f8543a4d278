"""Native backfills through a real instance: the UI's launch targets exactly what it asks for
whatever the hash seed; ``threadx backfill`` records a backfill, drives it to the end without a
daemon and leaves the warehouse that per-partition runs leave; a second run reuses every sweep."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.pipeline.kit import run, threadx, write_project
from threadx_core import storage
from threadx_pipeline.partitions import register_symbols
from threadx_pipeline.runs import BACKFILL_TAG

SYMBOLS, MONTHS = ["BTCUSDT", "ETHUSDT"], ["2024-01", "2024-02"]
NOW = "2024-03-15T00:00:00Z"


def small_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_project(folder, symbols=tuple(SYMBOLS), derive=("1h",))


@pytest.mark.parametrize("seed", ["0", "1", "4"])
def test_the_ui_launch_is_accepted_and_targets_exactly_the_requested_partitions(tmp_path, seed):
    project = small_project(tmp_path)
    months = [*MONTHS, "2024-03"]
    env = {**os.environ, "THREADX_CONFIG": str(project), "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("ui_backfill.py")), str(tmp_path),
                           ",".join(SYMBOLS), ",".join(months)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["answer"]["__typename"] == "LaunchBackfillSuccess", answer["answer"]
    requested = sorted(f"{m}|{s}" for s in SYMBOLS for m in months)
    assert set(answer["target"]) == {"raw_1m", "ohlcv_1h", "indicators_1h", "sweep_1h", "best_by_run",
                                     "backtest_report", "backtest_trades"}
    assert all(keys == requested for keys in answer["target"].values()), answer["target"]


def stored(root: Path) -> dict[str, pd.DataFrame]:
    return {str(p.relative_to(root)): storage.read_partition(p) for p in sorted(root.rglob("*.parquet"))}


def test_cli_backfill_is_recorded_driven_to_the_end_equals_per_partition_runs_and_reuses_sweeps(tmp_path):
    project, home = small_project(tmp_path / "native"), tmp_path / "home"
    home.mkdir()
    args = ("--config", str(project), "backfill", "--from", MONTHS[0], "--to", MONTHS[-1])
    first = threadx(*args, home=home, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "no dagster-daemon running: driving the backfill from this process" in first.stdout
    assert "asset partitions, 0 failed]" in first.stdout and "completed_success" in first.stdout
    # months run as concurrent runs (2 × 2 groups by month): a February run may compute and store
    # January first, which January's own run then reuses — at most one month per symbol
    reused = re.search(r"(\d) of 4 sweep partition\(s\) reused", first.stdout)
    assert reused and int(reused.group(1)) <= 2, first.stdout[-2000:]
    # it ends with the result table: two months are no walk-forward (in_sample_months = 3), so
    # each symbol's selection is its full-period best, cautioned
    table = first.stdout[first.stdout.index("Result ("):]
    for symbol in SYMBOLS:
        assert re.search(rf"^{symbol}\s+1h\s+bb\S+ atr\S+\s+full period 2024-01\.\.2024-02\s.*"
                         r"only 0 OOS month\(s\) \(< 3\)", table, re.M), table
        assert f"{symbol}: {tmp_path / 'native' / 'wh' / 'reports' / symbol}" in table
    second = threadx(*args, home=home, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "4 of 4 sweep partition(s) reused" in second.stdout

    with dg.DagsterInstance.from_config(str(home)) as instance:
        backfills = instance.get_backfills()
        assert len(backfills) == 2 and all(b.tags.get(BACKFILL_TAG) == b.backfill_id for b in backfills)
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfills[-1].backfill_id}))
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)

    # the same partitions, one in-process run each, months in calendar order
    reference = small_project(tmp_path / "reference")
    with dg.instance_for_test() as instance:
        register_symbols(instance, SYMBOLS)
        for month in MONTHS:
            for symbol in SYMBOLS:
                assert run(reference, instance, symbol, month, now=NOW).success
    native, expected = stored(tmp_path / "native" / "wh"), stored(tmp_path / "reference" / "wh")
    monthly = {name for name in expected if "month=" in name}
    assert monthly and monthly <= set(native)
    for name in sorted(monthly):
        pd.testing.assert_frame_equal(native[name], expected[name], obj=name)
        assert native[name].attrs == expected[name].attrs, name
