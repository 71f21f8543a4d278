"""The Celery executor, chosen in threadx.toml only: two partitions launched at once through the
instance run their steps on two ``dagster-celery`` workers (broker: kombu's SQLAlchemy transport
over the test's PostgreSQL) and leave the warehouse an in-process run leaves."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from tests.scale import kit
from threadx_pipeline.definitions import MONTH_JOB, build_definitions
from threadx_pipeline.partitions import key, register_symbols

pytestmark = pytest.mark.slow
SYMBOLS = ("BTCUSDT", "ETHUSDT")
MONTH = "2024-01"


def test_two_celery_workers_build_the_in_process_warehouse(tmp_path, postgres, database, dagster_home,
                                                            instance):
    execution = kit.celery_execution(postgres, database("broker"))
    project = kit.small_project(tmp_path / "celery", symbols=SYMBOLS, execution=execution)
    assert build_definitions(project).resolve_job_def(MONTH_JOB).executor_def.name == "celery"
    env = kit.environment(project, dagster_home)
    register_symbols(instance, list(SYMBOLS))

    started = time.perf_counter()
    with kit.celery_workers(env, ["worker-a", "worker-b"], tmp_path / "workers") as workers:
        ready = time.perf_counter()
        logs = [tmp_path / f"run-{s}.log" for s in SYMBOLS]
        runs = [kit.launch(env, f"{MONTH}|{s}", log=log) for s, log in zip(SYMBOLS, logs, strict=True)]
        try:
            for proc, log in zip(runs, logs, strict=True):
                kit.wait(proc, log, timeout=600)
        finally:
            for proc in runs:
                kit.stop(proc)
    ran = time.perf_counter() - ready
    print(f"workers ready {ready - started:.1f} s, two partitions on Celery {ran:.1f} s")

    launched = instance.get_runs()
    assert len(launched) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in launched)
    ran_on = set()
    for run in launched:
        by_step = kit.step_workers(instance, run.run_id)
        assert by_step.keys() == kit.step_successes(instance, run.run_id), "a step ran outside Celery"
        ran_on |= set(by_step.values())
    assert ran_on == set(workers), f"steps ran on {ran_on}, workers {workers}"

    reference = kit.small_project(tmp_path / "in_process", symbols=SYMBOLS)
    job = build_definitions(reference).resolve_job_def(MONTH_JOB)
    with dg.instance_for_test() as local:
        register_symbols(local, list(SYMBOLS))
        for symbol in SYMBOLS:
            assert job.execute_in_process(partition_key=key(symbol, MONTH), instance=local).success
    compared = kit.assert_same_warehouse(tmp_path / "celery" / "wh", tmp_path / "in_process" / "wh")
    # per symbol: raw_1m and its gap list, ohlcv, indicators, sweep, best_by_run, the featured
    # report and trades, best_by_run's exported trades
    assert compared == 2 * 9
