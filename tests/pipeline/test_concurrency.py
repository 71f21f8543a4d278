"""Concurrent ``threadx`` commands on one Dagster home: many processes released at once onto a
fresh home all open it and register their symbols, and the home works afterwards; a run left
``STARTED`` by a killed ``threadx backfill`` is marked failed by the next one, which completes the
partition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.pipeline.kit import write_project
from threadx_core.testing.fake_binance import Fault
from threadx_pipeline.monitor import worker_pid

pytestmark = pytest.mark.drill  # docs/OPERATIONS.md, Drills

WORKERS, ROUNDS = 8, 4


def release(workers: list[subprocess.Popen], line: str) -> None:
    """Send ``line`` to every worker, one right after the other."""
    for worker in workers:
        worker.stdin.write(line)
        worker.stdin.flush()


def test_many_processes_released_at_once_onto_fresh_homes_all_open_them_and_register(tmp_path):
    """With the lock removed the instance's creation fails; with the re-check removed, the
    registration (``UNIQUE constraint failed: dynamic_partitions``)."""
    script = Path(__file__).with_name("open_instance_worker.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    workers = [subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for _ in range(WORKERS)]
    try:
        for worker in workers:  # a start gate: every process has imported everything
            assert worker.stdout.readline().strip() == "ready"
        homes = [tmp_path / f"home{i}" for i in range(ROUNDS)]
        for home in homes:
            home.mkdir()
            release(workers, f"{home}\n")  # each onto the same fresh home
            opened = [worker.stdout.readline().strip() for worker in workers]
            assert opened == ["opened"] * WORKERS, [w.stderr.read() if w.poll() else "" for w in workers]
            release(workers, "register\n")  # each onto the same registration
            answers = [worker.stdout.readline().strip() for worker in workers]
            assert answers == [f"ok {home}"] * WORKERS, [w.stderr.read() if w.poll() else "" for w in workers]
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(timeout=120)
    assert all(w.returncode == 0 for w in workers)
    for home in homes:  # a later open finds one schema, one alembic head, both symbols once
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.get_dynamic_partitions("symbols") == ["BTCUSDT", "ETHUSDT"]
            assert instance.get_runs() == []


def backfill(project: Path, home: Path, log, **kw) -> subprocess.Popen:
    """``threadx backfill`` of BTCUSDT 2024-01, its output (and its runs') into file ``log``."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[2])}
    env.pop("THREADX_CONFIG", None)
    command = [sys.executable, "-m", "threadx_pipeline.cli", "--config", str(project), "backfill",
               "--from", "2024-01", "--to", "2024-01"]
    return subprocess.Popen(command, cwd=project.parent, env=env, stdout=log, stderr=subprocess.STDOUT, **kw)


def test_a_run_of_a_killed_backfill_is_marked_failed_and_the_next_backfill_completes_it(
        tmp_path, fake_binance):
    urls = f'rest_url = "{fake_binance.url}"\nvision_url = "{fake_binance.url}"'
    project = write_project(tmp_path, source='kind = "binance"', derive=("1h",),
                            extra=f"[binance]\n{urls}\nmax_retries = 0\ntimeout_s = 3600\n")
    home = tmp_path / "home"
    # the first klines request hangs until the server stops: the run is STARTED and stays so
    fake_binance.inject(Fault.delay(3600))
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with open(first_log, "w") as log:
        first = backfill(project, home, log, start_new_session=True)
    try:
        while not fake_binance.klines_requests():  # waits for the request, whatever it takes
            assert first.poll() is None, first_log.read_text()[-3000:]
            fake_binance.stopping.wait(0.2)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            (run,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            pid = worker_pid(instance, run.run_id)
            assert pid is not None
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the command, its code server and the run worker
        first.wait()

    with open(second_log, "w") as log:
        assert backfill(project, home, log).wait(timeout=600) == 0, second_log.read_text()[-3000:]
    out = second_log.read_text()
    assert f"run {run.run_id} (BTCUSDT 2024-01): run worker (pid {pid}) is gone" in out
    assert "the threadx process driving it" in out and "completed_success" in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = instance.get_run_by_id(run.run_id)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "marked failed by threadx" in failure.message
        assert instance.get_latest_materialization_event(dg.AssetKey("raw_1m")) is not None
