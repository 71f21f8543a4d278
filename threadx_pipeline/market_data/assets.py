"""``raw_1m`` (1m truth, from the configured source) and ``ohlcv_<tf>`` (resampled from it).

Each asset body reads its input, calls one ``threadx_core`` function, and returns the frame with
metadata; its checks run on the frame being stored, per partition, and show in the UI.
"""


import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from threadx_core import storage
from threadx_core.data import quality
from threadx_core.data.ingest import ingest_month
from threadx_core.data.resample import resample
from threadx_core.settings import Settings
from threadx_pipeline.partitions import split
from threadx_pipeline.resources import MarketDataResource, SettingsResource

GROUP = "market_data"


class IngestConfig(dg.Config):
    """Run configuration of ``raw_1m``."""

    force: bool = False
    """Fetch the whole month again even when it is finished and complete."""


def _time_range(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    if frame.empty:
        return {"first": dg.MetadataValue.text("-"), "last": dg.MetadataValue.text("-")}
    return {"first": dg.MetadataValue.text(str(frame["open_time"].iloc[0])),
            "last": dg.MetadataValue.text(str(frame["open_time"].iloc[-1]))}


def _check(name: str, asset: str, outcome: quality.CheckOutcome,
           severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, asset_key=asset, passed=outcome.passed, severity=severity,
                               description=outcome.description, metadata=outcome.metadata)


def build_raw_1m(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``raw_1m`` asset over ``partitions_def``."""

    @dg.asset(
        name="raw_1m", partitions_def=partitions_def, group_name=GROUP, kinds={"parquet"},
        metadata={"threadx/schema": "raw_1m"},
        check_specs=[
            dg.AssetCheckSpec("schema_valid", asset="raw_1m",
                              description="pandera raw_1m schema: dtypes, prices > 0, OHLC coherence"),
            dg.AssetCheckSpec("unique_sorted", asset="raw_1m",
                              description="open_time unique and strictly increasing"),
            dg.AssetCheckSpec("completeness", asset="raw_1m",
                              description="present / expected minutes at or above [gaps] completeness_warn"),
        ],
    )
    def raw_1m(context: dg.AssetExecutionContext, config: IngestConfig, threadx: SettingsResource,
               market: MarketDataResource) -> Iterator:
        """Closed 1-minute candles of one symbol-month from the configured source; the current
        month is topped up (only what follows the last stored candle is fetched)."""
        symbol, month = split(context.partition_key)
        cfg = threadx.get()
        path = storage.partition_path(cfg.warehouse.root, "raw_1m", symbol, month)
        existing = storage.read_partition(path) if path.exists() else None
        started = time.perf_counter()
        result = ingest_month(market.source(), symbol, month, existing=existing, now=market.now(),
                              force=config.force, fill=cfg.gaps.fill,
                              max_fill_minutes=cfg.gaps.max_fill_minutes)
        elapsed = time.perf_counter() - started
        frame, gaps = result.frame, result.gaps
        context.log.info(f"{symbol} {month}: {result.action}, {result.fetched_rows} candles fetched, "
                         f"{len(frame)} stored, {gaps.missing} minutes missing, {elapsed:.2f} s")
        completeness = quality.completeness(gaps, cfg.gaps.completeness_warn)
        yield dg.Output(frame, metadata={
            "rows": len(frame), **_time_range(frame),
            "source": frame.attrs.get("source", "-"), "action": result.action,
            "fetched_rows": result.fetched_rows,
            "fetched_through": frame.attrs.get("fetched_through", "-"),
            "missing_minutes": gaps.missing, "completeness": round(gaps.ratio, 6),
            "first_gaps": completeness.metadata["first_gaps"],
            "filled_minutes": int(frame["filled"].sum()),
            "elapsed_s": round(elapsed, 3),
        })
        yield _check("schema_valid", "raw_1m", quality.schema_valid(frame, "raw_1m", f"{symbol} {month}"))
        yield _check("unique_sorted", "raw_1m", quality.unique_sorted(frame))
        yield _check("completeness", "raw_1m", completeness, dg.AssetCheckSeverity.WARN)

    return raw_1m


def build_ohlcv(tf: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``ohlcv_<tf>`` asset: ``raw_1m`` resampled to ``tf`` (DESIGN.md §4 rules)."""
    name = f"ohlcv_{tf}"

    @dg.asset(
        name=name, partitions_def=partitions_def, group_name=GROUP, kinds={"parquet"},
        ins={"raw_1m": dg.AssetIn("raw_1m")}, metadata={"threadx/schema": "ohlcv", "timeframe": tf},
        check_specs=[
            dg.AssetCheckSpec("schema_valid", asset=name,
                              description="pandera ohlcv schema: dtypes, prices > 0, OHLC coherence"),
            dg.AssetCheckSpec("resample_consistency", asset=name,
                              description=f"{tf} rebuilt from a finer timeframe equals {tf} built from 1m"),
        ],
    )
    def ohlcv(context: dg.AssetExecutionContext, raw_1m: pd.DataFrame) -> Iterator:
        symbol, month = split(context.partition_key)
        started = time.perf_counter()
        frame = resample(raw_1m, tf)
        elapsed = time.perf_counter() - started
        incomplete = int((~frame["complete"]).sum())
        context.log.info(f"{symbol} {month}: {len(raw_1m)} candles → {len(frame)} {tf} bars "
                         f"({incomplete} incomplete) in {elapsed:.3f} s")
        yield dg.Output(frame, metadata={
            "rows": len(frame), **_time_range(frame), "timeframe": tf,
            "incomplete_bins": incomplete, "elapsed_s": round(elapsed, 4),
        })
        yield _check("schema_valid", name, quality.schema_valid(frame, "ohlcv", f"{symbol} {month} {tf}"))
        yield _check("resample_consistency", name, quality.resample_consistency(raw_1m, frame, tf))

    return ohlcv


def build(settings: Settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """``raw_1m`` and one ``ohlcv_<tf>`` per ``[timeframes] derive`` entry."""
    return [build_raw_1m(partitions_def),
            *(build_ohlcv(tf, partitions_def) for tf in settings.timeframes.derive)]
