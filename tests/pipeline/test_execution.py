"""``[execution]``: the executor of every job comes from threadx.toml, validated on load."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.pipeline.kit import write_project
from threadx_core.settings import SettingsError
from threadx_pipeline.definitions import MONTH_JOB, SYMBOL_JOB, build_definitions

BROKER = 'broker = "sqla+postgresql+psycopg2://u@127.0.0.1:5432/b"\nbackend = "db+postgresql+psycopg2://u@127.0.0.1:5432/b"\n'


def executors(tmp_path, block: str) -> set[str]:
    defs = build_definitions(write_project(tmp_path, extra=f"[execution]\n{block}"))
    # resolving jobs reads the dynamic partitions of an instance: give it one of its own, or it
    # picks up whatever instance an earlier test left current
    with dg.instance_for_test():
        jobs = [defs.resolve_job_def(MONTH_JOB), defs.resolve_job_def(SYMBOL_JOB),
                defs.resolve_implicit_global_asset_job_def()]
        return {job.executor_def.name for job in jobs}


@pytest.mark.parametrize(("block", "name"), [
    ("", "in_process"),                                # default: a run loads the code once
    ('executor = "multiprocess"\n', "multi_or_in_process_executor"),  # Dagster's own
    ('executor = "multiprocess"\nmax_concurrent = 3\n', "multiprocess"),
    ('executor = "in_process"\n', "in_process"),
    (f'executor = "celery"\n{BROKER}', "celery"),
])
def test_every_job_gets_the_configured_executor(tmp_path, block, name):
    assert executors(tmp_path, block) == {name}


def test_max_concurrent_reaches_the_multiprocess_executor(tmp_path):
    block = '[execution]\nexecutor = "multiprocess"\nmax_concurrent = 3\n'
    defs = build_definitions(write_project(tmp_path, extra=block))
    with dg.instance_for_test():
        resolved = defs.resolve_job_def(MONTH_JOB).executor_def.config_schema.resolve_config({}).value
    assert resolved["config"]["max_concurrent"] == 3


@pytest.mark.parametrize(("block", "message"), [
    ('executor = "ray"\n', "executor: 'ray' is not one of"),
    ('executor = "celery"\n', "the celery executor needs both URLs"),
    (f'executor = "celery"\nmax_concurrent = 2\n{BROKER}', "only for the multiprocess executor"),
    (BROKER, "only for the celery executor"),
    ("max_concurrent = -1\n", "must be >= 0"),
])
def test_bad_execution_settings_are_refused(tmp_path, block, message):
    with pytest.raises(SettingsError, match=r"\[execution\].*" + message.replace("(", r"\(")):
        build_definitions(write_project(tmp_path, extra=f"[execution]\n{block}"))
