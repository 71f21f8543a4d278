"""The warehouse root: free disk space, and a real write there.

The write goes through the warehouse's own atomic path (``storage.write_bytes``: temporary
file, fsync, rename, folder fsync) to a hidden file ``.threadx-doctor-<uuid>`` in the root
(readers never list hidden files), is read back and removed. A root that does not exist yet is
created, as the first materialisation would.

Thresholds on the free space of the root's filesystem: under ``DISK_ERROR_BYTES`` (1 GiB) an
error, under ``DISK_WARNING_BYTES`` (10 GiB) a warning (a symbol-year of ``raw_1m`` and its
derived assets takes ~100 MB; a full grid's sweeps several times that).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from threadx_core import storage
from threadx_core.doctor.report import GIB, Check

DISK_ERROR_BYTES = 1 * GIB
DISK_WARNING_BYTES = 10 * GIB


def check_write(root: Path) -> Check:
    """Error unless a file can be written atomically in ``root``, read back and removed."""
    existed = root.is_dir()
    probe = root / f".threadx-doctor-{uuid.uuid4().hex}"
    payload = b"threadx doctor write probe\n"
    try:
        storage.write_bytes(payload, probe)
        if probe.read_bytes() != payload:
            return Check.error("warehouse write", f"{probe} read back different bytes")
    except OSError as exc:
        return Check.error("warehouse write", f"cannot write in {root}: {exc.strerror or exc}")
    finally:
        if probe.exists():  # never created when the root is not a folder
            probe.unlink()
    created = "" if existed else " (the root did not exist: created)"
    return Check.ok("warehouse write", f"{root} writable{created}")


def check_disk(root: Path) -> Check:
    """Free space of the filesystem holding ``root`` (or its nearest existing folder)."""
    where = next((p for p in (root, *root.parents) if p.is_dir()), None)
    if where is None:
        return Check.error("warehouse disk", f"no existing folder above {root}")
    free = shutil.disk_usage(where).free
    detail = f"{free / GIB:.1f} GiB free at {where}"
    if free < DISK_ERROR_BYTES:
        return Check.error("warehouse disk", f"{detail}: under {DISK_ERROR_BYTES / GIB:.0f} GiB")
    if free < DISK_WARNING_BYTES:
        return Check.warning("warehouse disk", f"{detail}: under {DISK_WARNING_BYTES / GIB:.0f} GiB")
    return Check.ok("warehouse disk", detail)


def warehouse_checks(root: Path) -> list[Check]:
    """Disk space, then the write check, of the warehouse ``root``."""
    return [check_disk(root), check_write(root)]
