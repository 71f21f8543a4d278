"""The ``universe`` asset: the symbols to research, from CoinGecko and Binance
(docs/GUIDE.md, The symbol universe), its job and its weekly schedule.

The body calls ``threadx_core.universe.build.build`` (fetch, select, store with the raw answers),
registers every member as a ``symbols`` partition (an entering symbol becomes a partition; a
leaving one keeps its partition and its stored months, and the daily top-up stops fetching it
when ``[universe] mode = "universe"``: ``threadx_pipeline.market_data.schedules``), and reports
the size, the members per category, the symbols added and removed since the previous universe,
the warnings and a picture of the mix.
"""

import json
import logging
from pathlib import Path

import dagster as dg

from threadx_core.errors import ThreadXError
from threadx_core.present.plots import universe_mix_png
from threadx_core.present.tables import markdown_table
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_core.universe import build as universe
from threadx_core.universe import ranking
from threadx_pipeline.market_data import OWNERS
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import register_symbols
from threadx_pipeline.resources import MarketDataResource, SettingsResource
from threadx_pipeline.runs import root_cause

ASSET = "universe"
JOB = "universe_job"
GROUP = "universe"
#: Mondays 00:05 UTC: ten minutes before the daily top-up, so an entering symbol's month is
#: fetched the same day. Weekly: market-cap ranks move over weeks, an entering symbol costs the
#: backfill of its history, and a daily universe would churn members in and out on noise.
CRON = "5 0 * * 1"
CORE_MODULES = ("threadx_core.universe.ranking", "threadx_core.universe.exclusions",
                "threadx_core.universe.categories", "threadx_core.universe.build")


@dg.asset(name=ASSET, group_name=GROUP, owners=OWNERS, kinds={"parquet"},
          code_version=modules_version(*CORE_MODULES),
          description="the top [universe] size CoinGecko market caps tradable on Binance against "
                      "[universe] quote_asset, scored with 24 h volume, category minimums met")
def universe_asset(context: dg.AssetExecutionContext, threadx: SettingsResource,
                   market: MarketDataResource) -> dg.MaterializeResult:
    """A new universe, stored with its raw answers under ``<warehouse>/universe/<time>/``; its
    members become ``symbols`` partitions."""
    cfg = threadx.get()
    try:
        built = universe.build(cfg, taken_at=market.now(), logger=logging.getLogger("threadx.universe"))
    except ThreadXError as exc:  # a user error (an answer refused, settings): its message is the story
        raise dg.Failure(description=f"{ASSET}: {exc}", allow_retries=False) from None
    for warning in built.warnings:
        context.log.warning(warning)
    registered = register_symbols(context.instance, list(built.members["symbol"]))
    members = built.members
    per_category = ranking.per_category(members, built.table)
    uncategorised = int((members["categories"] == "").sum())
    png = universe_mix_png({k: len(v) for k, v in per_category.items()}, built.minimums, uncategorised,
                           f"universe: {len(members)} symbols ({cfg.universe.quote_asset})")
    context.log.info(f"universe: {len(members)} members, {len(built.added)} added {built.added}, "
                     f"{len(built.removed)} removed {built.removed}; stored in {built.path}")
    return dg.MaterializeResult(metadata={
        "size": len(members),
        "quote_asset": cfg.universe.quote_asset,
        "members": dg.MetadataValue.md(markdown_table(
            members, ("rank", "symbol", "name", "score", "categories", "reason"), label="rank")),
        "members_per_category": dg.MetadataValue.json(per_category),
        "uncategorised": uncategorised,
        "added": dg.MetadataValue.json(built.added),
        "removed": dg.MetadataValue.json(built.removed),
        "registered": dg.MetadataValue.json(registered),
        "excluded": dg.MetadataValue.json(built.excluded.groupby("reason")["symbol"].apply(list).to_dict()),
        "warnings": dg.MetadataValue.json(built.warnings),
        "category_table_version": built.table.version,
        "previous": str(built.previous) if built.previous else "-",
        "path": dg.MetadataValue.path(str(built.path)),
        "mix": image("universe mix", png),
    })


def build_job() -> "dg.UnresolvedAssetJobDefinition":  # the class is not exported by dagster
    """The job materialising ``universe`` alone."""
    return dg.define_asset_job(JOB, selection=dg.AssetSelection.assets(ASSET),
                               description="the symbol universe from CoinGecko and Binance")


def build_schedule(job: "dg.UnresolvedAssetJobDefinition", settings: Settings) -> dg.ScheduleDefinition:
    """``weekly_universe``: :data:`CRON` in UTC; running by default only when ``[universe] mode``
    is ``universe`` (the static list needs no universe)."""
    status = (dg.DefaultScheduleStatus.RUNNING if settings.universe.mode == "universe"
              else dg.DefaultScheduleStatus.STOPPED)
    return dg.ScheduleDefinition(name="weekly_universe", job=job, cron_schedule=CRON,
                                 execution_timezone="UTC", default_status=status)


def materialize_now(path: Path, instance: dg.DagsterInstance) -> tuple[bool, str]:
    """Materialise ``universe`` of the settings at ``path`` in ``instance`` (a run of
    ``universe_job`` in this process, recorded like the schedule's); returns whether it
    succeeded and the lines to print: the size, added, removed, members per category and
    warnings, or the failure's one line (``threadx_pipeline.runs.root_cause``)."""
    from threadx_pipeline.definitions import build_definitions  # it imports this module

    result = build_definitions(path).resolve_job_def(JOB).execute_in_process(instance=instance,
                                                                            raise_on_error=False)
    if not result.success:
        return False, root_cause(instance, result.run_id)
    (event,) = result.asset_materializations_for_node(ASSET)
    meta = {k: v.value for k, v in event.metadata.items()}
    return True, "\n".join([
        f"universe: {meta['size']} symbols ({meta['quote_asset']}), stored in {meta['path']}",
        f"  added: {meta['added']}", f"  removed: {meta['removed']}",
        f"  per category: {json.dumps(meta['members_per_category'])}",
        *(f"  warning: {w}" for w in meta["warnings"]),
    ])
