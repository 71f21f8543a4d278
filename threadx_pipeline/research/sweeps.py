"""``sweep_<tf>``: every grid combination backtested on one symbol-month.

A stored sweep whose run id (grid, input data versions and code version:
docs/ARCHITECTURE.md, Selection and research) equals the one this run would make is reused,
not recomputed: re-running a backfill over finished months only checks (metadata ``reused``).
A month without bars (no trading) stores :func:`threadx_core.research.months.empty_sweep`, no
kernel call, with metadata ``empty = true``.
"""

import time

import dagster as dg
import pandas as pd

from threadx_core.research import months, provenance
from threadx_core.settings import Settings
from threadx_core.sweep import stored
from threadx_pipeline.failures import explained
from threadx_pipeline.partitions import SINGLE_RUN, step_keys
from threadx_pipeline.pools import sweep_pool
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.resources import DeviceManagerResource
from threadx_pipeline.warehouse import WarehouseResource


def build_sweep(tf: str, settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``sweep_<tf>`` asset over the settings' sweep grid."""
    grid = settings.sweep_grid()
    code_version = provenance.code_version()

    @dg.asset(
        name=f"sweep_{tf}", partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
        kinds={"numba", "parquet"}, code_version=code_version, backfill_policy=SINGLE_RUN,
        ins={"ohlcv": dg.AssetIn(f"ohlcv_{tf}"), "indicators": dg.AssetIn(f"indicators_{tf}")},
        metadata={"timeframe": tf}, pool=sweep_pool(settings.device.mode),
    )
    def sweep(context: dg.AssetExecutionContext, devices: DeviceManagerResource, warehouse: WarehouseResource,
              ohlcv: dict[str, pd.DataFrame], indicators: dict[str, pd.DataFrame]) -> dg.Output:
        """Every combination of the ``[grid]`` backtested on each symbol-month of ``tf`` bars of the
        step: parameters, every metric and the daily returns (to chain months without re-running);
        an empty month (no bar) as the empty sweep partition."""
        grid_digest, frames, reused = grid.digest(), {}, 0
        for partition, symbol, month in step_keys(context):
            with explained(f"sweep_{tf}", symbol, month):
                label = f"{symbol} {month} {tf}"
                bars, cache = ohlcv[partition], indicators[partition]
                versions = [provenance.frame_version(bars), provenance.frame_version(cache)]
                run_id = provenance.run_id(grid_digest, versions, code_version)
                stored_frame = warehouse.read(f"sweep_{tf}", symbol, month)
                started = time.perf_counter()
                if bars.empty:
                    # no trading this month: no bar for a kernel (docs/ARCHITECTURE.md, Asset graph)
                    frame, devices_used = months.empty_sweep(grid, tf, run_id), "-"
                    context.log.warning(f"{label}: no bar (no trading this month): stored as an empty month, "
                                        f"no combination run; it is a hole for full_period and walk_forward")
                elif stored_frame is not None and stored_frame.attrs.get("run_id") == run_id:
                    # same grid, inputs and code: the stored rows are what a new sweep would give
                    frame, devices_used = stored_frame, stored_frame.attrs.get("devices", "-")
                    reused += 1
                    context.log.info(f"{label}: reused, inputs and code unchanged (run {run_id})")
                else:
                    output = devices.sweep(bars, grid, cache, context.log.info, context.log.warning, label)
                    frame, devices_used = stored.to_frame(output, tf, run_id), ", ".join(output.devices)
                elapsed = time.perf_counter() - started
                frames[partition] = frame
                context.add_asset_metadata({
                    "combinations": len(grid), "bars": len(bars), "device": devices_used,
                    "reused": stored_frame is frame, "elapsed_s": round(elapsed, 3),
                    "bar_combinations_per_s": round(len(bars) * len(grid) / elapsed) if elapsed > 0 else 0,
                    "run_id": run_id, "grid_digest": grid_digest,
                    "combinations_with_trades": int((frame["n_trades"] > 0).sum()),
                    "empty": months.is_empty(frame),
                }, partition_key=partition)
        if reused:
            context.log.info(f"sweep_{tf}: {reused} of {len(frames)} partition(s) reused")
        return dg.Output(frames)

    return sweep
