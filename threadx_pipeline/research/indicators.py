"""``indicators_<tf>``: every window the grid needs, warmed up on the previous month.

The previous month is read by the body, not declared (a time-offset input would widen a backfill
past the months asked for, a self-dependency would cost the backfill a layer: docs/ARCHITECTURE.md,
Asset graph): its bars and its cache come from earlier in the same step's calendar-ordered loop,
or else from the warehouse, through
:func:`threadx_core.indicators.cache.chained_month_indicators`, which rebuilds in memory any
earlier month whose cache is not stored yet. A month's cache is therefore the in-order chain's
whatever order, and whichever runs, Dagster materialises the months in: the bars of a backfill's
earlier months are stored before this step reads them (by the run's ``raw_1m`` and
``ohlcv_<tf>`` steps when those months are runs of their own).
"""

import time

import dagster as dg
import pandas as pd

from threadx_core.indicators.cache import MonthReader, chained_month_indicators
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_pipeline.failures import explained
from threadx_pipeline.partitions import SINGLE_RUN, step_keys
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.warehouse import WarehouseResource

#: The core sources that decide an indicator cache's values.
INDICATOR_MODULES = ("threadx_core.indicators.bollinger", "threadx_core.indicators.atr",
                     "threadx_core.indicators.nb", "threadx_core.indicators.cache")


def windows(settings: Settings) -> tuple[list[int], list[tuple[int, str]]]:
    """Distinct Bollinger and ATR windows of the sweep grid and the featured sets together."""
    runs = [*settings.sweep_grid(), *settings.featured()]
    return (sorted({p.bb_period for p in runs}), sorted({(p.atr_period, p.atr_method) for p in runs}))


def reader(warehouse: WarehouseResource, step: dict[tuple[str, str], pd.DataFrame], asset: str,
            symbol: str) -> MonthReader:
    """Month → ``symbol``'s frame of ``asset``: from earlier in this step (``step``, keyed by
    ``(symbol, month)``), else the stored partition, else ``None``."""
    def read(month: str) -> pd.DataFrame | None:
        frame = step.get((symbol, month))
        return frame if frame is not None else warehouse.read(asset, symbol, month)
    return read


def build_indicators(tf: str, settings: Settings,
                     partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``indicators_<tf>`` asset."""
    bb_periods, atr_windows = windows(settings)
    name = f"indicators_{tf}"

    @dg.asset(
        name=name, partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
        kinds={"numba", "parquet"}, code_version=modules_version(*INDICATOR_MODULES),
        backfill_policy=SINGLE_RUN,
        ins={"ohlcv": dg.AssetIn(f"ohlcv_{tf}")},
        metadata={"timeframe": tf, "bb_periods": bb_periods,
                  "atr_windows": [f"{p} {m}" for p, m in atr_windows]},
    )
    def indicators(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   ohlcv: dict[str, pd.DataFrame]) -> dg.Output:
        """Bollinger middle/σ and ATR for every window the grid and featured sets need, for each
        symbol-month of ``tf`` bars of the step; equal to the values computed on the whole series."""
        bars = {(symbol, month): ohlcv[partition] for partition, symbol, month in step_keys(context)}
        caches: dict[tuple[str, str], pd.DataFrame] = {}
        for partition, symbol, month in step_keys(context):
            with explained(name, symbol, month):
                started = time.perf_counter()
                cache = chained_month_indicators(month, reader(warehouse, bars, f"ohlcv_{tf}", symbol),
                                                 reader(warehouse, caches, name, symbol), bb_periods,
                                                 atr_windows)
                elapsed = time.perf_counter() - started
                if cache.history == "none":
                    context.log.warning(f"{symbol} {month} {tf}: no previous month, indicators start cold "
                                        f"(the first bars of each window are NaN)")
                if cache.rebuilt:
                    # not yet stored (another run of this backfill may be writing them): rebuilt the same
                    context.log.info(f"{symbol} {month} {tf}: rebuilt the caches of "
                                     f"{', '.join(cache.rebuilt)} in memory from their stored bars "
                                     f"(not stored by this step)")
                caches[(symbol, month)] = cache.frame
                context.add_asset_metadata({
                    "rows": len(cache.frame), "bb_periods": len(bb_periods), "atr_windows": len(atr_windows),
                    "history": cache.history, "warmup_bars": cache.warmup_bars, "atr_exact": cache.atr_exact,
                    "rebuilt_months": list(cache.rebuilt), "elapsed_s": round(elapsed, 4)},
                    partition_key=partition)
        return dg.Output({partition: caches[(symbol, month)]
                          for partition, symbol, month in step_keys(context)})

    return indicators
