"""``best_by_run``: the best combinations across the sweep timeframes of one symbol-month, the
Pareto front, and the selection re-run in full."""

import dagster as dg
import pandas as pd

from threadx_core import times
from threadx_core.present.tables import PARAM_DISPLAY_COLUMNS, markdown_table, ranking_table
from threadx_core.research import best_by_run as core
from threadx_core.research.provenance import SWEEP_MODULES, modules_version
from threadx_core.settings import Settings
from threadx_pipeline.failures import explained
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import AFTER_SWEEPS, step_keys
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.warehouse import WarehouseResource

#: The core sources that decide the selection: the sweep's (the re-run must reproduce it), the
#: ranking, the run id and the selection itself.
SELECTION_MODULES = (*SWEEP_MODULES, "threadx_core.engine.backtest", "threadx_core.research.featured",
                     "threadx_core.research.selection", "threadx_core.research.provenance",
                     "threadx_core.research.best_by_run")


def build_best_by_run(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``best_by_run`` asset over every ``sweep_<tf>`` of the month (with the ``ohlcv_<tf>`` and
    ``indicators_<tf>`` they were swept on, to re-run the selection)."""
    tfs = settings.timeframes.sweep
    chosen = settings.selection
    ins = {f"{asset}_{tf}": dg.AssetIn(f"{asset}_{tf}") for asset in ("sweep", "ohlcv", "indicators")
           for tf in tfs}

    def _select(context: dg.AssetExecutionContext, warehouse: WarehouseResource, partition: str, symbol: str,
                month: str, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """One symbol-month's selection, exported, its metadata added; returns the top rows."""
        # the month before, where the sweeps started each combination from (read only when the
        # selection is re-run: the partition it continued, by run id)
        before = times.previous_month(month)
        best = core.best_by_run({tf: frames[f"sweep_{tf}"] for tf in tfs},
                                {tf: frames[f"ohlcv_{tf}"] for tf in tfs},
                                {tf: frames[f"indicators_{tf}"] for tf in tfs},
                                objective=chosen.objective, min_trades=chosen.min_trades, top_k=chosen.top_k,
                                title=f"{symbol} {month}",
                                previous={tf: warehouse.read(f"sweep_{tf}", symbol, before) for tf in tfs})
        exported = warehouse.export(best.files(), symbol, month, replacing=core.EXPORT_PREFIX)
        selected = {} if best.selection is None else {
            "selection": best.selection.selection["run"], "selection_trades": len(best.selection.trades),
            "selection_trades_csv": dg.MetadataValue.path(str(exported[f"{core.EXPORT_PREFIX}_trades.csv"]))}
        context.log.info(f"{symbol} {month}: {len(best.top)} best of {best.candidates} rows by "
                         f"{chosen.objective}; Pareto front {len(best.front)} points; run {best.run_id}")
        context.add_asset_metadata({
            "run_id": best.run_id, "objective": chosen.objective, "min_trades": chosen.min_trades,
            "reports": dg.MetadataValue.path(str(warehouse.reports(symbol, month))),
            "candidates": best.candidates, "eligible": best.eligible,
            "empty": best.candidates == 0,  # an empty month (no trading): its sweeps have no row
            "top_k": dg.MetadataValue.md(ranking_table(best.top, chosen.objective,
                                                       ("n_trades", "total_return", "max_drawdown"))),
            "pareto_front": dg.MetadataValue.md(markdown_table(
                best.front, (*PARAM_DISPLAY_COLUMNS, "total_return", "max_drawdown", "sharpe"),
                label="timeframe")),
            **{name: image(name, png) for name, png in best.charts.items()}, **selected,
        }, partition_key=partition)
        return best.top

    @dg.asset(name="best_by_run", partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
              kinds={"pandas", "parquet"}, code_version=modules_version(*SELECTION_MODULES), ins=ins,
              backfill_policy=AFTER_SWEEPS)
    def best_by_run(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    **frames: dict[str, pd.DataFrame]) -> dg.Output:
        """The ``top_k`` combinations by ``[selection] objective`` (min-trades filter, metric
        directions, tie-breaks of docs/ARCHITECTURE.md, Sweeps, selection and research) across the
        sweep timeframes, and the Pareto front of total return vs max drawdown; the run id names
        grid, data and code. Rank 1 (when a row passes the filter) is re-run by the reference
        engine, which must reproduce its stored result (else the asset fails), and exported under
        ``<warehouse>/reports/<symbol>/<month>/``: trades (CSV, Parquet), the selection (JSON),
        its equity + drawdown chart."""
        tops = {}
        for partition, symbol, month in step_keys(context):
            with explained("best_by_run", symbol, month):
                tops[partition] = _select(context, warehouse, partition, symbol, month,
                                          {name: months[partition] for name, months in frames.items()})
        return dg.Output(tops)

    return best_by_run
