"""Runs and backfills left behind by a dead process, marked failed so that their partitions can
run again.

Dagster's run monitoring (``run_monitoring`` in ``dagster.yaml``, a daemon) can tell a dead run
worker only through the run launcher's health check, which the default run launcher lacks, and
nothing at all runs without a daemon. So the ``threadx`` command looks itself before it submits a
backfill: a run ``STARTING``/``STARTED`` whose run worker (the pid Dagster records in the run's
engine events) no longer exists is marked ``FAILURE`` with a reason, its concurrency slots freed;
a backfill the command was driving (:data:`DRIVER_PID_TAG`) whose process no longer exists is
marked failed. It looks only where the pid means something: a SQLite instance (one machine) with
the default run launcher (run workers on that machine).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.runs import SqliteRunStorage
from dagster._time import get_current_timestamp

from threadx_core.processes import alive
from threadx_pipeline.runs import DRIVER_PID_TAG, covered

#: Statuses of a run whose worker process may have been started.
RUNNING = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def applies(instance: dg.DagsterInstance) -> bool:
    """Whether a pid recorded in ``instance`` names a process of this machine."""
    return isinstance(instance.run_storage, SqliteRunStorage) and isinstance(
        instance.run_launcher, DefaultRunLauncher)


def fail_dead(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs and backfills of ``instance`` whose process is gone (see the module);
    returns one line per run or backfill marked."""
    if not applies(instance):
        return []
    return [*_fail_dead_runs(instance), *_fail_abandoned_backfills(instance)]


def _fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    lines = []
    for run in instance.get_runs(RunsFilter(statuses=RUNNING)):
        pid = worker_pid(instance, run.run_id)
        if pid is None or alive(pid):
            continue  # not started yet (the launcher's start time-out is Dagster's), or running
        reason = (f"run worker (pid {pid}) is gone, killed or crashed while the run was "
                  f"{run.status.value}: marked failed by threadx so that its partitions can run again")
        instance.report_run_failed(run, message=reason)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        symbol, month = covered(run.tags)
        lines.append(f"run {run.run_id} ({symbol} {month}): {reason}")
    return lines


def _fail_abandoned_backfills(instance: dg.DagsterInstance) -> list[str]:
    lines = []
    for backfill in instance.get_backfills(filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED])):
        pid = backfill.tags.get(DRIVER_PID_TAG)
        if pid is None or alive(int(pid)):
            continue
        instance.update_backfill(backfill.with_status(BulkActionStatus.FAILED)
                                 .with_end_timestamp(get_current_timestamp()))
        lines.append(f"backfill {backfill.backfill_id}: the threadx process driving it (pid {pid}) is gone: "
                     f"marked failed")
    return lines


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of run ``run_id``'s worker: the last run-level (not step) engine event recording a
    pid ("Started process for run (pid: …)"); ``None`` before the worker recorded one."""
    pid = None
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event is not None and event.step_key is None else None
        if data is not None and "pid" in data.metadata:
            pid = int(data.metadata["pid"].value)
    return pid
