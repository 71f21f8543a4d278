"""Locating the settings file and the project folder.

``threadx.toml`` is found, in order: at ``$THREADX_CONFIG`` (a path, for running several
warehouses side by side), in the current folder, then at the project root next to the package.
Only the file's *location* can come from the environment; every setting lives in the TOML.
"""

from __future__ import annotations

import os
from pathlib import Path

from threadx_core import settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def settings_path() -> Path:
    """Path of the ``threadx.toml`` in use (see the module docstring for the search order)."""
    explicit = os.environ.get("THREADX_CONFIG")
    if explicit:
        return Path(explicit).resolve()
    for folder in (Path.cwd(), PROJECT_ROOT):
        if (folder / "threadx.toml").exists():
            return (folder / "threadx.toml").resolve()
    raise settings.SettingsError(
        f"no threadx.toml in {Path.cwd()} or {PROJECT_ROOT}; set THREADX_CONFIG to its path")
