"""The warehouse IO manager: one Parquet file per asset partition, Hive layout, atomic writes.

A symbol × month step may materialise several partitions at once (a backfill's range run:
docs/ARCHITECTURE.md, Asset graph), so its outputs and inputs are ``{partition key: frame}``,
one entry per partition of the step (a single-partition run has one). Frames are validated
against the schema named in the asset's ``threadx/schema`` metadata (``raw_1m`` or ``ohlcv``)
before anything touches the disk, so a bad frame never replaces a good partition. A per-symbol
asset's output is a frame. An input whose ``AssetIn`` metadata sets ``threadx/by_month`` (a
per-symbol asset's input: every stored month of the symbol) loads as ``{month: frame}`` holding
only the partitions that exist.
"""

from collections.abc import Callable, Mapping

import dagster as dg
import pandas as pd

from threadx_core import schema, storage
from threadx_pipeline.failures import explained
from threadx_pipeline.partitions import split
from threadx_pipeline.warehouse import WarehouseResource

VALIDATORS: dict[str, Callable[[pd.DataFrame, str], pd.DataFrame]] = {
    "raw_1m": schema.validate_raw_1m,
    "ohlcv": schema.validate_ohlcv,
}


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores DataFrames at the ``warehouse``'s partition files
    (``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet``)."""

    warehouse: WarehouseResource

    def handle_output(self, context: dg.OutputContext,
                      obj: pd.DataFrame | Mapping[str, pd.DataFrame]) -> None:
        asset = context.asset_key.path[-1]
        keys = [str(k) for k in context.asset_partition_keys]
        frames = obj if isinstance(obj, Mapping) else {keys[0]: obj}
        if sorted(frames) != sorted(keys):
            raise dg.Failure(f"{asset}: the step returned partitions {sorted(frames)}, "
                             f"not the ones it materialises {sorted(keys)}")
        kind = (context.definition_metadata or {}).get("threadx/schema")
        paths = {k: self.warehouse.path(asset, k) for k in keys}
        if kind in VALIDATORS:  # every partition first: a bad one leaves the step's files untouched
            frames = {k: VALIDATORS[kind](frames[k], str(paths[k])) for k in keys}
        for k in keys:
            written = storage.write_partition(frames[k], paths[k])
            # scoped to its partition: output metadata would be the same on every partition's event
            metadata = {"path": dg.MetadataValue.path(str(paths[k])),
                        "bytes_written": dg.MetadataValue.int(written)}
            context.step_context.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=k)

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        """``{partition key: frame}``, or ``{month: frame}`` of the stored months for a
        ``threadx/by_month`` input. Inputs load before the step's body, so a partition that cannot
        be read (a key the storage refuses, such as a hostile symbol; a corrupt file) fails the
        step here with the body's one line (:func:`threadx_pipeline.failures.explained`): the step's
        asset, the symbol, the month (none for a per-symbol asset) and the cause."""
        asset, keys = context.asset_key.path[-1], [str(k) for k in context.asset_partition_keys]
        by_month = bool((context.definition_metadata or {}).get("threadx/by_month"))
        frames = {}
        for k in keys:
            symbol, month = split(k)
            with explained(context.op_def.name, symbol, None if by_month else month):
                path = self.warehouse.path(asset, k)
                if not by_month:
                    frames[k] = storage.read_partition(path)
                elif path.exists():  # a per-symbol asset reads the months that are stored
                    frames[month] = storage.read_partition(path)
        return dict(sorted(frames.items())) if by_month else frames
