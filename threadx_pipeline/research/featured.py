"""``backtest_report`` / ``backtest_trades``: the featured parameter sets, run in full by the
reference engine."""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from threadx_core.research.featured import featured, markdown_table
from threadx_core.settings import Settings
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import split
from threadx_pipeline.resources import SettingsResource

GROUP = "research"


def build_report(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """``backtest_report`` (equity curves, metrics and a chart) and ``backtest_trades``."""
    tfs = settings.timeframes.sweep
    ins = {**{f"ohlcv_{tf}": dg.AssetIn(f"ohlcv_{tf}") for tf in tfs},
           **{f"indicators_{tf}": dg.AssetIn(f"indicators_{tf}") for tf in tfs}}

    @dg.multi_asset(
        name="backtest_report", partitions_def=partitions_def, group_name=GROUP, ins=ins,
        outs={"backtest_report": dg.AssetOut(kinds={"parquet"}, description=(
                  "Equity, position and drawdown per bar of each featured run (run, timeframe)")),
              "backtest_trades": dg.AssetOut(kinds={"parquet"}, description=(
                  "Every trade of each featured run (run, timeframe)"))},
    )
    def backtest_report(context: dg.AssetExecutionContext, threadx: SettingsResource,
                        **frames: pd.DataFrame) -> Iterator[dg.Output]:
        symbol, month = split(context.partition_key)
        started = time.perf_counter()
        report = featured({tf: frames[f"ohlcv_{tf}"] for tf in tfs},
                          {tf: frames[f"indicators_{tf}"] for tf in tfs},
                          threadx.get().featured(), f"{symbol} {month}: featured runs")
        elapsed = time.perf_counter() - started
        for row in report.metrics.itertuples():
            context.log.info(f"{symbol} {month} {row.run}: {row.n_trades} trades, "
                             f"return {row.total_return:.2%}, Sharpe {row.sharpe:.2f}")
        yield dg.Output(report.equity, output_name="backtest_report", metadata={
            "runs": len(report.metrics), "elapsed_s": round(elapsed, 3),
            "metrics": dg.MetadataValue.md(markdown_table(report.metrics)),
            "chart": image("equity and drawdown", report.png),
            **{f"{m}": float(report.metrics[m].iloc[0]) for m in ("total_return", "sharpe", "max_drawdown")},
        })
        yield dg.Output(report.trades, output_name="backtest_trades", metadata={
            "trades": len(report.trades)})

    return backtest_report
