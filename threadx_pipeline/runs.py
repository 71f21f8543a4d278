"""Launching materialisations of symbol × month partitions into the Dagster instance.

Used by ``threadx demo`` and ``threadx backfill``: each partition is one run of the market-data
job, recorded in the instance (so it shows in the UI's run list, asset catalog and checks),
tagged with a backfill id. Months run in calendar order so that a month's warm-up input (the
previous month) exists before it is needed. Per-symbol assets get one run per symbol:
``walk_forward`` and ``full_period`` (every stored month) after a backfill's months,
``full_period`` alone over a chosen range for ``threadx aggregate``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from threadx_pipeline.partitions import key, register_symbols
from threadx_pipeline.research.full_period import ASSET as FULL_PERIOD

BACKFILL_TAG = "threadx/backfill"
INFO_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass(frozen=True)
class PartitionRun:
    """Outcome of one partition's run."""

    symbol: str
    month: str
    run_id: str
    success: bool
    seconds: float
    error: str | None = None


def backfill(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, symbols: list[str],
             month_labels: list[str], *, force: bool = False,
             progress: Callable[[str], None] = print) -> list[PartitionRun]:
    """Materialise ``job_name`` for every ``symbols`` × ``month_labels`` partition, in process.

    Registers the symbols as partitions first. A failing partition does not stop the others;
    its error is returned. ``force`` re-fetches finished, complete months.
    """
    added = register_symbols(instance, symbols)
    if added:
        progress(f"registered symbol partitions: {', '.join(added)}")
    job = defs.resolve_job_def(job_name)
    backfill_id = uuid.uuid4().hex[:8]
    total, outcomes = len(symbols) * len(month_labels), []
    run_config = {"ops": {"raw_1m": {"config": {"force": force}}}, **INFO_LOGS}
    for month in month_labels:
        for symbol in symbols:
            started = time.perf_counter()
            result = job.execute_in_process(
                partition_key=key(symbol, month), instance=instance, run_config=run_config,
                tags={BACKFILL_TAG: backfill_id}, raise_on_error=False)
            outcome = PartitionRun(symbol, month, result.run_id, result.success,
                                   time.perf_counter() - started, _first_error(result))
            outcomes.append(outcome)
            status = "ok" if outcome.success else f"FAILED: {outcome.error}"
            progress(f"[{len(outcomes)}/{total}] {symbol} {month}: {status} "
                     f"({outcome.seconds:.1f} s, run {result.run_id[:8]})")
    return outcomes


def per_symbol(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, symbols: list[str],
               *, selection: list[dg.AssetKey] | None = None, ops: dict | None = None,
               progress: Callable[[str], None] = print) -> list[PartitionRun]:
    """Materialise the per-symbol ``job_name`` (walk-forward report, full-period metrics) for each
    symbol: only the assets of ``selection`` when given, with ``ops`` (asset name →
    ``{"config": …}``) as run config."""
    job, outcomes = defs.resolve_job_def(job_name), []
    name = ", ".join(k.to_user_string() for k in selection) if selection else job_name
    run_config = {"ops": ops, **INFO_LOGS} if ops else INFO_LOGS
    for symbol in symbols:
        started = time.perf_counter()
        result = job.execute_in_process(partition_key=symbol, instance=instance, raise_on_error=False,
                                        run_config=run_config, asset_selection=selection)
        outcome = PartitionRun(symbol, "all months", result.run_id, result.success,
                               time.perf_counter() - started, _first_error(result))
        outcomes.append(outcome)
        status = "ok" if outcome.success else f"FAILED: {outcome.error}"
        progress(f"{name} {symbol}: {status} ({outcome.seconds:.1f} s, run {result.run_id[:8]})")
    return outcomes


def full_period(defs: dg.Definitions, instance: dg.DagsterInstance, symbols: list[str], first: str | None,
                last: str | None, *, progress: Callable[[str], None] = print) -> list[PartitionRun]:
    """Materialise ``full_period`` over ``first``..``last`` (``None``: the first/last stored month)
    for each symbol, registering the symbols first, with the implicit asset job (as the UI's
    "Materialize" does: the asset belongs to no named job)."""
    register_symbols(instance, symbols)
    job = defs.resolve_implicit_global_asset_job_def()
    return per_symbol(defs, job.name, instance, symbols, selection=[dg.AssetKey(FULL_PERIOD)],
                      ops={FULL_PERIOD: {"config": {"first": first, "last": last}}}, progress=progress)


def _first_error(result: dg.ExecuteInProcessResult) -> str | None:
    """The first line of the first step failure: a ``dg.Failure``'s description as is."""
    if result.success:
        return None
    for event in result.all_events:
        failure = event.step_failure_data if event.is_step_failure else None
        if failure is not None and failure.user_failure_data is not None:
            return (failure.user_failure_data.description or "failed").strip().splitlines()[0]
        if failure is not None and failure.error is not None:
            return failure.error.message.strip().splitlines()[0]
    return "run failed"
