"""``leaderboard`` (unpartitioned): every symbol × sweep timeframe side by side, ranked, with a chart
and ``<warehouse>/reports/leaderboard.csv`` (issue 15 item 2)."""

import json

import dagster as dg

from threadx_core.present.plots import leaderboard_png
from threadx_core.present.tables import markdown_table
from threadx_core.research import leaderboard as board
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_pipeline.failures import explained
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import SYMBOLS
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.research.full_period import ASSET as FULL_PERIOD
from threadx_pipeline.warehouse import WarehouseResource

ASSET = "leaderboard"
WALK_FORWARD = "walk_forward"
CSV = "leaderboard.csv"
#: The core sources that decide the leaderboard from the stored reports.
LEADERBOARD_MODULES = ("threadx_core.research.leaderboard", "threadx_core.present.plots")
#: The columns of the metadata table (the CSV has them all).
SHOWN = ("rank", "symbol", "timeframe", "selection", "oos_return", "oos_sharpe", "deflated_sharpe", "pbo",
         "oos_sharpe_low", "oos_sharpe_high", "stability", "oos_months", "reason")


def build_leaderboard(settings: Settings) -> dg.AssetsDefinition:
    """The ``leaderboard`` asset over the per-symbol reports of every registered symbol."""
    tfs = settings.timeframes.sweep
    in_sample_months = settings.walkforward.in_sample_months

    # every symbol of each report (AllPartitionMapping): the lineage, the staleness and the
    # automation condition see them; the body reads what they store (the walk-forward's trust
    # statistics live in its exports, not in its stored steps), so no data passes through the edge
    @dg.asset(
        name=ASSET, group_name=GROUP, owners=OWNERS, kinds={"pandas", "csv"},
        code_version=modules_version(*LEADERBOARD_MODULES),
        deps=[dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping())
              for name in (WALK_FORWARD, FULL_PERIOD)],
    )
    def leaderboard(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Every registered symbol × ``[timeframes] sweep`` entry, one row each: the walk-forward's
        latest selection and its parameters, out-of-sample return and Sharpe, deflated Sharpe,
        PBO, the bootstrap interval of the out-of-sample Sharpe, parameter stability, the months
        covered and the selection's full-period figures, ranked by deflated Sharpe then
        out-of-sample Sharpe (:mod:`threadx_core.research.leaderboard`); a symbol or timeframe
        without a report keeps its row with the reason. Written atomically to
        ``<warehouse>/reports/leaderboard.csv`` (the asset's stored form); the metadata holds the
        table and a chart of the out-of-sample Sharpe coloured by deflated Sharpe."""
        symbols = sorted(context.instance.get_dynamic_partitions(SYMBOLS.name))
        walks, fulls, documents = {}, {}, {}
        for symbol in symbols:
            with explained(ASSET, symbol):
                walks[symbol] = warehouse.read_symbol(WALK_FORWARD, symbol)
                fulls[symbol] = warehouse.read_symbol(FULL_PERIOD, symbol)
                for tf in tfs:
                    path = warehouse.reports(symbol) / f"{tf}_selection.json"
                    if path.exists():
                        documents[symbol, tf] = json.loads(path.read_text())
        frame = board.leaderboard(symbols, tfs, walks, documents, fulls, in_sample_months=in_sample_months)
        for row in frame[frame["reason"] != ""].itertuples():
            context.log.warning(f"leaderboard {row.symbol} {row.timeframe}: {row.reason}")
        chart = leaderboard_png(frame, f"leaderboard: {len(symbols)} symbol(s) × {len(tfs)} timeframe(s)")
        exported = warehouse.export_shared({CSV: frame.to_csv(index=False).encode()})
        ranked = frame[frame["reason"] == ""]
        shown = frame.assign(rank=frame["rank"].astype(object).where(frame["rank"].notna(), "-"))  # unranked
        context.log.info(f"leaderboard: {len(ranked)} of {len(frame)} symbol × timeframe row(s) ranked, "
                         f"written to {exported[CSV]}")
        return dg.MaterializeResult(metadata={
            "rows": len(frame), "ranked": len(ranked), "csv": dg.MetadataValue.path(str(exported[CSV])),
            "top": (ranked["symbol"].iloc[0] + " " + ranked["selection"].iloc[0]) if len(ranked) else "-",
            "table": dg.MetadataValue.md(markdown_table(shown, SHOWN, label="rank")),
            "chart": image("leaderboard", chart)})

    return leaderboard
