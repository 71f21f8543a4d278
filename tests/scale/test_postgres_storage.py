"""Run, event and schedule storage in PostgreSQL: a run launched through the instance (``dagster
job execute``, the configured executor) leaves its run, its materialisations and
its schedule state in the server, where a second instance on the same DAGSTER_HOME finds them."""

from __future__ import annotations

import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorStatus
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from tests.scale import kit
from threadx_pipeline.partitions import register_symbols

pytestmark = pytest.mark.slow
PARTITION = "2024-01|BTCUSDT"
ASSETS = ["raw_1m", "ohlcv_1h", "indicators_1h", "sweep_1h", "best_by_run", "backtest_report",
          "backtest_trades"]


def test_a_launched_run_lives_in_postgres(tmp_path, postgres, dagster_home, instance):
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    project = kit.small_project(tmp_path / "project")
    env = kit.environment(project, dagster_home)
    register_symbols(instance, ["BTCUSDT"])

    started = time.perf_counter()
    log = tmp_path / "run.log"
    kit.wait(kit.launch(env, PARTITION, log=log), log, timeout=600)
    stopped = subprocess.run([sys.executable, "-m", "dagster", "schedule", "stop", "daily_top_up", "-m",
                              "threadx_pipeline.definitions", "-a", "defs"], env=env, cwd=kit.ROOT,
                             capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    print(f"run + schedule stop: {time.perf_counter() - started:.1f} s")

    with dg.DagsterInstance.from_config(str(dagster_home)) as second:   # another process's view
        (run,) = second.get_runs()
        assert run.job_name == "symbol_month_job" and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == PARTITION
        for asset in ASSETS:
            event = second.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None, asset
            assert (event.run_id, event.dagster_event.partition) == (run.run_id, PARTITION), asset
        assert second.has_dynamic_partition("symbols", "BTCUSDT")
        (state,) = [s for s in second.all_instigator_state() if s.name == "daily_top_up"]
        assert state.status == InstigatorStatus.STOPPED

    db = instance.run_storage.postgres_url.rsplit("/", 1)[-1]
    (runs,) = postgres.query(db, "select count(*) from runs where status = 'SUCCESS'")
    materialised = postgres.query(db, "select distinct asset_key from event_logs "
                                      "where dagster_event_type = 'ASSET_MATERIALIZATION'")
    (instigators,) = postgres.query(db, "select count(*) from instigators")
    assert runs == (1,) and instigators == (1,)
    assert {dg.AssetKey.from_db_string(k).to_user_string() for (k,) in materialised} == set(ASSETS)
    assert not list(dagster_home.rglob("*.db")), "a SQLite storage was written"  # (compute logs stay files)
