"""The Dagster instance of ``$DAGSTER_HOME`` as the ``threadx`` command opens it.

Dagster creates a SQLite instance's schemas (``history/runs.db``, ``history/runs/index.db``,
``schedules/schedules.db``) the first time any process constructs the instance, with a
check-then-create that is not safe between processes: two commands started together on a fresh
home can leave two ``alembic_version`` heads or a half-created schema behind, after which every
command fails. :func:`open_instance` serialises that construction between ``threadx`` processes
with an OS file lock in the home (docs/OPERATIONS.md says what it does not cover).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

#: The lock file, in ``$DAGSTER_HOME`` (git-ignored with the instance's other files).
LOCK_NAME = ".threadx.lock"


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``home/.threadx.lock`` (blocking until it is free); the OS
    releases it if the process dies, so a killed command never leaves it held."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def open_instance(home: Path) -> Iterator[dg.DagsterInstance]:
    """The instance of ``$DAGSTER_HOME`` (``home``), constructed under :func:`home_lock` so that
    concurrent commands never create or migrate its storage at the same time; the lock is held
    only while it is constructed (every schema exists once it is), not while it is used."""
    with home_lock(home):
        instance = dg.DagsterInstance.get()
    with instance:
        yield instance
