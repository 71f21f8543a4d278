"""The Dagster code location of ThreadX Pipeline (``dagster dev`` loads ``defs``)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from threadx_pipeline import automation, execution, partitions, universe
from threadx_pipeline.config import load_settings, settings_path
from threadx_pipeline.io_manager import WarehouseIOManager
from threadx_pipeline.market_data import assets as market_data
from threadx_pipeline.market_data.schedules import build_daily_top_up, build_register_symbols
from threadx_pipeline.migrate import build_migrate_job
from threadx_pipeline.research import assets as research
from threadx_pipeline.research.full_period import build_full_period
from threadx_pipeline.research.leaderboard import build_leaderboard
from threadx_pipeline.research.walk_forward import build_walk_forward
from threadx_pipeline.resources import DeviceManagerResource, MarketDataResource, SettingsResource
from threadx_pipeline.warehouse import WarehouseResource

MONTH_JOB = "symbol_month_job"
SYMBOL_JOB = "symbol_report_job"


def build_definitions(path: str | Path, *, frozen_now: str | None = None) -> dg.Definitions:
    """Every asset, check, job, schedule, sensor and resource for the settings file at ``path``.

    The file is loaded and validated here, once: the assets are shaped and parameterised by that
    object, and the resources, which carry only its path as config, return that same object.
    """
    cfg = load_settings(path)
    symbol_month = partitions.symbol_month(cfg)
    # raw_1m is fetched when the schedule, a person or a backfill says; what derives from it follows
    assets = [a if a.keys == {market_data.RAW} else automation.automate(a, automation.follow_months)
              for a in (*market_data.build(cfg, symbol_month), *research.build(cfg, symbol_month))]
    per_symbol = [automation.automate(a, automation.follow_symbol)
                  for a in (build_walk_forward(cfg), build_full_period(cfg))]
    leaderboard = automation.automate(build_leaderboard(cfg), automation.follow_reports)
    symbol_job = dg.define_asset_job(SYMBOL_JOB, selection=dg.AssetSelection.assets(*per_symbol),
                                     description="walk-forward decision report and full-period metrics "
                                                 "(every stored month, unless configured) of one symbol")
    job = dg.define_asset_job(MONTH_JOB, selection=dg.AssetSelection.assets(*assets),
                              description="raw_1m, every derived timeframe, indicator caches, "
                                          "sweeps, best-by-run and featured backtests of one symbol-month")
    universe_job = universe.build_job()
    settings = SettingsResource(path=str(cfg.path))
    warehouse = WarehouseResource(settings=settings)
    return dg.Definitions(
        assets=[*assets, *per_symbol, leaderboard, universe.universe_asset],
        jobs=[job, symbol_job, build_migrate_job(cfg), universe_job],
        schedules=[build_daily_top_up(job, cfg), universe.build_schedule(universe_job, cfg)],
        sensors=[build_register_symbols(cfg), automation.build_sensor(cfg.automation)],
        executor=execution.executor(cfg.execution),  # every job's, from [execution]; None: Dagster's default
        resources={
            "threadx": settings,
            "warehouse": warehouse,
            "market": MarketDataResource(settings=settings, frozen_now=frozen_now),
            "devices": DeviceManagerResource(settings=settings),
            "io_manager": WarehouseIOManager(warehouse=warehouse),
        },
    )


defs = build_definitions(settings_path())
