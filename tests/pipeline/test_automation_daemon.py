"""Automation through the daemon's own evaluation: a real ``dagster-daemon run`` on the project's
``workspace.yaml``, over a project folder and a ``DAGSTER_HOME`` of its own. ``raw_1m`` of one month
is materialised alone with new candles (``dagster asset materialize``, as a person would); the
``threadx_automation`` sensor's runs then bring that month's derived assets, and after them the
symbol's reports, then the leaderboard, up to date; quiet ticks after that submit nothing more.

Nothing here is timed: the test polls the instance until the state it waits for is there, under
a generous ceiling that only bounds a hang, and counts the sensor's ticks to know a quiet period
went by.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.scheduler.instigation import InstigatorTick, InstigatorType, TickStatus
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from tests.pipeline.kit import write_project
from tests.scale.kit import ROOT, environment, stop
from threadx_pipeline.automation import SENSOR
from threadx_pipeline.partitions import key, register_symbols

pytestmark = [pytest.mark.slow, pytest.mark.daemon]

SYMBOL, MONTH = "BTCUSDT", "2024-01"
GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n"
#: the sensor's interval for this project (``[automation] interval_s``): the daemon's floor
INTERVAL = "[automation]\ninterval_s = 5\n"
#: what raw_1m of the month brings along: its month's derived assets, then the symbol's reports
MONTH_ASSETS = ("ohlcv_1h", "indicators_1h", "sweep_1h", "best_by_run", "backtest_report", "backtest_trades")
SYMBOL_ASSETS = ("walk_forward", "full_period")
#: what the reports bring along: the leaderboard across symbols (unpartitioned)
BOARD = "leaderboard"
#: a ceiling against a hang on a loaded 2-core machine, never a measurement
PATIENCE_S = 300
#: ticks of the sensor after the last run ended that must request nothing
QUIET_TICKS = 3
SENSOR_TAG, AUTOMATION_TAG = "dagster/sensor_name", "dagster/from_automation_condition"


def sensor_ticks(instance: dg.DagsterInstance) -> list[InstigatorTick]:
    """Every tick of the automation sensor, newest first (none before the daemon's first)."""
    states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
              if s.instigator_name == SENSOR]
    return [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id)]


def latest(instance: dg.DagsterInstance, asset: str, partition: str | None) -> dg.EventLogRecord | None:
    """The newest materialisation of ``asset`` in ``partition`` (``None``: an unpartitioned asset), if any."""
    partitions = None if partition is None else [partition]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=partitions), limit=1).records
    return records[0] if records else None


class Daemon:
    """``dagster-daemon run -w workspace.yaml`` (the project's) in its own process group, its output in
    ``log``; :meth:`wait_for` polls the instance while it runs and fails with its log when the
    daemon has died, a run failed, a sensor tick failed or the ceiling passed."""

    def __init__(self, env: dict[str, str], log: Path, instance: dg.DagsterInstance):
        self.log, self.instance = log, instance
        self.proc = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run",
                                      "-w", str(ROOT / "workspace.yaml")],
                                     env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_for(self, awaited: Callable[[], list[str]]) -> None:
        """Poll until ``awaited()``, what is still awaited, is empty."""
        deadline = time.monotonic() + PATIENCE_S
        while missing := awaited():
            assert self.proc.poll() is None, f"dagster-daemon exited {self.proc.returncode}:\n{self.tail()}"
            failed = self.instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            assert not failed, f"run {failed[0].run_id} ({failed[0].job_name}) failed:\n{self.tail()}"
            errors = [t for t in sensor_ticks(self.instance) if t.status == TickStatus.FAILURE]
            assert not errors, f"{SENSOR} tick failed: {errors[0].error}"
            assert time.monotonic() < deadline, f"still awaited at {PATIENCE_S} s: {missing}\n{self.tail()}"
            time.sleep(1)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def finished_ticks(instance: dg.DagsterInstance, after: float = 0.0) -> list[InstigatorTick]:
    """The automation sensor's ticks that started after ``after`` (a timestamp) and have ended."""
    return [t for t in sensor_ticks(instance) if t.timestamp > after and t.status != TickStatus.STARTED]


def materialize_raw_1m(env: dict[str, str], partition: str) -> None:
    """``dagster asset materialize`` of ``raw_1m`` alone in ``partition``, as an operator runs it."""
    args = ["asset", "materialize", "-m", "threadx_pipeline.definitions", "--select", "raw_1m",
            "--partition", partition]
    done = subprocess.run([sys.executable, "-m", "dagster", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=PATIENCE_S)
    assert done.returncode == 0, f"raw_1m {partition}: {done.stdout[-3000:]}{done.stderr[-3000:]}"


def _clear_of_the_daily_top_up() -> None:
    """Wait until the real ``daily_top_up`` schedule (00:15 UTC, on by default) is at least five
    minutes away: its runs would be new candles too, and the quiet period below would not be."""
    now = pd.Timestamp.now(tz="UTC")
    fire = now.normalize() + pd.Timedelta(minutes=15)
    if fire - pd.Timedelta(minutes=5) <= now < fire + pd.Timedelta(minutes=5):
        time.sleep((fire + pd.Timedelta(minutes=5) - now).total_seconds())


def test_new_candles_of_a_month_reach_its_derived_assets_then_the_reports_through_the_daemon(tmp_path):
    _clear_of_the_daily_top_up()
    project = write_project(tmp_path, symbols=(SYMBOL,), derive=("1h",), sweep=("1h",), extra=GRID + INTERVAL)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home)  # the project's instance settings (run queue, concurrency)
    env = environment(project, home)
    partition = str(key(SYMBOL, MONTH))
    wanted = [(a, partition) for a in MONTH_ASSETS] + [(a, SYMBOL) for a in SYMBOL_ASSETS] + [(BOARD, None)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_symbols(instance, [SYMBOL])  # what the register_symbols sensor does on its first tick
        daemon = Daemon(env, tmp_path / "daemon.log", instance)
        try:
            # a first evaluation gives the sensor a cursor: what changes after it is news
            daemon.wait_for(lambda: [] if finished_ticks(instance) else [f"a first {SENSOR} tick"])
            materialize_raw_1m(env, partition)
            raw = latest(instance, "raw_1m", partition)
            assert raw.event_log_entry.asset_materialization.metadata["rows"].value > 0

            def stale() -> list[str]:
                """Assets not materialised since raw_1m, and runs not ended yet."""
                old = [f"{a} {p}" for a, p in wanted
                       if (r := latest(instance, a, p)) is None or r.storage_id < raw.storage_id]
                running = instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
                return old + [f"run {r.run_id} ({r.status.value})" for r in running]

            daemon.wait_for(stale)
            # every one of them by a run the automation sensor launched: the month graph, then the
            # symbol's reports, then the leaderboard, one run each, nothing twice
            runs = {r.run_id: r for r in instance.get_runs()}
            for asset, part in wanted:
                tags = runs[latest(instance, asset, part).run_id].tags
                assert tags.get(SENSOR_TAG) == SENSOR and tags.get(AUTOMATION_TAG) == "true", (asset, tags)
            launched = [r for r in runs.values() if r.tags.get(SENSOR_TAG) == SENSOR]
            assert sorted(sorted(a.to_user_string() for a in r.asset_selection) for r in launched) == \
                sorted([sorted(MONTH_ASSETS), sorted(SYMBOL_ASSETS), [BOARD]])

            # a quiet period: the ticks that start after the last run ended request nothing
            ended = max(instance.get_run_record_by_id(r.run_id).end_time for r in launched)
            daemon.wait_for(lambda: [f"{QUIET_TICKS - n} more {SENSOR} tick(s)"]
                            if (n := len(finished_ticks(instance, ended))) < QUIET_TICKS else [])
            requesting = [(t.tick_id, t.status.value, t.run_ids) for t in finished_ticks(instance, ended)
                          if t.run_ids or t.status != TickStatus.SKIPPED]
            assert not requesting, f"{SENSOR} ticks after the last run requested more: {requesting}"
            assert len(instance.get_runs()) == len(runs) and not instance.get_backfills()
        finally:
            stop(daemon.proc)
