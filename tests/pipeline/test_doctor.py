"""``threadx doctor``: the Dagster instance's checks on a real instance, a too-old requirement
failing the whole report (exit 2), and the command itself in a subprocess — against the
loopback Binance server, with Numba's simulated CUDA stack (exit 1: warnings only) and with an
unreachable server and a GPU mode on a machine without one (exit 2)."""

from __future__ import annotations

import json
import socket
import time

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat

from tests.pipeline.kit import threadx, write_project
from threadx_core import data, settings
from threadx_core.doctor.report import Status
from threadx_core.doctor.requirements import PYPROJECT, from_pyproject
from threadx_core.testing.fake_binance import FakeBinance
from threadx_pipeline import doctor


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="module")
def fake():
    with FakeBinance(lambda s, a, b: data.synthetic(s, a, b), ["BTCUSDT"]) as server:
        yield server


def beat(instance, at):
    instance.wipe_daemon_heartbeats()
    for daemon in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(at, daemon, "doctor-test", None))


def test_the_instance_storage_and_daemon_heartbeats_are_reported(instance):
    storage = doctor.check_storage(instance)
    assert storage.status is Status.OK and "runs SqliteRunStorage" in storage.detail
    instance.wipe_daemon_heartbeats()
    none = doctor.check_daemon(instance)
    assert none.status is Status.WARNING and none.detail.startswith("no dagster-daemon heartbeat")
    beat(instance, time.time())
    alive = doctor.check_daemon(instance)
    assert alive.status is Status.OK and "daemon(s) healthy" in alive.detail
    beat(instance, time.time() - 3600)
    stale = doctor.check_daemon(instance)
    assert stale.status is Status.WARNING and "not healthy (newest heartbeat 36" in stale.detail
    assert "BACKFILL" in stale.detail


def test_a_too_old_requirement_makes_the_report_exit_2(tmp_path, monkeypatch, capsys, fake):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    text = PYPROJECT.read_text().replace('"numpy>=1.26"', '"numpy>=99"')
    assert text != PYPROJECT.read_text()
    (tmp_path / "pyproject.toml").write_text(text)
    path = write_project(tmp_path, extra=f'[binance]\nrest_url = "{fake.url}"\n')
    code = doctor.run(settings.load(path), tmp_path / "home",
                      requirements=from_pyproject(tmp_path / "pyproject.toml"))
    lines = capsys.readouterr().out.splitlines()
    assert code == 2 and lines[-1].endswith("1 error(s): exit 2")
    (numpy,) = [line for line in lines if line.startswith("error")]
    assert "numpy" in numpy and "installed, requires >=99" in numpy


def test_the_command_reports_a_simulated_gpu_and_the_loopback_server(tmp_path, fake):
    path = write_project(tmp_path, extra=f'[device]\nmode = "gpu"\n[binance]\nrest_url = "{fake.url}"\n')
    done = threadx("--config", str(path), "doctor", "--json", home=tmp_path / "home", cwd=tmp_path,
                   env={"NUMBA_ENABLE_CUDASIM": "1"})
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert done.returncode == 1 == report["exit_code"], done.stdout + done.stderr
    assert report["counts"]["error"] == 0
    assert checks["cuda"]["detail"].startswith("driver Numba CUDA simulator")
    assert checks["gpu:0"]["detail"] == "gpu, memory not reported, compute capability 5.2"
    kernel = checks["gpu:0 kernel"]
    assert kernel["status"] == "ok" and "agrees with the CPU on 4 combinations" in kernel["detail"]
    # the clock's thresholds are tested on fixed clocks (tests/core/doctor/test_binance.py)
    assert checks["binance"]["status"] == "ok" and checks["clock offset"]["status"] != "error"
    assert checks["warehouse write"]["detail"].startswith(f"{tmp_path / 'wh'} writable")
    assert checks["dagster storage"]["detail"].startswith(f"{tmp_path / 'home'}: runs SqliteRunStorage")
    assert checks["dagster daemon"]["status"] == "warning"  # no daemon runs for this instance


def test_the_command_exits_2_on_an_unreachable_server_and_a_gpu_mode_without_gpu(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = write_project(tmp_path, extra=f'[device]\nmode = "gpu"\n[binance]\nrest_url = "{url}"\n')
    done = threadx("--config", str(path), "doctor", home=tmp_path / "home", cwd=tmp_path)
    errors = [line for line in done.stdout.splitlines() if line.startswith("error")]
    assert done.returncode == 2, done.stdout + done.stderr
    assert [line.split()[1] for line in errors] == ["cuda", "binance"]
    assert "[device] mode = 'gpu' needs one" in errors[0] and f"{url}/api/v3/time unreachable" in errors[1]
