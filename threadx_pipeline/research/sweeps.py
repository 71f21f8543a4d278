"""``sweep_<tf>``: every grid combination backtested on one symbol-month."""

import time

import dagster as dg
import pandas as pd

from threadx_core.research import provenance
from threadx_core.settings import Settings
from threadx_core.sweep import stored
from threadx_pipeline.partitions import split
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.resources import DeviceManagerResource


def build_sweep(tf: str, settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``sweep_<tf>`` asset over the settings' sweep grid."""
    grid = settings.sweep_grid()
    code_version = provenance.code_version()

    @dg.asset(
        name=f"sweep_{tf}", partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
        kinds={"numba", "parquet"}, code_version=code_version,
        ins={"ohlcv": dg.AssetIn(f"ohlcv_{tf}"), "indicators": dg.AssetIn(f"indicators_{tf}")},
        metadata={"timeframe": tf},
    )
    def sweep(context: dg.AssetExecutionContext, devices: DeviceManagerResource, ohlcv: pd.DataFrame,
              indicators: pd.DataFrame) -> dg.Output:
        """Every combination of the ``[grid]`` backtested on one symbol-month of ``tf`` bars:
        parameters, every metric and the daily returns (to chain months without re-running)."""
        symbol, month = split(context.partition_key)
        label = f"{symbol} {month} {tf}"
        started = time.perf_counter()
        output = devices.sweep(ohlcv, grid, indicators, context.log.info, context.log.warning, label)
        elapsed = time.perf_counter() - started
        versions = [provenance.frame_version(ohlcv), provenance.frame_version(indicators)]
        grid_digest = grid.digest()
        run_id = provenance.run_id(grid_digest, versions, code_version)
        frame = stored.to_frame(output, tf, run_id)
        bar_combos = len(ohlcv) * len(grid)
        return dg.Output(frame, metadata={
            "combinations": len(grid), "bars": len(ohlcv), "device": ", ".join(output.devices),
            "elapsed_s": round(elapsed, 3), "bar_combinations_per_s": round(bar_combos / elapsed),
            "run_id": run_id, "grid_digest": grid_digest,
            "combinations_with_trades": int((frame["n_trades"] > 0).sum()),
        })

    return sweep
