"""Services that the scale-out tests and ``threadx bench pipeline`` start for real, and stop: a
PostgreSQL server on loopback, Dagster homes on it, Celery workers; and the comparison of two
warehouses file by file (the check that two ways of running the graph stored the same data).

Every process started here is its own process group and is stopped by the context that started
it. Nothing here is part of the product's runtime: the code location never imports it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from threadx_core import storage

#: The checkout whose code every started process runs (first on their PYTHONPATH).
ROOT = Path(__file__).resolve().parents[1]
PG_USER = "threadx-pg"          # the system user the server runs as when we run as root
DB_USER = "threadx"             # the database superuser initdb creates (trust auth, loopback only)


class Unavailable(RuntimeError):
    """PostgreSQL is not installed and cannot be installed here."""


def postgres_bin(*, install: bool = True) -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest ``/usr/lib/postgresql/<v>/bin``,
    else those on PATH; with ``install``, installs Debian's ``postgresql`` package when it is
    missing and apt-get can (as ``.ci/run`` does)."""
    found = _find_bin()
    if found is None and install and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False,
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = _find_bin()
    if found is None:
        why = " and apt-get cannot install it here (not root or no apt-get)" if install else ""
        raise Unavailable(f"PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin "
                          f"or on PATH){why}")
    return found


def _find_bin() -> Path | None:
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).parent if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_user() -> str | None:
    """The user the server runs as: ``None`` (this one) unless we are root, which PostgreSQL
    refuses; then ``threadx-pg``, created as a system user when missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)
    return PG_USER


@dataclass
class Postgres:
    """A running server: ``url(db)`` gives a SQLAlchemy URL (psycopg2 driver) of a database."""

    bin: Path
    folder: Path
    port: int
    user: str | None

    def url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=DB_USER, dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def query(self, database: str, sql: str) -> list[tuple]:
        import psycopg2

        with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=self.port, user=DB_USER,
                                                 dbname=database)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def _as_user(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else args


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """initdb + pg_ctl start on a free loopback port (no Unix socket outside its folder); stopped
    and deleted on exit."""
    bin_dir, user = postgres_bin(), _server_user()
    folder = Path(tempfile.mkdtemp(prefix="threadx-pg-"))  # not under pytest's root-only tmp
    if user:
        shutil.chown(folder, user)
    server = Postgres(bin_dir, folder, free_port(), user)
    data, log = folder / "data", folder / "server.log"
    subprocess.run(server._as_user([str(bin_dir / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust",
                                    "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    options = (f"-p {server.port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off "
               "-c max_connections=200")
    started = subprocess.run(server._as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
                                              "-o", options, "-w", "-t", "60", "start"]),
                             capture_output=True, text=True)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{tail(log)}")
        yield server
    finally:
        subprocess.run(server._as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                        "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of the log at ``path`` (empty when it does not exist)."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def write_dagster_home(folder: Path, postgres_url: str | None = None, *,
                       base: str = "telemetry:\n  enabled: false\n") -> Path:
    """``folder/dagster.yaml``: ``base`` (instance settings, YAML), then, with ``postgres_url``,
    run, event log and schedule storage in Postgres (the block docs/DEPLOY.md documents); returns
    ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = base if base.endswith("\n") else base + "\n"
    if postgres_url is not None:
        text += f"storage:\n  postgres:\n    postgres_url: \"{postgres_url}\"\n"
    (folder / "dagster.yaml").write_text(text)
    return folder


def environment(project: Path, dagster_home: Path) -> dict[str, str]:
    """The environment of every process of a deployment: this checkout first on PYTHONPATH (so
    its code is what runs), the settings file and the instance."""
    env = {**os.environ, "THREADX_CONFIG": str(project), "DAGSTER_HOME": str(dagster_home)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM to the process group ``proc`` leads, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def celery_workers(env: dict[str, str], names: list[str], logs: Path,
                   timeout: float = 120.0) -> Iterator[list[str]]:
    """One ``celery -A threadx_pipeline.celery_app worker`` per name (concurrency 1, no prefetch
    beyond one task), each its own process group with its log under ``logs``; yields the worker
    host names (``name@host``) once each says it is ready; stops them all on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        # one after the other: two workers declaring kombu's queue table at once collide on its
        # unique queue name (a worker that starts later simply finds it)
        for name in names:
            args = [sys.executable, "-m", "celery", "-A", "threadx_pipeline.celery_app", "worker",
                    "-n", f"{name}@%h", "--concurrency", "1", "--prefetch-multiplier", "1",
                    "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"]
            log = logs / f"{name}.log"
            proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
            procs.append(proc)
            deadline = time.monotonic() + timeout
            while " ready." not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"celery worker {name} did not start:\n{tail(log)}")
                time.sleep(0.2)
        yield [f"{name}@{socket.gethostname()}" for name in names]
    finally:
        for proc in procs:
            stop(proc)


def celery_execution(server: Postgres, database: str) -> str:
    """``[execution]`` for Celery with kombu's SQLAlchemy transport over ``database`` as the broker
    and Celery's database result backend in the same database."""
    return ('[execution]\nexecutor = "celery"\n'
            f'broker = "{server.url(database, "sqla+postgresql+psycopg2")}"\n'
            f'backend = "{server.url(database, "db+postgresql+psycopg2")}"\n')


class WarehouseMismatch(AssertionError):
    """Two warehouses differ: the message names the partition file and how."""


def warehouse_files(root: Path) -> dict[str, Path]:
    """Every Parquet partition under a warehouse root, by its path relative to it."""
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.parquet"))}


def assert_same_warehouse(left: Path, right: Path) -> int:
    """Both warehouses hold the same Parquet partitions with the same rows and values (frame
    ``attrs`` included, apart from any run id); returns how many partitions were compared, else
    raises :class:`WarehouseMismatch` naming the first partition that differs."""
    ours, theirs = warehouse_files(left), warehouse_files(right)
    if ours.keys() != theirs.keys():
        differ = sorted(ours.keys() ^ theirs.keys())
        raise WarehouseMismatch(f"{left} and {right}: partitions differ: {differ}")
    for name, path in ours.items():
        a, b = storage.read_partition(path), storage.read_partition(theirs[name])
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
        except AssertionError as exc:
            first = str(exc).strip().splitlines()[0]
            raise WarehouseMismatch(f"{name}: {first} ({left} vs {right})") from None
        if _without_run_id(a.attrs) != _without_run_id(b.attrs):
            raise WarehouseMismatch(f"{name}: frame attrs differ ({left} vs {right})")
    return len(ours)


def _without_run_id(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if "run_id" not in k}
