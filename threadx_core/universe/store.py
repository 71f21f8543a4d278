"""Where universes are kept: one folder per materialisation, in the warehouse.

Contract
--------
``<root>/universe/<YYYYMMDDTHHMMSSffffffZ>/`` (the UTC time the answers were taken) holds
``universe.parquet`` (the members, ``threadx_core.schema.UNIVERSE``), ``excluded.parquet``
(candidates left out and why), ``manifest.json`` (time, quote asset, size, category table
version and minimums, warnings, sha256 of every raw answer) and ``raw/`` with CoinGecko's and
Binance's bodies exactly as they came (``coingecko-markets-<page>.json``,
``binance-ticker-24hr.json``, ``binance-exchangeInfo.json``), so a universe can be recomputed
from what was seen. :func:`write` creates the folder atomically (``storage.write_folder``: all
of it or nothing); :func:`latest` is the newest complete folder (hidden temporary folders are
never read); :func:`members` reads a folder's members, validated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from threadx_core import storage
from threadx_core.schema import validate_universe

ASSET = "universe"
MEMBERS_FILE = "universe.parquet"
_STAMP = re.compile(r"\d{8}T\d{12}Z")


def folder(root: Path, taken_at: pd.Timestamp) -> Path:
    """The folder of the universe whose answers were taken at ``taken_at`` (UTC)."""
    return Path(root) / ASSET / taken_at.tz_convert("UTC").strftime("%Y%m%dT%H%M%S%fZ")


def latest(root: Path) -> Path | None:
    """The newest stored universe folder, or ``None`` when none is stored."""
    base = Path(root) / ASSET
    stamps = sorted(p for p in base.iterdir() if _STAMP.fullmatch(p.name)) if base.is_dir() else []
    return stamps[-1] if stamps else None


def members(path: Path) -> pd.DataFrame:
    """The members stored in the universe folder ``path``, validated (errors name the file)."""
    file = path / MEMBERS_FILE
    return validate_universe(storage.read_partition(file), str(file))


def write(target: Path, members: pd.DataFrame, excluded: pd.DataFrame, raw: Mapping[str, bytes],
          manifest: dict[str, Any]) -> Path:
    """Store a universe in the new folder ``target`` (see the module docstring); ``raw`` maps a
    file name under ``raw/`` to the body received, ``manifest`` is completed with their sha256."""
    files = {f"raw/{name}": body for name, body in raw.items()}
    digests = {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
    manifest = {**manifest, "raw_sha256": digests}
    files[MEMBERS_FILE] = storage.parquet_bytes(validate_universe(members, str(target / MEMBERS_FILE)))
    files["excluded.parquet"] = storage.parquet_bytes(excluded)
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return storage.write_folder(files, target)
