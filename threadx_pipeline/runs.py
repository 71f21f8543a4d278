"""Backfills of symbol × month partitions, submitted through the Dagster instance and followed.

``threadx demo`` and ``threadx backfill`` submit one asset backfill whose target is exactly the
partitions asked for (every symbol × month asset of every requested symbol-month, and the
per-symbol reports of the requested symbols), recorded in the instance like a backfill launched
from the UI (its Backfills page lists it) and run by the same machinery: runs grouped by the
assets' single-run backfill policy (months in any order: indicator caches do not depend on it),
the per-symbol reports after the months they read (docs/ARCHITECTURE.md, Asset graph). The backfill daemon
runs it when one is alive; otherwise this process drives the daemon's backfill iteration itself,
dequeuing its runs as the run-queue daemon would (so ``max_concurrent_runs`` still holds).
``threadx aggregate`` materialises ``full_period`` over a chosen range in process
(:func:`full_period`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.utils import make_new_backfill_id
from dagster._time import get_current_timestamp

from threadx_pipeline.partitions import SYMBOLS, key, register_symbols, split
from threadx_pipeline.research.full_period import ASSET as FULL_PERIOD

BACKFILL_TAG = "threadx/backfill"
#: Tag of a backfill the ``threadx`` command drives itself: the pid of that process
#: (``monitor`` marks the backfill failed once that process is gone).
DRIVER_PID_TAG = "threadx/driver_pid"
INFO_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
#: Backfill statuses after which nothing more happens.
FINISHED = {BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED,
            BulkActionStatus.CANCELED, BulkActionStatus.COMPLETED}
#: Run statuses of a run that has not ended.
IN_PROGRESS = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING}
#: Seconds between two looks at the backfill (and, when driving it, between two iterations).
POLL_S = 1.0


@dataclass(frozen=True)
class PartitionRun:
    """Outcome of one run: what it covered (symbol, month or month range), its run id, status and
    first error."""

    symbol: str
    month: str
    run_id: str
    success: bool
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class BackfillOutcome:
    """How a backfill ended: its id and status, its runs, and how many sweep partitions it reused."""

    backfill_id: str
    status: BulkActionStatus
    runs: list[PartitionRun]
    reused_sweeps: int
    swept: int

    @property
    def success(self) -> bool:
        return self.status == BulkActionStatus.COMPLETED_SUCCESS and all(r.success for r in self.runs)


def target(defs: dg.Definitions, instance: dg.DagsterInstance, symbols: list[str],
           month_labels: list[str], unpartitioned: tuple[str, ...] = ()) -> AssetGraphSubset:
    """Exactly ``symbols`` × ``month_labels`` of every symbol × month asset of ``defs``, ``symbols``
    of every per-symbol asset, and the ``unpartitioned`` assets named (the backfill runs them
    after the reports they depend on)."""
    graph = defs.resolve_asset_graph()
    month_keys = [str(key(s, m)) for s in symbols for m in month_labels]
    subsets = {}
    with partition_loading_context(dynamic_partitions_store=instance):
        for asset_key in graph.materializable_asset_keys:
            partitions_def = graph.get(asset_key).partitions_def
            if isinstance(partitions_def, dg.MultiPartitionsDefinition):
                subsets[asset_key] = partitions_def.subset_with_partition_keys(month_keys)
            elif partitions_def == SYMBOLS:
                subsets[asset_key] = partitions_def.subset_with_partition_keys(symbols)
    return AssetGraphSubset(partitions_subsets_by_asset_key=subsets,
                            non_partitioned_asset_keys={dg.AssetKey(name) for name in unpartitioned})


def submit(defs: dg.Definitions, instance: dg.DagsterInstance, symbols: list[str], month_labels: list[str],
           *, force: bool = False, title: str, driver_pid: int | None = None,
           unpartitioned: tuple[str, ...] = ()) -> str:
    """Register ``symbols`` as partitions and record a backfill of exactly :func:`target` in
    ``instance`` (``force`` re-fetches finished, complete months; ``driver_pid``: the process that
    will drive it, recorded as :data:`DRIVER_PID_TAG`; ``unpartitioned``: as :func:`target`);
    returns its id."""
    register_symbols(instance, symbols)
    backfill_id = make_new_backfill_id()
    tags = {BACKFILL_TAG: backfill_id, **({DRIVER_PID_TAG: str(driver_pid)} if driver_pid else {})}
    run_config = {"ops": {"raw_1m": {"config": {"force": True}}}, **INFO_LOGS} if force else INFO_LOGS
    with partition_loading_context(dynamic_partitions_store=instance):
        backfill = PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id, backfill_timestamp=get_current_timestamp(),
            tags=tags, dynamic_partitions_store=instance,
            asset_graph_subset=target(defs, instance, symbols, month_labels, unpartitioned), title=title,
            description=f"threadx: {', '.join(symbols)} × {month_labels[0]}..{month_labels[-1]}",
            run_config=run_config)
    instance.add_backfill(backfill)
    return backfill_id


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """Whether a healthy ``dagster-daemon`` runs backfills for this instance."""
    return bool(instance.get_daemon_statuses(["BACKFILL"])["BACKFILL"].healthy)


@contextmanager
def workspace(instance: dg.DagsterInstance, project: Path) -> Iterator[object]:
    """The code location ``threadx`` (``threadx_pipeline.definitions``) served to ``instance``, as
    the daemon sees it; its code server launches the runs while the context is open."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget

    location = ModuleTarget(module_name="threadx_pipeline.definitions", attribute="defs",
                            working_directory=str(project), location_name="threadx")
    with WorkspaceProcessContext(instance, location) as context:
        yield context


def follow(instance: dg.DagsterInstance, backfill_id: str, *, drive: object | None = None,
           progress: Callable[[str], None] = print) -> BackfillOutcome:
    """Follow backfill ``backfill_id`` until it ends, printing progress (asset partitions done
    of total, rate, ETA) and each failed run (symbol, months, root cause) as it fails. With
    ``drive`` (a workspace context), run the backfill daemon's iteration from this process, and the
    run-queue daemon's when the instance queues runs."""
    with ExitStack() as stack:
        step = _driver(instance, drive, stack, backfill_id) if drive is not None else None
        return _follow(instance, backfill_id, step, progress)


def _driver(instance: dg.DagsterInstance, workspace: object, stack: ExitStack,
            backfill_id: str) -> Callable[[], None]:
    """One iteration of the daemons a backfill needs: the backfill daemon's, once the runs it
    launched last have ended, and, when the instance queues runs, the run-queue daemon's."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._daemon.backfill import execute_backfill_jobs
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    logger = logging.getLogger("threadx.backfill")
    queue = None
    if isinstance(instance.run_coordinator, QueuedRunCoordinator):
        queue = stack.enter_context(QueuedRunCoordinatorDaemon(interval_seconds=POLL_S))

    def step() -> None:
        # like the daemon's 30 s tick, but no longer than the runs take: iterating while runs
        # are going would launch each newly ready layer as runs of its own
        active = instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id},
                                              statuses=list(IN_PROGRESS)), limit=1)
        if not active:
            # this backfill only: another command drives its own, and two processes iterating
            # the same backfill would both launch its runs
            list(execute_backfill_jobs(workspace, logger, [instance.get_backfill(backfill_id)]))
        if queue is not None:
            list(queue.run_iteration(workspace))

    return step


def _follow(instance: dg.DagsterInstance, backfill_id: str, step: Callable[[], None] | None,
            progress: Callable[[str], None]) -> BackfillOutcome:
    started, last, reported = time.perf_counter(), "", set()
    while True:
        if step is not None:
            step()
        backfill = instance.get_backfill(backfill_id)
        data = backfill.asset_backfill_data
        total = data.target_subset.num_partitions_and_non_partitioned_assets
        done = data.materialized_subset.num_partitions_and_non_partitioned_assets
        failed = data.failed_and_downstream_subset.num_partitions_and_non_partitioned_assets
        runs = instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        for run in runs:
            if run.status == DagsterRunStatus.FAILURE and run.run_id not in reported:
                reported.add(run.run_id)
                outcome = _outcome(instance, run)
                progress(f"  FAILED {outcome.symbol} {outcome.month}: {outcome.error} (run {run.run_id[:8]})")
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {(total - done - failed) / rate:.0f} s" if rate > 0 else "ETA -"
        line = (f"[{done}/{total} asset partitions, {failed} failed] {len(runs)} run(s), "
                f"{rate:.2f}/s, {eta}")
        if line.split("]")[0] != last.split("]")[0] or backfill.status in FINISHED:
            progress(f"{line}  ({elapsed:.0f} s, {backfill.status.value.lower()})")
            last = line
        if backfill.status in FINISHED:
            break
        time.sleep(POLL_S)
    outcomes = [_outcome(instance, run) for run in reversed(runs)]
    reused, swept = _sweep_reuse(instance, {run.run_id for run in runs})
    return BackfillOutcome(backfill_id, backfill.status, outcomes, reused, swept)


def _outcome(instance: dg.DagsterInstance, run: dg.DagsterRun) -> PartitionRun:
    seconds = 0.0
    stats = instance.get_run_stats(run.run_id)
    if stats.start_time and stats.end_time:
        seconds = stats.end_time - stats.start_time
    symbol, month = covered(run.tags)
    success = run.status == DagsterRunStatus.SUCCESS
    return PartitionRun(symbol, month, run.run_id, success, seconds,
                        None if success else root_cause(instance, run.run_id))


def covered(tags: dict[str, str]) -> tuple[str, str]:
    """``(symbols, months)`` a run covers, from its partition tags (a key or a key range)."""
    single = tags.get("dagster/partition")
    first, last = (single, single) if single else (tags.get("dagster/asset_partition_range_start"),
                                                   tags.get("dagster/asset_partition_range_end"))
    if not first or not last:
        return "-", "-"
    (s0, m0), (s1, m1) = _symbol_month(first), _symbol_month(last)
    return (s0 if s0 == s1 else f"{s0}..{s1}"), (m0 if m0 == m1 else f"{m0}..{m1}")


def _symbol_month(partition_key: str) -> tuple[str, str]:
    return split(partition_key) if "|" in partition_key else (partition_key, "all months")


def root_cause(instance: dg.DagsterInstance, run_id: str) -> str:
    """One line for a failed run: the description of its first step failure (for a
    :func:`threadx_pipeline.failures.explained` one: ``<asset> <SYMBOL> <month>: <cause>``), else
    the first line of that failure's deepest cause prefixed by the step, else the run failure."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        failure = record.dagster_event.step_failure_data
        step = record.dagster_event.step_key
        if failure.user_failure_data is not None and failure.user_failure_data.description:
            return _first_line(failure.user_failure_data.description)
        error = failure.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            return f"{step}: {_first_line(error.message)}"
    for record in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        return _first_line(record.message or "run failed")
    return "run failed"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "failed")


def _sweep_reuse(instance: dg.DagsterInstance, run_ids: set[str]) -> tuple[int, int]:
    """``(reused, materialised)`` sweep partitions among the materialisations of ``run_ids``."""
    reused = swept = 0
    for run_id in run_ids:
        for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            materialization = record.asset_materialization
            if materialization.asset_key.path[-1].startswith("sweep_"):
                swept += 1
                reused += bool(materialization.metadata.get("reused", dg.MetadataValue.bool(False)).value)
    return reused, swept


def full_period(defs: dg.Definitions, instance: dg.DagsterInstance, symbols: list[str], first: str | None,
                last: str | None, *, progress: Callable[[str], None] = print) -> list[PartitionRun]:
    """Materialise ``full_period`` over ``first``..``last`` (``None``: the first/last stored month)
    for each symbol, in process, registering the symbols first, with the implicit asset job (as the
    UI's "Materialize" does: the asset belongs to no named job)."""
    register_symbols(instance, symbols)
    job, outcomes = defs.resolve_implicit_global_asset_job_def(), []
    run_config = {"ops": {FULL_PERIOD: {"config": {"first": first, "last": last}}}, **INFO_LOGS}
    for symbol in symbols:
        started = time.perf_counter()
        result = job.execute_in_process(partition_key=symbol, instance=instance, raise_on_error=False,
                                        run_config=run_config, asset_selection=[dg.AssetKey(FULL_PERIOD)])
        outcome = PartitionRun(symbol, "all months", result.run_id, result.success,
                               time.perf_counter() - started,
                               None if result.success else root_cause(instance, result.run_id))
        outcomes.append(outcome)
        status = "ok" if outcome.success else f"FAILED: {outcome.error}"
        progress(f"{FULL_PERIOD} {symbol}: {status} ({outcome.seconds:.1f} s, run {result.run_id[:8]})")
    return outcomes
