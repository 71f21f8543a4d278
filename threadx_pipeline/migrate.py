"""``migrate_job``: legacy candle files imported into ``raw_1m`` partitions through Dagster.

One op, :func:`build_migrate_job`'s ``migrate_legacy``, runs ``threadx_core.data.migrate`` over
the configured ``src`` and, for every partition it writes, registers the symbol as a partition
and logs an ``AssetMaterialization`` of ``raw_1m`` for that symbol × month key. The imports are
therefore materialisations like any other in the UI (the asset's partitions turn green, the event
carries the source file and its hash) and the automation conditions of the derived assets follow
them (docs/ARCHITECTURE.md, Automation), while ``raw_1m``'s own body stays the source's fetcher.
Why a job of its own and not ``raw_1m`` with a "migrate" config: which partitions a migration
touches is known only once the files are read (any symbols, any months, not a range a run could
target up front), and a file's months must be decided together (conflict, identical, imported)
with one report for the whole run. The job is in the code location, so it can also be launched
from the UI's Launchpad (config: ``src``, ``force``, ``dry_run``); ``threadx migrate`` runs it in
process (:func:`run`).

The report (every file's counts) is the op's output metadata ``report`` (JSON) and is logged
line by line in the run log.
"""

from functools import partial
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.events import DagsterEventType

from threadx_core import times
from threadx_core.data import migrate as core
from threadx_core.data.gaps import find_gaps
from threadx_core.data.ingest import month_state
from threadx_core.errors import ThreadXError
from threadx_core.settings import Settings
from threadx_pipeline.market_data.assets import RAW
from threadx_pipeline.partitions import key, register_symbols
from threadx_pipeline.warehouse import WarehouseResource

JOB = "migrate_job"
OP = "migrate_legacy"
#: Tag of a migration run: the folder it read.
SRC_TAG = "threadx/migrate_src"


class MigrateConfig(dg.Config):
    """Run configuration of ``migrate_legacy``."""

    src: str
    """The folder of legacy files (searched recursively)."""
    force: bool = False
    """Overwrite stored partitions that differ from the file, and re-read files already imported."""
    dry_run: bool = False
    """Read and decide everything; write nothing (no partition, no manifest, no materialisation)."""


def _materialization(imported: core.Imported) -> dg.AssetMaterialization:
    frame, report = imported.frame, imported.file
    first, end = times.month_bounds(imported.month)
    through = pd.Timestamp(frame.attrs["fetched_through"])
    gaps = find_gaps(frame, first, through)
    return dg.AssetMaterialization(
        asset_key=RAW, partition=str(key(imported.symbol, imported.month)),
        description=f"migrated from {report.file}",
        metadata={
            "rows": len(frame), "first": str(frame["open_time"].iloc[0]),
            "last": str(frame["open_time"].iloc[-1]), "state": month_state(frame, end),
            "source": "migrate", "source_file": report.file, "source_sha256": report.sha256,
            "time_units": ", ".join(report.units), "duplicates_in_file": report.duplicates,
            "zero_filled": ", ".join(report.zero_filled) or "-", "missing_minutes": gaps.missing,
            "action": next(p.action for p in report.partitions if p.month == imported.month),
            "path": dg.MetadataValue.path(str(imported.path)), "bytes_written": imported.bytes_written,
        })


def build_migrate_job(settings: Settings) -> dg.JobDefinition:
    """The migration job of the project at ``settings`` (its first month partition bounds what
    may be imported)."""
    first_month = times.month_label(times.parse_month(settings.universe.start_month))

    @dg.op(name=OP, out=dg.Out(dg.Nothing))
    def migrate_legacy(context: dg.OpExecutionContext, config: MigrateConfig,
                       warehouse: WarehouseResource) -> dg.Output:
        """Import the legacy files under ``src`` into ``raw_1m`` (``threadx_core.data.migrate``),
        one materialisation per partition written."""

        def written(imported: core.Imported) -> None:
            register_symbols(context.instance, [imported.symbol])
            context.log_event(_materialization(imported))

        try:
            report = core.migrate(Path(config.src), partition_path=partial(warehouse.partition, RAW.path[-1]),
                                  manifest=warehouse.migration_manifest(), first_month=first_month,
                                  now=times.now(), force=config.force, dry_run=config.dry_run,
                                  on_written=written)
        except ThreadXError as exc:  # SRC or the manifest: one line, no traceback (failures.py's rule)
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        for file in report.files:
            calm = file.status not in ("needs attention", "refused") and not file.check.get("mismatched")
            (context.log.info if calm else context.log.warning)(file.line())
        (context.log.warning if report.needs_attention else context.log.info)(report.summary())
        totals = report.totals()
        return dg.Output(None, metadata={**totals, "needs_attention": report.needs_attention,
                                         "report": dg.MetadataValue.json(report.to_dict())})

    @dg.job(name=JOB, executor_def=dg.in_process_executor,
            description="import legacy TradXPro/ThreadX candle files into raw_1m partitions "
                        "(threadx migrate; docs/GUIDE.md, Migrating legacy data)")
    def migrate_job() -> None:
        migrate_legacy()

    return migrate_job


def run(defs: dg.Definitions, instance: dg.DagsterInstance, src: Path, *, force: bool,
        dry_run: bool) -> tuple[dict, str | None]:
    """Run ``migrate_job`` over ``src`` in process, recorded in ``instance``; returns the report
    (:meth:`threadx_core.data.migrate.MigrationReport.to_dict`, empty when the run failed) and
    the run's one-line error (``None`` on success)."""
    from threadx_pipeline.runs import INFO_LOGS, root_cause

    config = {"ops": {OP: {"config": {"src": str(src), "force": force, "dry_run": dry_run}}}, **INFO_LOGS}
    result = defs.resolve_job_def(JOB).execute_in_process(
        run_config=config, instance=instance, raise_on_error=False, tags={SRC_TAG: str(src)})
    if not result.success:
        return {}, root_cause(instance, result.run_id)
    (output,) = [e for e in result.all_node_events if e.event_type == DagsterEventType.STEP_OUTPUT]
    return output.step_output_data.metadata["report"].value, None
