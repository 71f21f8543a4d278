"""``raw_1m`` (1m truth, from the configured source) and ``ohlcv_<tf>`` (resampled from it).

Each asset body reads its input, calls one ``threadx_core`` function per partition of the step
(one, or a backfill's range in calendar order), and returns ``{partition key: frame}`` with each
partition's metadata; its checks run on the frames being stored and show in the UI.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from threadx_core import schema, storage
from threadx_core.data import quality
from threadx_core.data.ingest import IngestError, MonthIngest, ingest_month
from threadx_core.data.resample import resample
from threadx_core.research.provenance import frame_version, modules_version
from threadx_core.settings import Settings
from threadx_pipeline.checks import check_result
from threadx_pipeline.failures import explained
from threadx_pipeline.market_data import GROUP, OWNERS
from threadx_pipeline.partitions import SINGLE_RUN, earlier_in_backfill, first_months, step_keys
from threadx_pipeline.pools import raw_pool
from threadx_pipeline.resources import MarketDataResource
from threadx_pipeline.warehouse import WarehouseResource

#: The core sources that decide raw_1m's rows: the month's ingest (top-up, merge, gap policy) and
#: the offline generator; a Binance client only passes on the exchange's candles.
INGEST_MODULES = ("threadx_core.data.ingest", "threadx_core.data.gaps", "threadx_core.data.sources",
                  "threadx_core.data.synthetic")
#: The root of the month graph: fetched, never derived.
RAW = dg.AssetKey("raw_1m")


class IngestConfig(dg.Config):
    """Run configuration of ``raw_1m``."""

    force: bool = False
    """Fetch the whole month again even when it is finished and complete."""


def _time_range(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    if frame.empty:
        return {"first": dg.MetadataValue.text("-"), "last": dg.MetadataValue.text("-")}
    return {"first": dg.MetadataValue.text(str(frame["open_time"].iloc[0])),
            "last": dg.MetadataValue.text(str(frame["open_time"].iloc[-1]))}


def build_raw_1m(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``raw_1m`` asset over ``partitions_def``."""
    policy = settings.gaps

    @dg.asset(
        name="raw_1m", partitions_def=partitions_def, group_name=GROUP, owners=OWNERS,
        kinds={"pandas", "parquet"}, code_version=modules_version(*INGEST_MODULES),
        backfill_policy=SINGLE_RUN, metadata={"threadx/schema": "raw_1m"},
        pool=raw_pool(settings.source.kind),  # one IP, one weight budget and ban: threadx_pipeline.pools
        check_specs=[
            dg.AssetCheckSpec("schema_valid", asset="raw_1m",
                              description="pandera raw_1m schema: dtypes, prices > 0, OHLC coherence"),
            dg.AssetCheckSpec("unique_sorted", asset="raw_1m",
                              description="open_time unique and strictly increasing"),
            dg.AssetCheckSpec("completeness", asset="raw_1m",
                              description="present / expected minutes at or above [gaps] completeness_warn"),
        ],
    )
    def raw_1m(context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource,
               market: MarketDataResource) -> Iterator:
        """Closed 1-minute candles of each symbol-month of the step from the configured source; the
        current month is topped up (only what follows the last stored candle is fetched). Metadata
        ``state``: ``full``, ``partial`` (the current month) or ``empty`` (no trading); ``gap_list``
        is the file of every missing range (``WarehouseResource.gaps``), ``gap_ranges`` their
        number and ``first_gaps`` a preview of the first five."""
        frames, checks = {}, {"schema_valid": {}, "unique_sorted": {}, "completeness": {}}
        source = market.source()  # one client (HTTP session, retry policy) for every month of the step

        def ingest(symbol: str, month: str) -> tuple[MonthIngest, float, Path]:
            existing = _stored_month(warehouse, symbol, month, force=config.force, log=context.log.warning)
            started = time.perf_counter()
            result = ingest_month(source, symbol, month, existing=existing, now=market.now(),
                                  force=config.force, fill=policy.fill,
                                  max_fill_minutes=policy.max_fill_minutes)
            elapsed = time.perf_counter() - started
            context.log.info(f"{symbol} {month}: {result.action}, {result.fetched_rows} candles fetched, "
                             f"{len(result.frame)} stored, {result.gaps.missing} minutes missing, "
                             f"{elapsed:.2f} s")
            if result.state == "empty":
                context.log.warning(f"{symbol} {month}: no candle at the source (no trading: before a "
                                    f"listing or after a delisting): stored as an empty month")
            # Written before the partition itself (the IO manager writes it once the body
            # returns), so a stored month's metadata never points at a missing list; a failed
            # step leaves at worst a list newer than the month, replaced by the next run.
            gap_list = warehouse.gaps(symbol, month)
            storage.write_partition(result.gaps.table(), gap_list)
            return result, elapsed, gap_list

        first = first_months(context)
        for symbol, month in earlier_in_backfill(context, [RAW])[RAW]:
            # this run's months need them and their own runs may not have stored them yet
            with explained("raw_1m", symbol, month):
                try:
                    result, _, _ = ingest(symbol, month)
                except IngestError as error:
                    raise IngestError(f"{error} (fetched first for {symbol} {first[symbol]} of this run, "
                                      f"which continues it)") from None
                if result.action != "skipped":
                    storage.write_partition(result.frame, warehouse.partition("raw_1m", symbol, month))
                    context.log.info(f"{symbol} {month}: stored ahead of its own run of this backfill "
                                     f"(a month before this run's; its run re-uses it)")
        for partition, symbol, month in step_keys(context):
            with explained("raw_1m", symbol, month):
                result, elapsed, gap_list = ingest(symbol, month)
                frame, gaps = result.frame, result.gaps
                completeness = quality.completeness(gaps, policy.completeness_warn)
                context.add_asset_metadata({
                    "rows": len(frame), **_time_range(frame),
                    "source": frame.attrs.get("source", "-"), "action": result.action, "state": result.state,
                    "fetched_rows": result.fetched_rows,
                    "fetched_through": frame.attrs.get("fetched_through", "-"),
                    "missing_minutes": gaps.missing, "completeness": round(gaps.ratio, 6),
                    "gap_ranges": len(gaps.ranges), "gap_list": dg.MetadataValue.path(str(gap_list)),
                    "first_gaps": completeness.metadata["first_gaps"],
                    "filled_minutes": int(frame["filled"].sum()),
                    "elapsed_s": round(elapsed, 3),
                }, partition_key=partition)
                label = f"{symbol} {month}"
                frames[partition] = frame
                checks["schema_valid"][label] = quality.schema_valid(frame, "raw_1m", label)
                checks["unique_sorted"][label] = quality.unique_sorted(frame)
                checks["completeness"][label] = completeness
        yield dg.Output(frames)
        yield check_result("schema_valid", "raw_1m", checks["schema_valid"])
        yield check_result("unique_sorted", "raw_1m", checks["unique_sorted"])
        yield check_result("completeness", "raw_1m", checks["completeness"], dg.AssetCheckSeverity.WARN)

    return raw_1m


def build_ohlcv(tfs: list[str], partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ``ohlcv_<tf>`` assets, one per ``tfs``: ``raw_1m`` resampled (docs/ARCHITECTURE.md, Data
    contracts). One step makes them all — it reads the step's candles once, and a backfill's run
    has one step instead of one per timeframe — and any subset of them (the UI, a selection)."""
    outs = {f"ohlcv_{tf}": dg.AssetOut(
        group_name=GROUP, owners=OWNERS, kinds={"pandas", "parquet"}, is_required=False,
        code_version=modules_version("threadx_core.data.resample"),
        metadata={"threadx/schema": "ohlcv", "timeframe": tf},
        description=f"raw_1m resampled to {tf} bars (bins aligned on UTC, each flagged complete or not)")
        for tf in tfs}
    checks = [spec for tf in tfs for spec in (
        dg.AssetCheckSpec("schema_valid", asset=f"ohlcv_{tf}",
                          description="pandera ohlcv schema: dtypes, prices > 0, OHLC coherence"),
        dg.AssetCheckSpec("resample_consistency", asset=f"ohlcv_{tf}",
                          description=f"{tf} rebuilt from a finer timeframe equals {tf} built from 1m"))]

    @dg.multi_asset(name="ohlcv", partitions_def=partitions_def, outs=outs, check_specs=checks,
                    ins={"raw_1m": dg.AssetIn("raw_1m")}, backfill_policy=SINGLE_RUN, can_subset=True)
    def ohlcv(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              raw_1m: dict[str, pd.DataFrame]) -> Iterator:
        """``raw_1m`` of each symbol-month of the step resampled to each selected timeframe,
        checked against the schema and against the same bars rebuilt from a finer timeframe."""
        keys = {tf: dg.AssetKey(f"ohlcv_{tf}") for tf in tfs}
        selected = {tf: key for tf, key in keys.items() if key in context.selected_asset_keys}
        earlier = earlier_in_backfill(context, list(selected.values()))
        for tf, key in selected.items():
            yield from _resampled(context, warehouse, raw_1m, tf, earlier[key])

    return ohlcv


def _resampled(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               raw_1m: dict[str, pd.DataFrame], tf: str, earlier: list[tuple[str, str]]) -> Iterator:
    """``ohlcv_<tf>`` of the step's partitions (output, metadata, checks), the backfill's
    ``earlier`` months stored first (:func:`threadx_pipeline.partitions.earlier_in_backfill`)."""
    name = f"ohlcv_{tf}"
    frames, schema_ok, consistent = {}, {}, {}
    for symbol, month in earlier:
        # stored ahead by this run's raw_1m step when its own run had not stored it
        with explained(name, symbol, month):
            minutes = warehouse.read("raw_1m", symbol, month)
            if minutes is None:
                continue
            path = warehouse.partition(name, symbol, month)
            frame = schema.validate_ohlcv(resample(minutes, tf), str(path))
            stored = warehouse.read(name, symbol, month)
            if stored is None or frame_version(stored) != frame_version(frame):
                storage.write_partition(frame, path)
                context.log.info(f"{symbol} {month}: {tf} bars stored ahead of their own run of this "
                                 f"backfill (a month before this run's; its run re-makes the same)")
    for partition, symbol, month in step_keys(context):
        with explained(name, symbol, month):
            minutes = raw_1m[partition]
            started = time.perf_counter()
            frame = resample(minutes, tf)
            elapsed = time.perf_counter() - started
            incomplete = int((~frame["complete"]).sum())
            context.log.info(f"{symbol} {month}: {len(minutes)} candles → {len(frame)} {tf} bars "
                             f"({incomplete} incomplete) in {elapsed:.3f} s")
            context.add_asset_metadata({
                "rows": len(frame), **_time_range(frame), "timeframe": tf, "empty": frame.empty,
                "incomplete_bins": incomplete, "elapsed_s": round(elapsed, 4),
            }, asset_key=name, partition_key=partition)
            label = f"{symbol} {month}"
            frames[partition] = frame
            schema_ok[label] = quality.schema_valid(frame, "ohlcv", f"{label} {tf}")
            consistent[label] = quality.resample_consistency(minutes, frame, tf)
    yield dg.Output(frames, output_name=name)
    wanted = context.selected_asset_check_keys
    for check, outcomes in (("schema_valid", schema_ok), ("resample_consistency", consistent)):
        if dg.AssetCheckKey(dg.AssetKey(name), check) in wanted:
            yield check_result(check, name, outcomes)


def build(settings: Settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """``raw_1m`` and the ``ohlcv_<tf>`` of every ``[timeframes] derive`` entry."""
    return [build_raw_1m(settings, partitions_def),
            build_ohlcv(list(settings.timeframes.derive), partitions_def)]


def _stored_month(warehouse: WarehouseResource, symbol: str, month: str, *, force: bool,
                  log: Callable[[str], None]) -> pd.DataFrame | None:
    """The stored ``raw_1m`` month to top up. A corrupt file fails the step (naming it) unless
    ``force`` is set: a forced re-fetch replaces the whole month, so the corrupt file is treated as
    absent and overwritten atomically by the fresh one."""
    try:
        return warehouse.read("raw_1m", symbol, month)
    except storage.CorruptPartitionError as error:
        if not force:
            raise
        log(f"{symbol} {month}: {error}; re-fetching the whole month (force)")
        return None
