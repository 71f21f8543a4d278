"""Locating the settings file and the project folder.

``threadx.toml`` is found, in order: at ``$THREADX_CONFIG`` (a path, for running several
warehouses side by side), in the current folder, then at the project root next to the package.
Only the file's *location* can come from the environment; every setting lives in the TOML.
A process parses the file once (:func:`load_settings`, when the code location loads) and shares
the validated object (:func:`loaded_settings`).
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


#: The settings last loaded from each file (resolved path) in this process.
_LOADED: dict[Path, settings.Settings] = {}


def load_settings(path: str | Path) -> settings.Settings:
    """Load and validate the settings file at ``path``, and keep them as this process's settings
    for that file (what :func:`loaded_settings` returns): the code location calls this once when
    it loads, so every resource of it sees the same validated object, sweep grid included."""
    loaded = settings.load(path)
    _LOADED[loaded.path] = loaded
    return loaded


def loaded_settings(path: str | Path) -> settings.Settings:
    """The settings last loaded from ``path`` in this process, loading them if none were."""
    resolved = Path(path).resolve()
    return _LOADED[resolved] if resolved in _LOADED else load_settings(resolved)
