"""Fixtures of the scale-out tests: one PostgreSQL server per session (started here, on a free
loopback port, as a non-root user), a fresh database per use, and a Dagster home on it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.scale import kit

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[kit.Postgres]:
    """A PostgreSQL server for the session, stopped and deleted at its end; the tests skip only
    where PostgreSQL is neither installed nor installable (``.ci/run`` installs it)."""
    try:
        kit.postgres_bin()
    except kit.Unavailable as exc:
        pytest.skip(str(exc))
    with kit.postgres_server() as server:
        yield server


@pytest.fixture
def database(postgres: kit.Postgres) -> Callable[[str], str]:
    """``database(role)``: a new, empty database of the session's server; returns its name."""
    return lambda role: postgres.create_database(f"{role}_{next(_names)}")


@pytest.fixture
def dagster_home(tmp_path: Path, postgres: kit.Postgres, database) -> Path:
    """A DAGSTER_HOME whose dagster.yaml keeps runs, events and schedules in a new database."""
    return kit.write_dagster_home(tmp_path / "dagster_home", postgres.url(database("dagster")))


@pytest.fixture
def instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as inst:
        yield inst
