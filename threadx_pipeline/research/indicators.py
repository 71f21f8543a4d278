"""``indicators_<tf>``: every window the grid needs, warmed up on the previous month."""

import time

import dagster as dg
import pandas as pd

from threadx_core import times
from threadx_core.indicators.cache import decode_states, month_indicators
from threadx_core.research.provenance import modules_version
from threadx_core.settings import Settings
from threadx_pipeline.partitions import previous_and_current_month, split
from threadx_pipeline.research import GROUP, OWNERS
from threadx_pipeline.warehouse import WarehouseResource

#: The core sources that decide an indicator cache's values.
INDICATOR_MODULES = ("threadx_core.indicators.bollinger", "threadx_core.indicators.atr",
                     "threadx_core.indicators.nb", "threadx_core.indicators.cache")


def windows(settings: Settings) -> tuple[list[int], list[tuple[int, str]]]:
    """Distinct Bollinger and ATR windows of the sweep grid and the featured sets together."""
    runs = [*settings.sweep_grid(), *settings.featured()]
    return (sorted({p.bb_period for p in runs}), sorted({(p.atr_period, p.atr_method) for p in runs}))


def build_indicators(tf: str, settings: Settings,
                     partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``indicators_<tf>`` asset."""
    bb_periods, atr_windows = windows(settings)
    name = f"indicators_{tf}"

    @dg.asset(
        name=name, partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
        kinds={"numba", "parquet"}, code_version=modules_version(*INDICATOR_MODULES),
        ins={"ohlcv": dg.AssetIn(f"ohlcv_{tf}", partition_mapping=previous_and_current_month(),
                                 metadata={"threadx/by_month": True})},
        metadata={"timeframe": tf, "bb_periods": bb_periods,
                  "atr_windows": [f"{p} {m}" for p, m in atr_windows]},
    )
    def indicators(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   ohlcv: dict[str, pd.DataFrame]) -> dg.Output:
        """Bollinger middle/σ and ATR for every window the grid and featured sets need, for one
        symbol-month of ``tf`` bars; equal to the values computed on the whole series."""
        symbol, month = split(context.partition_key)
        before = times.previous_month(month)
        previous_cache = warehouse.read(name, symbol, before)
        states = decode_states(previous_cache.attrs.get("atr_state") if previous_cache is not None else None)
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
