"""``threadx backfill`` processes against the loopback Binance server: two concurrent backfills
spend one request-weight budget, and a 418 stops every later fetch of the backfill."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.pipeline.kit import write_project
from threadx_core.testing.candles import SYMBOLS, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Fault
from threadx_pipeline.partitions import key, register_symbols

pytestmark = pytest.mark.drill  # docs/OPERATIONS.md, Drills

PROJECT_YAML = Path(__file__).parents[3] / "dagster.yaml"
#: One sweep combination: the runs are about fetching, not sweeping.
TINY_GRID = "[grid]\nbb_period = [20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n"
#: Seconds of the server's first minute left when the first request arrives (see MinuteEndClock).
LEAD_S = 8.0


class MinuteEndClock:
    """The fake server's clock: the wall clock shifted, on the first request, so that its minute
    ends ``LEAD_S`` seconds later. The budget of a short first minute is spent at once and the
    clients wait seconds, not up to a minute, for the next (their waits follow the server's Date)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset: float | None = None

    def __call__(self) -> float:
        now = time.time()
        with self._lock:
            if self._offset is None:
                self._offset = (60.0 - LEAD_S) - now % 60.0
            return now + self._offset


def binance_project(folder: Path, fake: FakeBinance, binance: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    urls = f'rest_url = "{fake.url}"\nvision_url = "{fake.url}"\n'
    return write_project(folder, symbols=SYMBOLS, source='kind = "binance"', derive=("1h",),
                         extra=f"[binance]\n{urls}{binance}\n{TINY_GRID}")


def dagster_home(home: Path) -> dict[str, str]:
    """The environment of a process on the instance at ``home`` (with the project's dagster.yaml)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_YAML, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("THREADX_CONFIG", None)
    return env


def backfill(project: Path, home: Path, *args: str) -> subprocess.Popen:
    """Start ``threadx backfill`` on ``project`` and the instance at ``home``."""
    return subprocess.Popen([sys.executable, "-m", "threadx_pipeline.cli", "--config", str(project),
                             "backfill", *args], cwd=project.parent, env=dagster_home(home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def materialize_raw(project: Path, home: Path, symbol: str, month: str) -> subprocess.Popen:
    """Start ``dagster asset materialize`` of ``raw_1m`` of one symbol-month on ``project`` and the
    instance at ``home`` (the symbol registered there first)."""
    env = {**dagster_home(home), "THREADX_CONFIG": str(project)}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_symbols(instance, [symbol])
    return subprocess.Popen(["dagster", "asset", "materialize", "-m", "threadx_pipeline.definitions",
                             "--select", "raw_1m", "--partition", str(key(symbol, month))],
                            cwd=project.parent, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def test_two_concurrent_fetching_processes_spend_one_weight_budget_and_never_pass_the_limit(tmp_path):
    # 1 symbol × 1 month each: 45 pages, weight 90; both together (180) do not fit in one minute
    limit = 150
    with FakeBinance(toy_candles, SYMBOLS, weight_limit=limit, clock=MinuteEndClock()) as fake:
        project = binance_project(tmp_path / "project", fake, "weight_limit = 150\nmax_retries = 0\n")
        # two instances (as two deployments on one machine): no pool is shared, only the
        # warehouse's IP state (<warehouse>/.binance) keeps them under the limit
        processes = [materialize_raw(project, tmp_path / f"home-{symbol}", symbol, "2024-01")
                     for symbol in SYMBOLS]
        outcomes = [finish(p) for p in processes]
        for code, output in outcomes:
            assert code == 0, output[-3000:]
        statuses = {r.status for r in fake.klines_requests()}
        per_minute = fake.weight_per_minute()
    assert statuses == {200}, f"the server answered {statuses} (no 429, no 418 expected)"
    assert sum(per_minute.values()) == 2 * 90
    assert max(per_minute.values()) <= limit, per_minute
    assert len(per_minute) >= 2  # the budget was spent and the clients waited for the next minute


def test_a_418_stops_every_later_fetch_of_the_backfill_and_says_until_when(tmp_path):
    with FakeBinance(toy_candles, SYMBOLS) as fake:
        fake.inject(Fault.banned(retry_after_s=3600), times=10)
        project = binance_project(tmp_path / "project", fake, "max_retries = 0\n")
        code, output = finish(backfill(project, tmp_path / "home", "--from", "2024-01", "--to", "2024-02"))
        host = fake.url.removeprefix("http://")
        assert len(fake.requests) == 1, fake.requests
    assert code == 1, output[-3000:]
    state = json.loads((tmp_path / "project" / "wh" / ".binance" / "ip-state.json").read_text())
    until = state["hosts"][host]["banned_until"]
    ban = re.compile(rf"(BTCUSDT|ETHUSDT) (2024-0[12]): Binance has banned this IP on {re.escape(host)} "
                     rf"until {re.escape(until)} \(UTC\); nothing is sent to {re.escape(host)} before then")
    lines = output.splitlines()
    failed = [line for line in lines if line.lstrip().startswith("FAILED")]
    summary = [line for line in lines if line.startswith("  BTCUSDT..ETHUSDT 2024-0")]
    # both runs (one per month) failed on the ban, each saying so in the progress and the summary:
    # February's on January when it fetched it ahead (its months continue January), or on its own
    assert len(failed) == len(summary) == 2 and all(map(ban.search, failed + summary)), output[-3000:]
    by_run = {re.search(r"ETHUSDT (2024-0[12]):", line).group(1): line for line in failed}
    assert set(by_run) == {"2024-01", "2024-02"}
    february = by_run["2024-02"]
    assert ban.search(february).group(2) == "2024-02" or "of this run, which continues it" in february
