"""``backtest_report`` / ``backtest_trades``: the featured parameter sets, run in full by the
reference engine, each month continuing the previous month's runs.

As for the sweeps (:mod:`threadx_pipeline.research.sweeps`), the body reads the previous month
itself: from earlier in the step, else the warehouse; a previous month not stored yet, or made
from other bars, is run again in memory first (featured runs are a few engine runs a month), never
stored by this step (its own run stores the same). Like the sweeps' and the indicator caches',
this previous month is not a declared dependency. Tried in Dagster 1.13: with a dependency of
either key on the other's previous month, a backfill's target reaches month m + 1 for one key and
not the other (a dependency across keys is followed, a self-dependency is not) and the UI's launch
is refused; with each key on its own previous month only, automation turns one requested month
into run requests for the month before it too (``get_requested_partitions`` of the evaluation:
2024-02 and 2024-03 for a 2024-03 request). The run id names the month it continued, so it
changes when a month before it is re-made."""

import json
import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from threadx_core import times
from threadx_core.engine import Params, carry
from threadx_core.present.tables import markdown_table
from threadx_core.research import provenance
from threadx_core.research.featured import END_STATES, FeaturedReport, featured, featured_question
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_core.sweep import chained
from threadx_core.sweep.chained import continue_month
from threadx_pipeline.failures import explained
from threadx_pipeline.metadata import image
from threadx_pipeline.partitions import SINGLE_RUN, step_keys
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.research.indicators import reader, windows
from threadx_pipeline.research.sweeps import inputs_reader
from threadx_pipeline.warehouse import WarehouseResource

#: The core sources that decide a featured run: the reference engine, its metrics, the runs.
FEATURED_MODULES = ("threadx_core.engine.backtest", "threadx_core.engine.frames", "threadx_core.engine.nb",
                    "threadx_core.engine.carry", "threadx_core.metrics.nb", "threadx_core.metrics.summary",
                    "threadx_core.research.featured", "threadx_core.sweep.chained")
#: Every price chart export of a featured month starts with this: ``backtest_report_price_<tf>.png``
#: under ``reports/<symbol>/<month>/`` (the first featured set per timeframe).
PRICE_PREFIX = "backtest_report_price"


def build_report(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """``backtest_report`` (equity curves, metrics and a chart) and ``backtest_trades``."""
    tfs = settings.timeframes.sweep
    runs = settings.featured()
    ins = {**{f"ohlcv_{tf}": dg.AssetIn(f"ohlcv_{tf}") for tf in tfs},
           **{f"indicators_{tf}": dg.AssetIn(f"indicators_{tf}") for tf in tfs}}
    code_version = modules_version(*FEATURED_MODULES)
    bb_periods, atr_windows = windows(settings)
    first_month = times.month_label(times.parse_month(settings.universe.start_month))
    out = {"group_name": GROUP, "owners": OWNERS, "kinds": {"numba", "parquet"},
           "code_version": code_version}

    @dg.multi_asset(
        name="backtest_report", partitions_def=partitions_def, ins=ins, backfill_policy=SINGLE_RUN,
        outs={"backtest_report": dg.AssetOut(**out, description=(
                  "Equity, position and drawdown per bar of each featured run (run, timeframe)")),
              "backtest_trades": dg.AssetOut(**out, description=(
                  "Every trade of each featured run (run, timeframe)"))},
    )
    def backtest_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                        **frames: dict[str, pd.DataFrame]) -> Iterator[dg.Output]:
        """Every ``[report] featured`` set backtested on each symbol-month of the step, on each sweep
        timeframe, with the month's indicator caches, from the state it ended the previous month
        in; an empty month (no bar) stores no row, with metadata ``empty = true``. The price chart of
        the first featured set on each timeframe is in the metadata (``backtest_report_price_<tf>``)
        and exported under ``<warehouse>/reports/<symbol>/<month>/``."""
        equity, trades = {}, {}
        keys = step_keys(context)
        step = {tf: ({(s, m): frames[f"ohlcv_{tf}"][p] for p, s, m in keys},
                     {(s, m): frames[f"indicators_{tf}"][p] for p, s, m in keys}) for tf in tfs}
        reports: dict[tuple[str, str], pd.DataFrame] = {}
        for partition, symbol, month in keys:
            with explained("backtest_report", symbol, month):
                started = time.perf_counter()
                months = _FeaturedMonths(
                    {tf: inputs_reader(warehouse, *step[tf], tf, symbol, bb_periods, atr_windows)
                     for tf in tfs},
                    reader(warehouse, reports, "backtest_report", symbol), runs, code_version,
                    f"{symbol}: featured runs")
                if all(step[tf][0][(symbol, month)].empty for tf in tfs):
                    report = featured({tf: step[tf][0][(symbol, month)] for tf in tfs},
                                      {tf: step[tf][1][(symbol, month)] for tf in tfs}, runs, "")
                    continued = None
                else:
                    result = continue_month(month, first_month, months, reuse=False)
                    report, continued = months.reports[month], result.previous
                    if result.computed:
                        context.log.info(f"{symbol} {month}: ran the featured runs of "
                                         f"{', '.join(result.computed)} again in memory (not stored "
                                         f"yet) to start from their end")
                reports[(symbol, month)] = report.equity
                elapsed = time.perf_counter() - started
                for row in report.metrics.itertuples():
                    context.log.info(f"{symbol} {month} {row.run}: {row.n_trades} trades, "
                                     f"return {row.total_return:.2%}, Sharpe {row.sharpe:.2f}")
                equity[partition], trades[partition] = report.equity, report.trades
                empty = report.metrics.empty  # no trading this month: no bar to run on
                if empty:
                    context.log.warning(f"{symbol} {month}: no bar (no trading this month): no featured "
                                        f"run, stored as an empty month")
                prices = {f"{PRICE_PREFIX}_{tf}.png": png
                          for tf, png in report.price_pngs(f"{symbol} {month}").items()}
                exported = warehouse.export(prices, symbol, month, replacing=PRICE_PREFIX)
                context.add_asset_metadata({
                    **{name.removesuffix(".png"): image(name, png) for name, png in prices.items()},
                    **{f"{name.removesuffix('.png')}_file": dg.MetadataValue.path(str(exported[name]))
                       for name in prices},
                    "runs": len(report.metrics), "elapsed_s": round(elapsed, 3), "empty": empty,
                    "continues": continued or "-", "open_positions": _open_positions(report),
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


def _open_positions(report: FeaturedReport) -> int:
    """Featured runs holding a position at the month's last candle (marked to market, carried)."""
    ends = json.loads(report.equity.attrs.get(END_STATES, "{}"))
    return sum(1 for values in ends.values() if values[carry.COLUMNS.index("side")] != 0)


class _FeaturedMonths:
    """The featured runs of one symbol as :class:`threadx_core.sweep.chained.MonthRuns`: a month's
    inputs are every sweep timeframe's bars and cache; its partition the report's equity frame."""

    def __init__(self, inputs: dict[str, chained.ReadInputs], stored: chained.ReadSweep, runs: list[Params],
                 code_version: str, title: str) -> None:
        self._inputs, self.stored, self._runs = inputs, stored, runs
        self._code, self._title = code_version, title
        self.reports: dict[str, FeaturedReport] = {}

    def inputs(self, month: str) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None:
        got = {tf: read(month) for tf, read in self._inputs.items()}
        return None if any(v is None for v in got.values()) else got

    @staticmethod
    def empty(inputs: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> bool:
        return all(bars.empty for bars, _ in inputs.values())

    @staticmethod
    def carries(frame: pd.DataFrame) -> bool:
        return END_STATES in frame.attrs

    def run_id(self, inputs: dict[str, tuple[pd.DataFrame, pd.DataFrame]], previous_run_id: str) -> str:
        frames = [frame for pair in inputs.values() for frame in pair]
        return provenance.continued_run_id(featured_question(self._runs), frames, previous_run_id, self._code)

    def run(self, month: str, inputs: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
            previous: pd.DataFrame | None, run_id: str, previous_run_id: str) -> pd.DataFrame:
        report = featured({tf: bars for tf, (bars, _) in inputs.items()},
                          {tf: cache for tf, (_, cache) in inputs.items()}, self._runs,
                          f"{self._title} {month}", previous)
        report.equity.attrs.update(run_id=run_id, previous_run_id=previous_run_id)
        self.reports[month] = report
        return report.equity
