"""``walk_forward`` [symbol]: walk-forward selection over every stored month, with the deflated
Sharpe ratio, the probability of backtest overfitting, bootstrap intervals, charts and exports."""

import dagster as dg
import pandas as pd

from threadx_core import times
from threadx_core.present.tables import markdown_table
from threadx_core.research import months
from threadx_core.research.provenance import modules_version
from threadx_core.research.walk_forward import decide, out_of_sample_price_png
from threadx_core.settings import Settings
from threadx_pipeline.failures import explained
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import SYMBOLS, every_month_of
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.warehouse import WarehouseResource

#: The core sources that decide a walk-forward report from the stored sweeps.
WALK_FORWARD_MODULES = ("threadx_core.metrics.returns", "threadx_core.metrics.trades",
                        "threadx_core.research.chain", "threadx_core.research.months",
                        "threadx_core.research.selection", "threadx_core.research.overfitting",
                        "threadx_core.research.walk_forward")


def build_walk_forward(settings: Settings) -> dg.AssetsDefinition:
    """The ``walk_forward`` asset over every ``sweep_<tf>`` month of a symbol."""
    tfs = settings.timeframes.sweep
    wf, chosen = settings.walkforward, settings.selection

    @dg.asset(
        name="walk_forward", partitions_def=SYMBOLS, group_name=GROUP, owners=OWNERS,
        kinds={"pandas", "parquet"}, code_version=modules_version(*WALK_FORWARD_MODULES),
        ins=every_month_of([f"sweep_{tf}" for tf in tfs]),
    )
    def walk_forward(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     **sweeps: dict[str, pd.DataFrame]) -> dg.Output:
        """Per sweep timeframe: the best combination on ``in_sample_months`` months, judged on the
        next month, chain by chain (a hole — a month not stored or without trading — ends one chain
        and starts another, with a warning naming the symbol and the months), chained out of
        sample; how much of it to trust; charts and exports kept under
        ``<warehouse>/reports/<symbol>/`` (for each timeframe, its ``<tf>_*`` files are this run's
        only ones: a chart this run does not make is not left from an older one), among them the
        price chart of the latest step's choice on its out-of-sample month
        (``<tf>_out_of_sample_price``; none for a cash step)."""
        symbol = context.partition_key
        steps, metadata = [], {}
        for tf in tfs:
            stored = sweeps[f"sweep_{tf}"]
            split = months.chains_of(stored)
            if split.longest <= wf.in_sample_months:
                # an older report of this timeframe would read as this run's: remove it
                warehouse.export({}, symbol, replacing=f"{tf}_")
                holes = split.warning(f"{symbol} {tf}")
                if holes:
                    context.log.warning(holes)
                context.log.warning(f"{symbol} {tf}: {len(stored)} month(s) stored, the longest chain of "
                                    f"consecutive traded months has {split.longest}, the walk-forward "
                                    f"needs more than in_sample_months = {wf.in_sample_months}; no {tf} "
                                    f"report (any older {tf}_* exports removed)")
                continue
            with explained("walk_forward", symbol):
                report = decide(stored, in_sample_months=wf.in_sample_months, objective=chosen.objective,
                                min_trades=chosen.min_trades, pbo_groups=wf.pbo_groups,
                                seed=wf.bootstrap_seed, title=f"{symbol} {tf}")
            for note in report.notes:
                context.log.warning(f"{symbol} {tf}: {note}")
            steps.append(report.walk.steps.assign(timeframe=tf))
            summary = report.summary
            # exported with the report's files, so a later cash step leaves no stale price chart
            price = _latest_price(warehouse, report.walk.steps.iloc[-1], stored, symbol, tf)
            files = report.files(tf) | ({} if price is None else {f"{tf}_out_of_sample_price.png": price})
            exported = warehouse.export(files, symbol, replacing=f"{tf}_")
            metadata.update({
                f"{tf}_chains": dg.MetadataValue.json([f"{c[0]}..{c[-1]}" for c in split.chains]),
                f"{tf}_holes": dg.MetadataValue.json(split.holes),
                f"{tf}_summary": dg.MetadataValue.json({k: round(float(v), 6) for k, v in summary.items()}),
                f"{tf}_bootstrap": dg.MetadataValue.md(markdown_table(
                    report.intervals.reset_index(names="statistic"), ("statistic", "estimate", "low", "high"),
                    label="statistic")),
                **{f"{tf}_{name}": image(name, png) for name, png in report.charts.items()},
            })
            if price is not None:
                metadata[f"{tf}_out_of_sample_price"] = image("out_of_sample_price", price)
                metadata[f"{tf}_out_of_sample_price_file"] = dg.MetadataValue.path(
                    str(exported[f"{tf}_out_of_sample_price.png"]))
            context.log.info(f"{symbol} {tf}: {len(report.walk.steps)} out-of-sample months, OOS return "
                             f"{summary['out_of_sample_total_return']:.2%}, deflated Sharpe "
                             f"{report.deflated_sharpe:.3f}, PBO {report.pbo:.2f}")
        frame = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame({"timeframe": []})
        return dg.Output(frame, metadata={"steps": len(frame),
                                          "reports": dg.MetadataValue.path(str(warehouse.reports(symbol))),
                                          **metadata})

    return walk_forward


def _latest_price(warehouse: WarehouseResource, step: pd.Series, stored: dict[str, pd.DataFrame], symbol: str,
                  tf: str) -> bytes | None:
    """The price chart of the latest step's choice on its out-of-sample month (None for a cash
    step): that month's bars and cache read from the warehouse (this asset takes only the sweeps)."""
    month = step["out_of_sample"]
    with explained("walk_forward", symbol, month):
        bars, cache = (warehouse.read(f"{asset}_{tf}", symbol, month) for asset in ("ohlcv", "indicators"))
        if bars is None or cache is None:
            raise ValueError(f"{symbol} {month}: ohlcv_{tf} or indicators_{tf} is not stored; the "
                             f"out-of-sample price chart needs both")
        return out_of_sample_price_png(step, stored[month], stored.get(times.previous_month(month)), bars,
                                       cache, tf, f"{symbol} {tf}")
