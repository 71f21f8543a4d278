"""Test kit of the scale-out tests: a real PostgreSQL server on loopback, a Dagster instance whose
run, event and schedule storage live in it, Celery workers, and the warehouse compared file by file.

Everything here starts real processes and stops them: the fixtures in ``conftest.py`` own them.
"""

from __future__ import annotations

import contextlib
import json
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

ROOT = Path(__file__).resolve().parents[2]
PG_USER = "threadx-pg"          # the system user the server runs as when the tests run as root
DB_USER = "threadx"             # the database superuser initdb creates (trust auth, loopback only)


class Unavailable(RuntimeError):
    """PostgreSQL is not installed and cannot be installed here."""


def postgres_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest ``/usr/lib/postgresql/<v>/bin``,
    else those on PATH; installs Debian's ``postgresql`` package when it is missing and apt-get
    can (as ``.ci/run`` does)."""
    found = _find_bin()
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False,
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = _find_bin()
    if found is None:
        raise Unavailable("PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin "
                          "or on PATH) and apt-get cannot install it here (not root or no apt-get)")
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
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{_tail(log)}")
        yield server
    finally:
        subprocess.run(server._as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                        "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def write_dagster_home(folder: Path, postgres_url: str) -> Path:
    """``folder/dagster.yaml``: run, event log and schedule storage in Postgres (the block
    docs/DEPLOY.md documents); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(
        "storage:\n  postgres:\n"
        f"    postgres_url: \"{postgres_url}\"\n"
        "telemetry:\n  enabled: false\n")
    return folder


def environment(project: Path, dagster_home: Path) -> dict[str, str]:
    """The environment of every process of a deployment: this checkout first on PYTHONPATH (so
    its code is what runs), the settings file and the instance."""
    env = {**os.environ, "THREADX_CONFIG": str(project), "DAGSTER_HOME": str(dagster_home)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def launch(env: dict[str, str], partition: str, *, log: Path) -> subprocess.Popen:
    """``dagster job execute`` of ``symbol_month_job`` for ``partition`` (``YYYY-MM|SYMBOL``), as an
    operator would start it: the run is created in the instance of ``DAGSTER_HOME`` and executed
    by the job's executor (``[execution]``)."""
    month, symbol = partition.split("|")
    tags = json.dumps({"dagster/partition": partition, "dagster/partition/month": month,
                       "dagster/partition/symbol": symbol})
    args = [sys.executable, "-m", "dagster", "job", "execute", "-m", "threadx_pipeline.definitions",
            "-a", "defs", "-j", "symbol_month_job", "--tags", tags]
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait(proc: subprocess.Popen, log: Path, timeout: float) -> None:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError(f"{proc.args[:6]} still running after {timeout} s:\n{_tail(log)}") from None
    assert code == 0, f"exit {code}:\n{_tail(log, 80)}"


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
                    raise RuntimeError(f"celery worker {name} did not start:\n{_tail(log)}")
                time.sleep(0.2)
        yield [f"{name}@{socket.gethostname()}" for name in names]
    finally:
        for proc in procs:
            stop(proc)


def warehouse_files(root: Path) -> dict[str, Path]:
    """Every Parquet partition under a warehouse root, by its path relative to it."""
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.parquet"))}


def assert_same_warehouse(left: Path, right: Path) -> int:
    """Both warehouses hold the same Parquet partitions with the same rows and values (frame
    ``attrs`` included, apart from any run id); returns how many partitions were compared."""
    ours, theirs = warehouse_files(left), warehouse_files(right)
    assert ours.keys() == theirs.keys(), f"partitions differ: {sorted(ours.keys() ^ theirs.keys())}"
    for name, path in ours.items():
        a, b = storage.read_partition(path), storage.read_partition(theirs[name])
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
        assert _without_run_id(a.attrs) == _without_run_id(b.attrs), name
    return len(ours)


def _without_run_id(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if "run_id" not in k}


#: A small sweep: 2 combinations (docs/SETTINGS.md, [grid]).
GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n"


def small_project(folder: Path, *, symbols=("BTCUSDT",), execution: str = "") -> Path:
    """A throwaway project (tests/pipeline/kit.py) with one derived and swept timeframe, 1h, the
    small grid and the ``[execution]`` block given; returns its ``threadx.toml``."""
    from tests.pipeline.kit import write_project

    folder.mkdir(parents=True, exist_ok=True)
    return write_project(folder, symbols=symbols, derive=("1h",), sweep=("1h",), extra=GRID + execution)


def celery_execution(server: Postgres, database: str) -> str:
    """``[execution]`` for Celery with kombu's SQLAlchemy transport over ``database`` as the broker
    and Celery's database result backend in the same database."""
    return ('[execution]\nexecutor = "celery"\n'
            f'broker = "{server.url(database, "sqla+postgresql+psycopg2")}"\n'
            f'backend = "{server.url(database, "db+postgresql+psycopg2")}"\n')


def step_workers(instance, run_id: str) -> dict[str, str]:
    """Step key → the Celery worker (``name@host``) that executed it, from the run's engine events
    ("Executing steps … in celery worker", metadata ``Celery worker``)."""
    found = {}
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.is_engine_event and event.step_key:
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                found[event.step_key] = worker.value
    return found


def step_successes(instance, run_id: str) -> set[str]:
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
    return {r.event_log_entry.dagster_event.step_key for r in records}
