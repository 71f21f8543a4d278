"""The warehouse resource: the one owner of every path under ``[warehouse] root``."""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pandas as pd

from threadx_core import storage
from threadx_pipeline.partitions import split
from threadx_pipeline.resources import SettingsResource

#: The folder of raw_1m's gap lists: a sibling of the asset folders (one file per partition).
GAPS_TABLE = "raw_1m_gaps"


class WarehouseResource(dg.ConfigurableResource):
    """Every path of the warehouse at ``[warehouse] root`` (docs/ARCHITECTURE.md, Storage): one
    Parquet file per asset partition, ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet``
    (``…/all.parquet`` for a per-symbol asset), and the report folders ``<root>/reports/<S>/``
    (per-symbol reports), ``<root>/reports/<S>/<YYYY-MM>/`` (one month's) and raw_1m's gap lists
    (:meth:`gaps`). Shared by the IO
    manager and every asset that reads a partition itself or exports files."""

    settings: SettingsResource

    @property
    def root(self) -> Path:
        return self.settings.get().warehouse.root

    def partition(self, asset: str, symbol: str, month: str) -> Path:
        """The file of ``asset``'s ``symbol`` × ``month`` partition."""
        return storage.partition_path(self.root, asset, symbol, month)

    def path(self, asset: str, partition_key: str | dg.MultiPartitionKey) -> Path:
        """The file of ``asset``'s partition ``partition_key`` (a symbol × month key, or a bare
        symbol for a per-symbol asset)."""
        if isinstance(partition_key, str) and "|" not in partition_key:
            return storage.symbol_path(self.root, asset, partition_key)
        return self.partition(asset, *split(partition_key))

    def read(self, asset: str, symbol: str, month: str) -> pd.DataFrame | None:
        """``asset``'s stored ``symbol`` × ``month`` partition, or ``None`` when it is not stored."""
        path = self.partition(asset, symbol, month)
        return storage.read_partition(path) if path.exists() else None

    def gaps(self, symbol: str, month: str) -> Path:
        """The full gap list of ``raw_1m``'s ``symbol`` × ``month`` partition (every missing range,
        ``threadx_core.data.gaps.Gaps.table``): ``<root>/raw_1m_gaps/symbol=<S>/month=<M>.parquet``,
        a table beside the asset's files, not an asset of its own."""
        return self.partition(GAPS_TABLE, symbol, month)

    def read_symbol(self, asset: str, symbol: str) -> pd.DataFrame | None:
        """``asset``'s stored ``symbol`` partition (a per-symbol asset), or ``None`` when not stored."""
        path = storage.symbol_path(self.root, asset, symbol)
        return storage.read_partition(path) if path.exists() else None

    def migration_manifest(self) -> Path:
        """The record of the legacy files ``threadx migrate`` imported (SHA-256 → file, symbol,
        months): ``<root>/_migrate/manifest.json``; ``_`` keeps it out of every asset's reads."""
        return self.root / "_migrate" / "manifest.json"

    def reports(self, symbol: str, month: str | None = None) -> Path:
        """The report folder of ``symbol`` (per-symbol reports), or of its ``month``."""
        return storage.reports_path(self.root, symbol, month)

    def export(self, files: Mapping[str, bytes], symbol: str, month: str | None = None, *,
               replacing: str | None = None) -> dict[str, Path]:
        """Write ``files`` (name → bytes) atomically into :meth:`reports` of ``symbol`` (and
        ``month``); with ``replacing``, as the only files there whose name starts with it (an
        older run's leftovers are deleted: ``storage.write_exports``). Returns name → path."""
        folder = self.reports(symbol, month)
        if replacing is not None:
            return dict(zip(files, storage.write_exports(folder, replacing, files), strict=True))
        for name, data in files.items():
            storage.write_bytes(data, folder / name)
        return {name: folder / name for name in files}

    def export_shared(self, files: Mapping[str, bytes]) -> dict[str, Path]:
        """Write ``files`` (name → bytes, names chosen by the code, never by a key) atomically into
        ``<root>/reports/``, beside the symbols' folders: the reports across symbols (the
        leaderboard). Returns name → path."""
        folder = self.root / "reports"
        for name, data in files.items():
            storage.write_bytes(data, folder / name)
        return {name: folder / name for name in files}
