"""The Parquet warehouse (docs/ARCHITECTURE.md, Storage): Hive layout and atomic writes.

Layout: ``<root>/<asset>/symbol=<SYMBOL>/month=<YYYY-MM>.parquet`` (pyarrow, zstd, plain
encoding: dictionary pages cost 2-3x the write time of a month of candles for no smaller file), so
``pyarrow.dataset``, DuckDB or Polars read a whole asset in one call, with ``symbol`` recovered
from the folder name. A frame's ``attrs`` (string values, e.g. ``fetched_through``) travel as
Parquet key-value metadata under the ``threadx.`` prefix.

Writes go to a hidden temporary file in the target folder, are flushed and fsynced, then renamed
over the target with ``os.replace`` (atomic on POSIX): readers see the old file or the new one,
never a partial one, and a failed write leaves the previous partition untouched.
"""

from __future__ import annotations

import glob
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

_PREFIX = "threadx."


def partition_path(root: str | Path, asset: str, symbol: str, month: str) -> Path:
    """Path of one partition file; ``month`` is ``YYYY-MM``."""
    return Path(root) / asset / f"symbol={symbol}" / f"month={month}.parquet"


def symbol_path(root: str | Path, asset: str, symbol: str) -> Path:
    """Path of a per-symbol partition file (an asset spanning every month of a symbol)."""
    return Path(root) / asset / f"symbol={symbol}" / "all.parquet"


def write_bytes(data: bytes, path: str | Path) -> int:
    """Atomically write ``data`` to ``path`` (temp file, fsync, rename); returns its size."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)


def write_exports(folder: str | Path, prefix: str, files: Mapping[str, bytes]) -> list[Path]:
    """Write a report's ``files`` (name → bytes, every name starting with ``prefix``) into
    ``folder``, each atomically (:func:`write_bytes`), then delete the other files of ``folder``
    whose name starts with ``prefix`` — exports of an earlier run that this one no longer makes
    (e.g. a selection's trades when nothing passes the filter any more), so the folder never mixes
    runs. Raises ``ValueError`` (writing nothing) for a name outside ``prefix``. Returns the paths."""
    folder = Path(folder)
    stray = [name for name in files if not name.startswith(prefix) or Path(name).name != name]
    if stray:
        raise ValueError(f"export names {stray} must be plain file names starting with {prefix!r}")
    written = [folder / name for name in files]
    for path, data in zip(written, files.values(), strict=True):
        write_bytes(data, path)
    for old in folder.glob(f"{glob.escape(prefix)}*"):
        if old.is_file() and old.name not in files:
            old.unlink()
    return written


def write_partition(frame: pd.DataFrame, path: str | Path) -> int:
    """Atomically write ``frame`` (without its index) to ``path``; returns the bytes written.

    ``frame.attrs`` entries are stored as key-value metadata and restored by ``read_partition``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)  # threads: slower here
    extra = {f"{_PREFIX}{k}".encode(): str(v).encode() for k, v in frame.attrs.items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as sink:
            pq.write_table(table, sink, compression="zstd", use_dictionary=False)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return path.stat().st_size


def read_partition(path: str | Path) -> pd.DataFrame:
    """Read one partition file; raises ``FileNotFoundError`` naming the path if it is absent."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"partition file {path} does not exist (materialise it first)")
    table = pq.read_table(path)
    frame = table.to_pandas()
    meta = table.schema.metadata or {}
    frame.attrs = {k.decode()[len(_PREFIX):]: v.decode() for k, v in meta.items()
                   if k.decode().startswith(_PREFIX)}
    return frame


def read_asset(root: str | Path, asset: str) -> pd.DataFrame:
    """Every partition of ``asset`` in one ``pyarrow.dataset`` read, with a ``symbol`` column."""
    base = Path(root) / asset
    if not base.exists():
        raise FileNotFoundError(f"asset folder {base} does not exist (materialise {asset} first)")
    dataset = ds.dataset(base, format="parquet", partitioning="hive",
                         exclude_invalid_files=True, ignore_prefixes=[".", "_"])
    return dataset.to_table().to_pandas()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
