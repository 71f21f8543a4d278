"""Declarative automation, evaluated as the daemon evaluates it (``evaluate_automation_conditions``
with the cursor of the previous tick): a month materialised brings its symbol's reports up to date
once (on the 1st, after both of its months), the top-up's own assets are not requested again,
and ``raw_1m`` alone brings its month's derived assets along."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.pipeline.kit import run, write_project
from threadx_pipeline.automation import SENSOR
from threadx_pipeline.definitions import MONTH_JOB, build_definitions
from threadx_pipeline.partitions import key, register_symbols

NOW = "2024-03-15T00:00:00Z"
GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n"


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, symbols=("BTCUSDT", "ETHUSDT"), derive=("1h",), sweep=("1h",), extra=GRID)


def requested(result, defs) -> dict[str, set]:
    """Asset name → partitions the evaluation requested, for every asset it requested."""
    return {k.to_user_string(): result.get_requested_partitions(k)
            for k in defs.resolve_asset_graph().get_all_asset_keys() if result.get_num_requested(k)}


def test_a_month_brings_its_symbols_reports_up_to_date_once_and_nothing_twice(project):
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT", "ETHUSDT"])
        defs = build_definitions(project)
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the daemon's earlier tick
        assert before.total_requested == 0
        # the top-up's run: every month asset of the partition in one run
        assert run(project, instance, "BTCUSDT", "2024-03", now=NOW).success
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
        # only the reports of that symbol, once each; no month asset of the run a second time
        assert requested(after, defs) == {"walk_forward": {"BTCUSDT"}, "full_period": {"BTCUSDT"}}
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
        assert again.total_requested == 0


def test_raw_1m_materialised_alone_brings_its_month_then_the_reports_along(project):
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT", "ETHUSDT"])
        defs = build_definitions(project, frozen_now=NOW)
        job = defs.resolve_job_def(MONTH_JOB)
        partition = key("ETHUSDT", "2024-03")
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert job.execute_in_process(partition_key=partition, instance=instance,
                                      asset_selection=[dg.AssetKey("raw_1m")]).success
        months = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
        # one tick requests the whole derived graph of that month (one run: Dagster orders it)
        derived = {k for k in job.asset_layer.executable_asset_keys if k != dg.AssetKey("raw_1m")}
        assert requested(months, defs) == {k.to_user_string(): {str(partition)} for k in derived}
        # the daemon launches that request; its months updated, the reports follow on the next tick
        assert job.execute_in_process(partition_key=partition, instance=instance,
                                      asset_selection=sorted(derived)).success
        reports = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=months.cursor)
        assert requested(reports, defs) == {"walk_forward": {"ETHUSDT"}, "full_period": {"ETHUSDT"}}
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=reports.cursor)
        assert again.total_requested == 0


def test_the_automation_sensor_is_on_by_default_every_interval_s_seconds(project, tmp_path):
    (tmp_path / "quick").mkdir()
    quick = write_project(tmp_path / "quick", extra="[automation]\ninterval_s = 5\n")
    # resolving reads dynamic partitions: give it an instance of its own (not one an earlier test
    # left current)
    with dg.instance_for_test():
        sensor = build_definitions(project).resolve_sensor_def(SENSOR)
        configured = build_definitions(quick).resolve_sensor_def(SENSOR)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert (sensor.minimum_interval_seconds, configured.minimum_interval_seconds) == (30, 5)


def test_on_the_first_the_reports_wait_for_the_symbols_second_month_and_run_once(project):
    # the top-up of the 1st: two runs of BTCUSDT (the finished month, then the new one)
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT", "ETHUSDT"])
        defs = build_definitions(project, frozen_now=NOW)
        job = defs.resolve_job_def(MONTH_JOB)
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert run(project, instance, "BTCUSDT", "2024-02", now=NOW).success
        # the second month's run is submitted, not yet ended, at the daemon's next tick
        pending = instance.create_run_for_job(job, run_config={}, tags=dict(
            job.partitions_def.get_tags_for_partition_key(key("BTCUSDT", "2024-03"))))
        waiting = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
        assert waiting.total_requested == 0
        instance.report_run_canceled(pending)  # it stands for the run that now runs to its end:
        assert run(project, instance, "BTCUSDT", "2024-03", now=NOW).success
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=waiting.cursor)
        assert requested(after, defs) == {"walk_forward": {"BTCUSDT"}, "full_period": {"BTCUSDT"}}
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
        assert again.total_requested == 0
