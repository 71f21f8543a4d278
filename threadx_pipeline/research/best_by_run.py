"""``best_by_run``: the best combinations across the sweep timeframes of one symbol-month, the
Pareto front, and the selection re-run in full."""


import dagster as dg
import pandas as pd

from threadx_core import storage
from threadx_core.present.plots import objective_pngs, pareto_png
from threadx_core.research import selection
from threadx_core.research.featured import markdown_table, selection_run
from threadx_core.settings import Settings
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import split
from threadx_pipeline.resources import SettingsResource

GROUP = "research"
PARAM_COLUMNS = ("timeframe", "bb_period", "bb_std", "atr_period", "atr_mult")


def build_best_by_run(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``best_by_run`` asset over every ``sweep_<tf>`` of the month (with the ``ohlcv_<tf>`` and
    ``indicators_<tf>`` they were swept on, to re-run the selection)."""
    tfs = settings.timeframes.sweep
    ins = {f"{asset}_{tf}": dg.AssetIn(f"{asset}_{tf}") for asset in ("sweep", "ohlcv", "indicators")
           for tf in tfs}

    @dg.asset(name="best_by_run", partitions_def=partitions_def, group_name=GROUP, kinds={"parquet"}, ins=ins)
    def best_by_run(context: dg.AssetExecutionContext, threadx: SettingsResource,
                    **frames: pd.DataFrame) -> dg.Output:
        """The ``top_k`` combinations by ``[selection] objective`` (min-trades filter, metric
        directions, tie-breaks of DESIGN.md §8) across the sweep timeframes, and the Pareto
        front of total return vs max drawdown; the run id names grid, data and code. Rank 1
        (when a row passes the filter) is re-run by the reference engine, which must reproduce
        its stored result (else the asset fails), and exported: trades (CSV, Parquet), the
        selection (JSON), its equity + drawdown chart."""
        symbol, month = split(context.partition_key)
        chosen = threadx.get().selection
        sweeps = [frames[f"sweep_{tf}"] for tf in tfs]
        results = pd.concat([s.drop(columns="daily_returns") for s in sweeps], ignore_index=True)
        top, front = selection.best(results, chosen.objective, min_trades=chosen.min_trades,
                                    top_k=chosen.top_k)
        run_id = selection.run_id("|".join(s.attrs.get("run_id", "") for s in sweeps), [], "")
        top = top.assign(run_id=run_id)
        eligible = results[results["n_trades"] >= chosen.min_trades]
        title = f"{symbol} {month}"
        charts = {"pareto_chart": pareto_png(eligible, front, f"{title}: total return vs max drawdown")}
        folder = threadx.get().warehouse.root / "reports" / symbol / month
        selected, files = {}, {}
        if len(top):
            charts.update(objective_pngs(eligible, top[chosen.objective].iloc[0], chosen.objective, title))
            tf = top["timeframe"].iloc[0]
            rerun = selection_run(top.iloc[0], frames[f"ohlcv_{tf}"], frames[f"indicators_{tf}"],
                                  objective=chosen.objective, title=title)
            files = {f"best_by_run_{name}": data for name, data in rerun.files().items()}
            charts["selection_equity"] = rerun.png
            selected = {"selection": rerun.selection["run"], "selection_trades": len(rerun.trades),
                        "selection_trades_csv": dg.MetadataValue.path(str(folder / "best_by_run_trades.csv"))}
        files["best_by_run.csv"] = top.to_csv(index=False).encode()
        files.update({f"best_by_run_{name}.png": png for name, png in charts.items()})
        storage.write_exports(folder, "best_by_run", files)
        shown = ("rank", *PARAM_COLUMNS, chosen.objective, "n_trades", "total_return", "max_drawdown")
        context.log.info(f"{symbol} {month}: {len(top)} best of {len(results)} rows by {chosen.objective}; "
                         f"Pareto front {len(front)} points; run {run_id}")
        return dg.Output(top, metadata={
            "run_id": run_id, "objective": chosen.objective, "min_trades": chosen.min_trades,
            "reports": dg.MetadataValue.path(str(folder)),
            "candidates": len(results), "eligible": len(eligible),
            "top_k": dg.MetadataValue.md(markdown_table(top, tuple(dict.fromkeys(shown)), label="rank")),
            "pareto_front": dg.MetadataValue.md(markdown_table(
                front, (*PARAM_COLUMNS, "total_return", "max_drawdown", "sharpe"), label="timeframe")),
            **{name: image(name, png) for name, png in charts.items()}, **selected,
        })

    return best_by_run
