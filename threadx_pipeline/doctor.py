"""``threadx doctor``: the core's checks of this machine (``threadx_core.doctor``) plus the
Dagster instance's (docs/GUIDE.md, Checking the environment).

The instance checks: its storage (the class of each of run, event-log and schedule storage: SQLite
or PostgreSQL), and the daemon's heartbeats. No heartbeat, a stale one (Dagster's own rule:
older than the heartbeat interval plus its tolerance) or a daemon reporting errors is a
warning: schedules, sensors and automation then do not run, though ``threadx backfill`` and
``threadx demo`` still drive their own backfills.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from threadx_core import doctor
from threadx_core.doctor.gpu import Probe, probe_cuda
from threadx_core.doctor.report import Check, one_line
from threadx_core.doctor.requirements import Requirements
from threadx_core.settings import Settings
from threadx_pipeline.instance import open_instance


def check_storage(instance: dg.DagsterInstance) -> Check:
    """The instance's storage kinds; a warning when it is ephemeral (nothing would be kept)."""
    kinds = (f"runs {type(instance.run_storage).__name__}, events "
             f"{type(instance.event_log_storage).__name__}, schedules "
             f"{type(instance.schedule_storage).__name__}")
    if instance.is_ephemeral:
        return Check.warning("dagster storage", f"ephemeral instance ({kinds}): runs are not kept")
    return Check.ok("dagster storage", f"{instance.root_directory}: {kinds}")


def check_daemon(instance: dg.DagsterInstance, clock: Callable[[], float] = time.time) -> Check:
    """The daemons the instance needs, from their heartbeats (``get_daemon_statuses``)."""
    statuses = instance.get_daemon_statuses()
    beats = [s.last_heartbeat for s in statuses.values() if s.last_heartbeat is not None]
    if not beats:
        return Check.warning("dagster daemon", "no dagster-daemon heartbeat: schedules, sensors and "
                             "automation are not running (start `dagster-daemon run`; threadx "
                             "backfill drives its own backfills)")
    age = clock() - max(b.timestamp for b in beats)
    sick = sorted(t for t, s in statuses.items() if not s.healthy)
    if sick:
        return Check.warning("dagster daemon", f"{', '.join(sick)} not healthy (newest heartbeat "
                             f"{age:.0f} s ago): is `dagster-daemon run` still running?")
    failing = [b for b in beats if b.errors]
    if failing:
        first = failing[0]
        message = one_line(first.errors[0].message)  # type: ignore[index]
        return Check.warning("dagster daemon", f"{first.daemon_type} reports errors: {message}")
    return Check.ok("dagster daemon", f"{len(statuses)} daemon(s) healthy, newest heartbeat {age:.0f} s ago")


def instance_checks(home: Path) -> list[Check]:
    """The storage and daemon checks of the instance at ``home``, or one error when it does not
    open (a bad ``dagster.yaml``, an unreachable database)."""
    try:
        with open_instance(home) as instance:
            return [check_storage(instance), check_daemon(instance)]
    except Exception as exc:  # whatever stops the instance from opening is the finding
        return [Check.error("dagster storage", f"the instance at {home} does not open "
                            f"({type(exc).__name__}: {one_line(exc)})")]


def run(settings: Settings, home: Path, *, as_json: bool = False,
        requirements: Requirements | None = None, cuda: Probe = probe_cuda) -> int:
    """Run every check, print the table (or JSON) and return the exit code (0 ok, 1 warnings,
    2 errors); ``requirements`` and ``cuda`` as in ``threadx_core.doctor.core_checks``."""
    checks = [*doctor.core_checks(settings, requirements=requirements, cuda=cuda), *instance_checks(home)]
    print(doctor.to_json(checks) if as_json else doctor.table(checks))
    return doctor.exit_code(checks)
