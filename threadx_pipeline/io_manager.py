"""The warehouse IO manager: one Parquet file per asset partition, Hive layout, atomic writes.

Frames are validated against the schema named in the asset's ``threadx/schema`` metadata
(``raw_1m`` or ``ohlcv``) before anything touches the disk, so a bad frame never replaces a good
partition. An input whose ``AssetIn`` metadata sets ``threadx/by_month`` (the warm-up input:
previous and current month) loads as ``{month: frame}`` holding only the partitions that exist.
"""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from threadx_core import schema, storage
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

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        path = self.warehouse.path(context.asset_key.path[-1], context.asset_partition_key)
        kind = (context.definition_metadata or {}).get("threadx/schema")
        if kind in VALIDATORS:
            obj = VALIDATORS[kind](obj, str(path))
        written = storage.write_partition(obj, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path)),
                                     "bytes_written": dg.MetadataValue.int(written)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | dict[str, pd.DataFrame]:
        asset, keys = context.asset_key.path[-1], context.asset_partition_keys
        if not (context.definition_metadata or {}).get("threadx/by_month"):
            (only,) = keys
            return storage.read_partition(self.warehouse.path(asset, only))
        paths = {split(k)[1]: self.warehouse.path(asset, k) for k in keys}
        return {month: storage.read_partition(p) for month, p in sorted(paths.items()) if p.exists()}
