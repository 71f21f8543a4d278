"""The Parquet warehouse (docs/ARCHITECTURE.md, Storage): Hive layout, contained paths, atomic
writes and reads that never skip a file silently.

Layout: ``<root>/<asset>/symbol=<SYMBOL>/month=<YYYY-MM>.parquet`` (pyarrow, zstd, plain
encoding: dictionary pages cost 2-3x the write time of a month of candles for no smaller file), so
``pyarrow.dataset``, DuckDB or Polars read a whole asset in one call, with ``symbol`` recovered
from the folder name. A frame's ``attrs`` (string values, e.g. ``fetched_through``) travel as
Parquet key-value metadata under the ``threadx.`` prefix.

Paths built from a key (:func:`partition_path`, :func:`symbol_path`, :func:`reports_path`) accept
only a well-formed asset name, symbol (``threadx_core.symbols``) and ``YYYY-MM`` month, and only
a path that resolves, symlinks followed, inside the resolved root; anything else raises
``StorageKeyError`` naming the key, before any file is touched.

Writes go to a hidden temporary file ``.<name>.<uuid hex>.tmp`` in the target folder, are flushed
and fsynced, then renamed over the target with ``os.replace`` (atomic on POSIX): readers see the
old file or the new one, never a partial one, and a failed write leaves the previous partition
untouched. A killed process leaves its temporary file behind; the next write of the same target
deletes the target's temporary files untouched for ``STALE_TEMP_S`` (a live writer's file is
younger: a partition is written in seconds), and readers never list hidden files.

A file that is not readable Parquet raises ``CorruptPartitionError`` naming it, from
:func:`read_partition` and from :func:`read_asset` alike: nothing is skipped silently.
"""

from __future__ import annotations

import glob
import io
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from threadx_core import times
from threadx_core.errors import ThreadXError
from threadx_core.symbols import check_symbol

_PREFIX = "threadx."
#: An asset name as Dagster allows it: letters, digits and underscores.
_ASSET = re.compile(r"[A-Za-z0-9_]+", re.ASCII)
#: Age (seconds since last modified) after which a temporary file is a dead writer's leftover.
STALE_TEMP_S = 600.0


class StorageKeyError(ThreadXError, ValueError):
    """A storage key (asset, symbol, month) that is malformed or would lead outside the root."""


class CorruptPartitionError(ThreadXError):
    """A stored file that exists but is not readable Parquet (truncated, empty, overwritten);
    ``path`` is the file. Not an ``OSError``: callers that treat an absent file as "fetch it"
    must decide explicitly to treat a corrupt one the same way."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"partition file {path} is corrupt ({reason}); delete it or re-materialise "
                         "the partition")
        self.path = path


def partition_path(root: str | Path, asset: str, symbol: str, month: str) -> Path:
    """Path of one partition file; ``month`` is ``YYYY-MM``. Raises ``StorageKeyError`` naming
    the key for a bad asset name, symbol or month, or a path that resolves outside ``root``."""
    key = f"{asset!r} {symbol!r} {month!r}"
    _check_month(month, key)
    return _contained(root, [_asset(asset, key), _symbol(symbol, key), f"month={month}.parquet"], key)


def symbol_path(root: str | Path, asset: str, symbol: str) -> Path:
    """Path of a per-symbol partition file (an asset spanning every month of a symbol); checked
    like :func:`partition_path`."""
    key = f"{asset!r} {symbol!r}"
    return _contained(root, [_asset(asset, key), _symbol(symbol, key), "all.parquet"], key)


def reports_path(root: str | Path, symbol: str, month: str | None = None) -> Path:
    """The report folder of ``symbol`` (``<root>/reports/<SYMBOL>``), or of its ``month``
    (``…/<YYYY-MM>``); checked like :func:`partition_path`."""
    key = f"reports {symbol!r}" + ("" if month is None else f" {month!r}")
    parts = ["reports", _symbol(symbol, key).removeprefix("symbol=")]
    if month is not None:
        _check_month(month, key)
        parts.append(month)
    return _contained(root, parts, key)


def _asset(asset: str, key: str) -> str:
    if not isinstance(asset, str) or _ASSET.fullmatch(asset) is None:
        raise StorageKeyError(f"storage key {key}: asset name {asset!r} is not letters, digits and _")
    return asset


def _symbol(symbol: str, key: str) -> str:
    try:
        return f"symbol={check_symbol(symbol)}"
    except ValueError as exc:
        raise StorageKeyError(f"storage key {key}: {exc}") from None


def _check_month(month: str, key: str) -> None:
    try:
        canonical = times.month_label(times.parse_month(month)) == month
    except ValueError:
        canonical = False
    if not canonical:  # parse_month also takes YYYY-MM-01; a file name takes YYYY-MM only
        raise StorageKeyError(f"storage key {key}: month {month!r} is not of the form YYYY-MM")


def _contained(root: str | Path, parts: list[str], key: str) -> Path:
    """``root / *parts`` if it resolves (symlinks followed) inside the resolved ``root``."""
    path = Path(root).joinpath(*parts)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise StorageKeyError(f"storage key {key}: {path} resolves outside the warehouse root {root}")
    return path


def write_bytes(data: bytes, path: str | Path) -> int:
    """Atomically write ``data`` to ``path`` (temp file, fsync, rename); returns its size."""
    _atomic(Path(path), lambda sink: sink.write(data))
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
    _atomic(path, lambda sink: _write_parquet(frame, sink))
    return path.stat().st_size


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as the bytes :func:`write_partition` would write (for :func:`write_folder`)."""
    buffer = io.BytesIO()
    _write_parquet(frame, buffer)
    return buffer.getvalue()


def _write_parquet(frame: pd.DataFrame, sink: BinaryIO) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)  # threads: slower here
    extra = {f"{_PREFIX}{k}".encode(): str(v).encode() for k, v in frame.attrs.items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, sink, compression="zstd", use_dictionary=False)


def write_folder(files: Mapping[str, bytes], folder: str | Path) -> Path:
    """Create ``folder`` holding ``files`` (relative path → bytes) atomically: they are written
    and fsynced in a hidden temporary folder ``.<name>.<uuid hex>.tmp`` beside it, which is then
    renamed to ``folder`` (readers see all the files or no folder). ``folder`` must not exist
    (``FileExistsError`` naming it). Temporary folders of killed writers older than
    ``STALE_TEMP_S`` beside it are removed first."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        raise FileExistsError(f"{folder} already exists: a stored folder is never replaced")
    cutoff = time.time() - STALE_TEMP_S
    for stale in folder.parent.glob(".*.tmp"):
        if stale.is_dir() and stale.stat().st_mtime < cutoff:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    try:
        for name, data in files.items():
            target = tmp / name
            if not target.resolve().is_relative_to(tmp.resolve()):
                raise StorageKeyError(f"file name {name!r} leaves the folder {folder}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as sink:
                sink.write(data)
                sink.flush()
                os.fsync(sink.fileno())
        for sub in sorted({(tmp / name).parent for name in files}, key=lambda p: -len(p.parts)):
            _fsync_dir(sub)
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _fsync_dir(folder.parent)
    return folder


def _atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Run ``write`` on a fresh temporary file beside ``path``, fsync it, rename it over ``path``
    and fsync the folder; the temporary file never survives a failure of this process. Stale
    temporary files of ``path`` (killed writers) are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as sink:
            write(sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _remove_stale_temps(path: Path) -> None:
    """Delete ``path``'s temporary files older than ``STALE_TEMP_S``. Age, not a lock, tells a
    dead writer's file from a live one: a live writer writes and renames within seconds, and
    the other partitions' temporary files (other names) are never touched."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{32}}\.tmp")
    cutoff = time.time() - STALE_TEMP_S
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if pattern.fullmatch(candidate.name) and candidate.stat().st_mtime < cutoff:
                candidate.unlink()
        except FileNotFoundError:  # another writer removed or renamed it meanwhile
            pass


def read_partition(path: str | Path) -> pd.DataFrame:
    """Read one partition file; raises ``FileNotFoundError`` naming the path if it is absent and
    ``CorruptPartitionError`` naming it if it is not readable Parquet."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"partition file {path} does not exist (materialise it first)")
    try:
        table = pq.read_table(path)
        frame = table.to_pandas()
        meta = table.schema.metadata or {}
        frame.attrs = {k.decode()[len(_PREFIX):]: v.decode() for k, v in meta.items()
                       if k.decode().startswith(_PREFIX)}
    except PermissionError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise CorruptPartitionError(path, _reason(exc, path)) from None
    return frame


def read_asset(root: str | Path, asset: str) -> pd.DataFrame:
    """Every partition of ``asset`` in one ``pyarrow.dataset`` read, with a ``symbol`` column.

    Hidden (``.``) and ``_`` files, temporary files included, are not partitions. A partition
    file that is not readable Parquet raises ``CorruptPartitionError`` naming it: no file is ever
    skipped (remove or re-materialise it to read the rest)."""
    base = Path(root) / _asset(asset, repr(asset))
    if not base.exists():
        raise FileNotFoundError(f"asset folder {base} does not exist (materialise {asset} first)")
    try:
        dataset = ds.dataset(base, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"])
        return dataset.to_table().to_pandas()
    except (pa.ArrowException, OSError) as exc:
        # the dataset's own message may or may not name the file: find it, one file at a time
        for file in sorted(ds.dataset(base, format="parquet", ignore_prefixes=[".", "_"],
                                      schema=pa.schema([])).files):
            try:
                pq.read_table(file)
            except (pa.ArrowException, OSError) as bad:
                raise CorruptPartitionError(Path(file), _reason(bad, Path(file))) from None
        raise exc


def _reason(exc: BaseException, path: Path) -> str:
    """An exception as one short line for an error message that already names ``path``."""
    text = str(exc).replace(f"'{path}'", "the file").replace(str(path), "the file")
    return " ".join(f"{type(exc).__name__}: {text}".split())[:160]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
