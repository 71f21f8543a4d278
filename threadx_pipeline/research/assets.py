"""``indicators_<tf>`` (every window the grid needs, warmed up on the previous month) and
``backtest_report`` / ``backtest_trades`` (the featured parameter sets, run in full)."""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from threadx_core import months, storage
from threadx_core.indicator_cache import decode_states, month_indicators
from threadx_core.report import featured, markdown_table
from threadx_core.settings import Settings
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import previous_and_current_month, split
from threadx_pipeline.research.sweeps import build_best_by_run, build_sweep
from threadx_pipeline.resources import SettingsResource

GROUP = "research"


def windows(settings: Settings) -> tuple[list[int], list[tuple[int, str]]]:
    """Distinct Bollinger and ATR windows of the sweep grid and the featured sets together."""
    runs = [*settings.sweep_grid(), *settings.featured()]
    return (sorted({p.bb_period for p in runs}), sorted({(p.atr_period, p.atr_method) for p in runs}))


def build_indicators(tf: str, settings: Settings,
                     partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``indicators_<tf>`` asset."""
    bb_periods, atr_windows = windows(settings)

    @dg.asset(
        name=f"indicators_{tf}", partitions_def=partitions_def, group_name=GROUP, kinds={"parquet"},
        ins={"ohlcv": dg.AssetIn(f"ohlcv_{tf}", partition_mapping=previous_and_current_month(),
                                 metadata={"threadx/by_month": True})},
        metadata={"timeframe": tf, "bb_periods": bb_periods,
                  "atr_windows": [f"{p} {m}" for p, m in atr_windows]},
    )
    def indicators(context: dg.AssetExecutionContext, threadx: SettingsResource,
                   ohlcv: dict[str, pd.DataFrame]) -> dg.Output:
        """Bollinger middle/σ and ATR for every window the grid and featured sets need, for one
        symbol-month of ``tf`` bars; equal to the values computed on the whole series."""
        symbol, month = split(context.partition_key)
        before = months.previous(month)
        cfg = threadx.get()
        previous_cache = storage.partition_path(cfg.warehouse.root, f"indicators_{tf}", symbol, before)
        states = decode_states(storage.read_partition(previous_cache).attrs.get("atr_state")
                               if previous_cache.exists() else None)
        started = time.perf_counter()
        cache = month_indicators(ohlcv[month], ohlcv.get(before), states, bb_periods, atr_windows)
        elapsed = time.perf_counter() - started
        if cache.history == "none":
            context.log.warning(f"{symbol} {month} {tf}: no previous month, indicators start cold "
                                f"(the first bars of each window are NaN)")
        elif not cache.atr_exact:
            context.log.warning(f"{symbol} {month} {tf}: no cache for {before}; recursive ATRs are "
                                f"warmed up on {before}'s bars, converging but not exact")
        return dg.Output(cache.frame, metadata={
            "rows": len(cache.frame), "bb_periods": len(bb_periods), "atr_windows": len(atr_windows),
            "history": cache.history, "warmup_bars": cache.warmup_bars, "atr_exact": cache.atr_exact,
            "elapsed_s": round(elapsed, 4)})

    return indicators


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


def build(settings: Settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Per ``[timeframes] sweep`` entry an ``indicators_<tf>`` and a ``sweep_<tf>``; the featured
    report and ``best_by_run``."""
    tfs = settings.timeframes.sweep
    return [*(build_indicators(tf, settings, partitions_def) for tf in tfs),
            *(build_sweep(tf, partitions_def) for tf in tfs),
            build_report(settings, partitions_def), build_best_by_run(settings, partitions_def)]
