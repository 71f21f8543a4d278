"""Test kit of the scale-out tests: a real PostgreSQL server on loopback, a Dagster instance whose
run, event and schedule storage live in it, Celery workers, and the warehouse compared file by file
(those from ``threadx_bench.services``, which ``threadx bench pipeline`` starts too), and runs
launched as an operator would.

Everything here starts real processes and stops them: the fixtures in ``conftest.py`` own them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# the services themselves are shared with `threadx bench pipeline`: one home, threadx_bench.services
from threadx_bench.services import (
    ROOT,
    Postgres,
    Unavailable,
    assert_same_warehouse,
    celery_execution,
    celery_workers,
    environment,
    postgres_bin,
    postgres_server,
    stop,
    tail,
    write_dagster_home,
)

__all__ = ["ROOT", "Postgres", "Unavailable", "assert_same_warehouse", "celery_execution", "celery_workers",
           "environment", "launch", "postgres_bin", "postgres_server", "small_project", "step_successes",
           "step_workers", "stop", "wait", "write_dagster_home"]


def launch(env: dict[str, str], partition: str, *, log: Path) -> subprocess.Popen:
    """``dagster job execute`` of ``symbol_month_job`` for ``partition`` (``YYYY-MM|SYMBOL``), as an
    operator would start it: the run is created in the instance of ``DAGSTER_HOME`` and executed
    by the job's executor (``[execution]``)."""
    month, symbol = partition.split("|")
    tags = json.dumps({"dagster/partition": partition, "dagster/partition/month": month,
                       "dagster/partition/symbol": symbol})
    args = [sys.executable, "-m", "dagster", "job", "execute", "-m", "threadx_pipeline.definitions",
            "-a", "defs", "-j", "symbol_month_job", "--tags", tags]
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait(proc: subprocess.Popen, log: Path, timeout: float) -> None:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError(f"{proc.args[:6]} still running after {timeout} s:\n{tail(log)}") from None
    assert code == 0, f"exit {code}:\n{tail(log, 80)}"


#: A small sweep: 2 combinations (docs/SETTINGS.md, [grid]).
GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n"


def small_project(folder: Path, *, symbols=("BTCUSDT",), execution: str = "") -> Path:
    """A throwaway project (tests/pipeline/kit.py) with one derived and swept timeframe, 1h, the
    small grid and the ``[execution]`` block given; returns its ``threadx.toml``."""
    from tests.pipeline.kit import write_project

    folder.mkdir(parents=True, exist_ok=True)
    return write_project(folder, symbols=symbols, derive=("1h",), sweep=("1h",), extra=GRID + execution)


def step_workers(instance, run_id: str) -> dict[str, str]:
    """Step key → the Celery worker (``name@host``) that executed it, from the run's engine events
    ("Executing steps … in celery worker", metadata ``Celery worker``)."""
    found = {}
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.is_engine_event and event.step_key:
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                found[event.step_key] = worker.value
    return found


def step_successes(instance, run_id: str) -> set[str]:
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
    return {r.event_log_entry.dagster_event.step_key for r in records}
