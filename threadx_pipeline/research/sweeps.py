"""``sweep_<tf>``: every grid combination backtested on one symbol-month, continuing the
previous month's run.

Each month starts every combination from the state it ended the previous month in
(:mod:`threadx_core.sweep.chained`): the months of a symbol are one continuous run, a position open
at a month's end stays open into the next. The previous month is not a declared dependency (it
would cost every backfill a layer: docs/ARCHITECTURE.md, Asset graph); the body reads it from
earlier in the step, else from the warehouse, and computes (and stores) a previous month that is
not stored yet or was made from other bars, so a month's rows are the in-order chain's whatever
order, and whichever runs, Dagster materialises the months in.

A stored sweep whose run id (grid, input data versions, code version and the run id of the month
it continued: docs/ARCHITECTURE.md, Selection and research) equals the one this run would make is
reused, not recomputed: re-running a backfill over finished months only checks (metadata
``reused``). A month without bars (no trading) stores
:func:`threadx_core.research.months.empty_sweep`, no kernel call, with metadata ``empty = true``;
the next month starts a new chain.
"""

import time

import dagster as dg
import pandas as pd

from threadx_core import storage, times
from threadx_core.indicators.cache import chained_month_indicators
from threadx_core.research import months, provenance
from threadx_core.settings import Settings
from threadx_core.sweep import chained, stored
from threadx_core.sweep.grid import Grid
from threadx_pipeline.failures import explained
from threadx_pipeline.partitions import SINGLE_RUN, step_keys
from threadx_pipeline.pools import sweep_pool
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.research.indicators import reader, windows
from threadx_pipeline.resources import DeviceManagerResource
from threadx_pipeline.warehouse import WarehouseResource


def build_sweep(tf: str, settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``sweep_<tf>`` asset over the settings' sweep grid."""
    grid = settings.sweep_grid()
    grid_digest = grid.digest()
    code_version = provenance.code_version()
    bb_periods, atr_windows = windows(settings)
    name = f"sweep_{tf}"
    first_month = times.month_label(times.parse_month(settings.universe.start_month))

    def run_id(bars: pd.DataFrame, cache: pd.DataFrame, previous_run_id: str) -> str:
        return provenance.continued_run_id(grid_digest, (bars, cache), previous_run_id, code_version)

    @dg.asset(
        name=name, partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
        kinds={"numba", "parquet"}, code_version=code_version, backfill_policy=SINGLE_RUN,
        ins={"ohlcv": dg.AssetIn(f"ohlcv_{tf}"), "indicators": dg.AssetIn(f"indicators_{tf}")},
        metadata={"timeframe": tf}, pool=sweep_pool(settings.device.mode),
    )
    def sweep(context: dg.AssetExecutionContext, devices: DeviceManagerResource, warehouse: WarehouseResource,
              ohlcv: dict[str, pd.DataFrame], indicators: dict[str, pd.DataFrame]) -> dg.Output:
        """Every combination of the ``[grid]`` backtested on each symbol-month of ``tf`` bars of the
        step, from the state it ended the previous month in: parameters, every metric of the
        month, its daily returns and its end states; an empty month (no bar) as the empty sweep
        partition."""
        bars = {(symbol, month): ohlcv[partition] for partition, symbol, month in step_keys(context)}
        caches = {(symbol, month): indicators[partition] for partition, symbol, month in step_keys(context)}
        frames: dict[tuple[str, str], pd.DataFrame] = {}
        reused = 0
        for partition, symbol, month in step_keys(context):
            with explained(name, symbol, month):
                label = f"{symbol} {month} {tf}"
                started = time.perf_counter()
                read_inputs = inputs_reader(warehouse, bars, caches, tf, symbol, bb_periods, atr_windows)
                run_month = _month_runner(devices, context.log, grid, tf, symbol)
                if bars[(symbol, month)].empty:
                    # no trading this month: no bar for a kernel (docs/ARCHITECTURE.md, Asset graph)
                    empty_id = run_id(bars[(symbol, month)], caches[(symbol, month)], "")
                    frame = months.empty_sweep(grid, tf, empty_id)
                    result = chained.MonthSweep(frame, False, None, "no trading", {})
                    context.log.warning(f"{label}: no bar (no trading this month): stored as an empty month, "
                                        f"no combination run; it is a hole for full_period and walk_forward, "
                                        f"the next month starts a new chain")
                else:
                    result = chained.chained_month_sweep(
                        month, first_month, read_inputs,
                        reader(warehouse, frames, name, symbol), run_id, run_month)
                    frame = result.frame
                for when, made in result.computed.items():
                    # not stored yet (its own run, of this backfill or a later one, reuses it)
                    storage.write_partition(made, warehouse.partition(name, symbol, when))
                    context.log.info(f"{symbol} {when} {tf}: computed and stored as the start of {month} "
                                     f"(it was not stored, or was made from other bars)")
                if result.chain_start not in (None, "first", "no trading"):
                    context.log.warning(f"{label}: starts a new chain, flat: {result.chain_start} (a hole)")
                if result.reused:
                    reused += 1
                    context.log.info(f"{label}: reused, inputs and code unchanged "
                                     f"(run {frame.attrs['run_id']})")
                elapsed = time.perf_counter() - started
                frames[(symbol, month)] = frame
                n_bars = len(bars[(symbol, month)])
                open_positions = int((frame[stored.CARRY_PREFIX + "side"] != 0).sum()) \
                    if stored.has_end_state(frame) else 0
                context.add_asset_metadata({
                    "combinations": len(grid), "bars": n_bars, "device": frame.attrs.get("devices", "-"),
                    "reused": result.reused, "elapsed_s": round(elapsed, 3),
                    "bar_combinations_per_s": round(n_bars * len(grid) / elapsed) if elapsed > 0 else 0,
                    "run_id": frame.attrs["run_id"], "grid_digest": grid_digest,
                    "continues": result.previous or "-", "chain_start": result.chain_start or "-",
                    "computed_months": list(result.computed),
                    "open_positions": open_positions,
                    "combinations_with_trades": int((frame["n_trades"] > 0).sum()),
                    "empty": months.is_empty(frame),
                }, partition_key=partition)
        if reused:
            context.log.info(f"{name}: {reused} of {len(frames)} partition(s) reused")
        return dg.Output({partition: frames[(symbol, month)]
                          for partition, symbol, month in step_keys(context)})

    return sweep


def inputs_reader(warehouse: WarehouseResource, bars: dict[tuple[str, str], pd.DataFrame],
                   caches: dict[tuple[str, str], pd.DataFrame], tf: str, symbol: str, bb_periods: list[int],
                   atr_windows: list[tuple[int, str]]) -> chained.ReadInputs:
    """``symbol``'s ``(bars, indicator cache)`` of a month: from the step, else the warehouse; a
    cache not stored yet is made as its own run makes it (an empty month gets an empty cache)."""
    read_bars = reader(warehouse, bars, f"ohlcv_{tf}", symbol)
    read_cache = reader(warehouse, caches, f"indicators_{tf}", symbol)

    def read(month: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        month_bars = read_bars(month)
        if month_bars is None or month_bars.empty:
            return None if month_bars is None else (month_bars, pd.DataFrame())
        cache = read_cache(month)
        if cache is None:
            cache = chained_month_indicators(month, read_bars, read_cache, bb_periods, atr_windows).frame
        return month_bars, cache

    return read


def _month_runner(devices: DeviceManagerResource, log: dg.DagsterLogManager, grid: Grid, tf: str,
                  symbol: str) -> chained.RunMonth:
    """A month of ``symbol``'s sweep on the device manager, stored form."""
    def run(month: str, bars: pd.DataFrame, cache: pd.DataFrame, start: pd.DataFrame | None,
            run_id: str, previous_run_id: str) -> pd.DataFrame:
        output = devices.sweep(bars, grid, cache, log.info, log.warning, f"{symbol} {month} {tf}", start)
        return stored.to_frame(output, tf, run_id, previous_run_id)

    return run
