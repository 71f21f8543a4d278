"""``full_period`` [symbol]: full-period metrics of every combination over a range of stored months,
aggregated from the monthly sweeps (daily returns, trade accumulators, end states) without
re-running anything: each range one window of the continuing runs, closed at its last close."""

import json

import dagster as dg
import pandas as pd

from threadx_core.present.tables import ranking_table
from threadx_core.research import full_period as periods
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_pipeline.failures import explained
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import SYMBOLS, every_month_of
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.warehouse import WarehouseResource

ASSET = "full_period"
#: The core sources that decide full-period metrics from the stored sweeps.
FULL_PERIOD_MODULES = ("threadx_core.metrics.returns", "threadx_core.metrics.trades",
                       "threadx_core.research.chain", "threadx_core.research.months",
                       "threadx_core.research.selection", "threadx_core.research.full_period")


class FullPeriodConfig(dg.Config):
    """The month range, ``YYYY-MM``, inclusive; ``first``/``last`` default to the first/last month
    stored for any sweep timeframe of the symbol."""

    first: str | None = None
    last: str | None = None


def build_full_period(settings: Settings) -> dg.AssetsDefinition:
    """The ``full_period`` asset over the stored ``sweep_<tf>`` months of a symbol."""
    tfs = settings.timeframes.sweep
    chosen = settings.selection

    @dg.asset(
        name=ASSET, partitions_def=SYMBOLS, group_name=GROUP, owners=OWNERS,
        kinds={"pandas", "parquet"}, code_version=modules_version(*FULL_PERIOD_MODULES),
        ins=every_month_of([f"sweep_{tf}" for tf in tfs]),
    )
    def full_period(context: dg.AssetExecutionContext, config: FullPeriodConfig, warehouse: WarehouseResource,
                    **sweeps: dict[str, pd.DataFrame]) -> dg.Output:
        """Every combination of every sweep timeframe over the months ``first``..``last`` of the run
        config (default: every stored month), as one window of each combination's continuing run
        per chain, closed at its last close (``open_at_end`` marks the rows whose position was still
        open there; metadata ``open_at_end`` counts them)
        (a hole — a month not stored for a timeframe, or without trading — ends one chain and starts
        another, with a warning naming the symbol and the months; no account spans it; daily-based
        Sharpe, volatility, drawdown: not comparable with a month's per-bar figures); stored with
        its ``daily_returns`` and the chain's ``first``/``last`` month, ranked by ``[selection]``
        within each chain; each chain's rows (CSV) and charts (PNG) are exported as
        ``<warehouse>/reports/<symbol>/full_period_<first>_<last>*``. Fails naming the symbol, the
        timeframe and the month when the range's first or last month is not stored. Metadata:
        the range, its ``chains`` and ``holes``; ``csv``, ``top_k`` and the charts are the latest
        chain's."""
        symbol = context.partition_key
        with explained(ASSET, symbol):
            result = periods.full_periods({tf: sweeps[f"sweep_{tf}"] for tf in tfs}, config.first,
                                          config.last, objective=chosen.objective,
                                          min_trades=chosen.min_trades, top_k=chosen.top_k, title=symbol)
        if result.warning:
            context.log.warning(result.warning)
        files, csvs = {}, []
        for period in result.periods:
            stem = f"{ASSET}_{period.first}_{period.last}"
            files[f"{stem}.csv"] = period.frame.drop(columns="daily_returns").to_csv(index=False).encode()
            files.update({f"{stem}_{name}.png": png for name, png in period.charts.items()})
            csvs.append(f"{stem}.csv")
        # beside the exports of other ranges, which stay: nothing is replaced but these files
        exported = warehouse.export(files, symbol)
        for period, csv in zip(result.periods, csvs, strict=True):
            context.log.info(f"{symbol} {period.first}..{period.last}: {len(period.frame)} combinations "
                             f"over {len(period.months)} month(s) ({period.days} days), exported to "
                             f"{exported[csv]}")
        latest = result.periods[-1] if result.periods else None
        frame = result.frame
        return dg.Output(frame, metadata={
            "first": result.first, "last": result.last,
            "chains": dg.MetadataValue.json([f"{p.first}..{p.last}" for p in result.periods]),
            "holes": dg.MetadataValue.json(result.holes),
            "months": len(json.loads(frame.attrs["months"])), "days": len(json.loads(frame.attrs["days"])),
            "combinations": len(frame), "objective": chosen.objective, "min_trades": chosen.min_trades,
            # rows whose position was still open at the range's last candle, closed there as "end"
            "open_at_end": int(frame["open_at_end"].sum()) if "open_at_end" in frame else 0,
            **({} if latest is None else {
                "csv": dg.MetadataValue.path(str(exported[csvs[-1]])),
                "top_k": dg.MetadataValue.md(ranking_table(latest.top, chosen.objective, (
                    "n_trades", "total_return", "sharpe", "max_drawdown", "final_equity"))),
                **{name: image(name, png) for name, png in latest.charts.items()}}),
        })

    return full_period
