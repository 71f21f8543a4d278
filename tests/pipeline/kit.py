"""Test kit of the pipeline tests: a throwaway project, one symbol-month run, its metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from threadx_pipeline.definitions import MONTH_JOB, build_definitions
from threadx_pipeline.partitions import key


def write_project(folder: Path, *, symbols=("BTCUSDT",), source: str = "kind = \"synthetic\"",
                  extra: str = "", derive=("15m", "1h", "4h", "1d"), sweep=("1h",)) -> Path:
    """Write ``folder/threadx.toml`` and return its path (warehouse under ``folder/wh``)."""
    quoted = ", ".join(f'"{s}"' for s in symbols)
    tfs = ", ".join(f'"{t}"' for t in derive)
    sweep_tfs = ", ".join(f'"{t}"' for t in sweep)
    path = folder / "threadx.toml"
    path.write_text(
        f'[warehouse]\nroot = "wh"\n\n[universe]\nsymbols = [{quoted}]\nstart_month = "2024-01"\n\n'
        f"[source]\n{source}\n\n[timeframes]\nderive = [{tfs}]\nsweep = [{sweep_tfs}]\n{extra}\n")
    return path


def run(path, instance, symbol, month, *, now, force=False):
    job = build_definitions(path, frozen_now=now).resolve_job_def(MONTH_JOB)
    return job.execute_in_process(partition_key=key(symbol, month), instance=instance,
                                  run_config={"ops": {"raw_1m": {"config": {"force": force}}}},
                                  raise_on_error=False)


def materialize(path, instance, symbol, month, assets, *, now):
    """Materialise only ``assets`` (names) of one symbol-month partition: a subset of the month job."""
    job = build_definitions(path, frozen_now=now).resolve_job_def(MONTH_JOB)
    return job.execute_in_process(partition_key=key(symbol, month), instance=instance, raise_on_error=False,
                                  asset_selection=[dg.AssetKey(a) for a in assets])


def materialization(result, asset):
    """The metadata of ``asset``'s one materialisation in ``result``, whichever step made it."""
    (event,) = [e.step_materialization_data.materialization for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(asset)]
    return {k: v.value for k, v in event.metadata.items()}


def checks(result):
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def threadx(*args, home, cwd, env=None) -> subprocess.CompletedProcess:
    """Run the ``threadx`` command with ``DAGSTER_HOME=home`` in ``cwd`` (no ``THREADX_CONFIG``),
    ``env`` added to the environment."""
    env = {**os.environ, "DAGSTER_HOME": str(home), **(env or {})}
    env.pop("THREADX_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "threadx_pipeline.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
