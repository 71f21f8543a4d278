"""The daily top-up schedule and the symbol-registration sensor, evaluated by Dagster."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.market_data.schedules import months_to_top_up
from threadx_pipeline.partitions import SYMBOLS


def test_months_to_top_up_adds_the_previous_month_on_the_first_day_only():
    assert months_to_top_up(pd.Timestamp("2024-03-14 00:15", tz="UTC"), "2024-01") == ["2024-03"]
    assert months_to_top_up(pd.Timestamp("2024-03-01 00:15", tz="UTC"), "2024-01") == ["2024-02", "2024-03"]
    assert months_to_top_up(pd.Timestamp("2024-01-01 00:15", tz="UTC"), "2024-01") == ["2024-01"]


def test_schedule_requests_current_month_of_every_registered_symbol(project, instance):
    defs = build_definitions(project)
    schedule = defs.resolve_schedule_def("daily_top_up")
    assert schedule.cron_schedule == "15 0 * * *" and schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                        scheduled_execution_time=datetime(2024, 3, 1, 0, 15, tzinfo=UTC))
    requests = schedule.evaluate_tick(context).run_requests
    keys = sorted(str(r.partition_key) for r in requests)
    assert keys == ["2024-02|BTCUSDT", "2024-02|ETHUSDT", "2024-03|BTCUSDT", "2024-03|ETHUSDT"]
    assert all(r.job_name in (None, "symbol_month_job") for r in requests)


def test_schedule_skips_until_a_symbol_is_registered(project):
    with dg.instance_for_test() as empty:
        defs = build_definitions(project)
        schedule = defs.resolve_schedule_def("daily_top_up")
        context = dg.build_schedule_context(instance=empty, repository_def=defs.get_repository_def(),
                                            scheduled_execution_time=datetime(2024, 3, 5, tzinfo=UTC))
        data = schedule.evaluate_tick(context)
    assert not data.run_requests and "no symbol registered" in data.skip_message


def test_sensor_registers_configured_symbols_once(project):
    # Definitions are resolved inside the instance's context: Dagster ties them to it.
    with dg.instance_for_test() as inst:
        sensor = build_definitions(project).resolve_sensor_def("register_symbols")
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=inst))
        (request,) = first.dynamic_partitions_requests
        assert request.partition_keys == ["BTCUSDT"]
        inst.add_dynamic_partitions(SYMBOLS.name, ["BTCUSDT"])
        second = sensor.evaluate_tick(dg.build_sensor_context(instance=inst))
        assert not second.dynamic_partitions_requests and "registered" in second.skip_message
