"""``backtest_report`` / ``backtest_trades``: the featured parameter sets, run in full by the
reference engine."""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from threadx_core.present.tables import markdown_table
from threadx_core.research.featured import featured
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_pipeline.failures import explained
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import SINGLE_RUN, step_keys
from threadx_pipeline.research import GROUP, OWNERS

#: The core sources that decide a featured run: the reference engine, its metrics, the runs.
FEATURED_MODULES = ("threadx_core.engine.backtest", "threadx_core.engine.frames", "threadx_core.engine.nb",
                    "threadx_core.metrics.nb", "threadx_core.metrics.summary",
                    "threadx_core.research.featured")


def build_report(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """``backtest_report`` (equity curves, metrics and a chart) and ``backtest_trades``."""
    tfs = settings.timeframes.sweep
    runs = settings.featured()
    ins = {**{f"ohlcv_{tf}": dg.AssetIn(f"ohlcv_{tf}") for tf in tfs},
           **{f"indicators_{tf}": dg.AssetIn(f"indicators_{tf}") for tf in tfs}}
    out = {"group_name": GROUP, "owners": OWNERS, "kinds": {"numba", "parquet"},
           "code_version": modules_version(*FEATURED_MODULES)}

    @dg.multi_asset(
        name="backtest_report", partitions_def=partitions_def, ins=ins, backfill_policy=SINGLE_RUN,
        outs={"backtest_report": dg.AssetOut(**out, description=(
                  "Equity, position and drawdown per bar of each featured run (run, timeframe)")),
              "backtest_trades": dg.AssetOut(**out, description=(
                  "Every trade of each featured run (run, timeframe)"))},
    )
    def backtest_report(context: dg.AssetExecutionContext,
                        **frames: dict[str, pd.DataFrame]) -> Iterator[dg.Output]:
        """Every ``[report] featured`` set backtested on each symbol-month of the step, on each sweep
        timeframe, with the month's indicator caches; an empty month (no bar) stores no row, with
        metadata ``empty = true``."""
        equity, trades = {}, {}
        for partition, symbol, month in step_keys(context):
            with explained("backtest_report", symbol, month):
                started = time.perf_counter()
                report = featured({tf: frames[f"ohlcv_{tf}"][partition] for tf in tfs},
                                  {tf: frames[f"indicators_{tf}"][partition] for tf in tfs},
                                  runs, f"{symbol} {month}: featured runs")
                elapsed = time.perf_counter() - started
                for row in report.metrics.itertuples():
                    context.log.info(f"{symbol} {month} {row.run}: {row.n_trades} trades, "
                                     f"return {row.total_return:.2%}, Sharpe {row.sharpe:.2f}")
                equity[partition], trades[partition] = report.equity, report.trades
                empty = report.metrics.empty  # no trading this month: no bar to run on
                if empty:
                    context.log.warning(f"{symbol} {month}: no bar (no trading this month): no featured "
                                        f"run, stored as an empty month")
                context.add_asset_metadata({
                    "runs": len(report.metrics), "elapsed_s": round(elapsed, 3), "empty": empty,
                    **({} if empty else {
                        "metrics": dg.MetadataValue.md(markdown_table(report.metrics)),
                        "chart": image("equity and drawdown", report.png),
                        **{m: float(report.metrics[m].iloc[0])
                           for m in ("total_return", "sharpe", "max_drawdown")}}),
                }, asset_key="backtest_report", partition_key=partition)
                context.add_asset_metadata({"trades": len(report.trades), "empty": empty},
                                           asset_key="backtest_trades",
                                           partition_key=partition)
        yield dg.Output(equity, output_name="backtest_report")
        yield dg.Output(trades, output_name="backtest_trades")

    return backtest_report
