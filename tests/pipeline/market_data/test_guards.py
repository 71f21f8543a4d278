"""Operator drills through Dagster: a hostile symbol from any origin (registration, the UI's
*Add partition* and launch through GraphQL, the daily schedule, automation, a per-symbol
report) writes nothing and fails in one line naming it, and ``force`` repairs a corrupt
``raw_1m`` month (docs/OPERATIONS.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql.test.utils import execute_dagster_graphql

from tests.pipeline.kit import run
from tests.pipeline.ui_backfill import LAUNCH
from threadx_core import schema, storage
from threadx_pipeline import runs
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import SYMBOLS, register_symbols

pytestmark = pytest.mark.drill  # docs/OPERATIONS.md, Drills

NOW = "2024-03-01T00:00:00Z"


def failure_text(result) -> str:
    """The first step failure's error and its causes, as one text."""
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


@pytest.mark.parametrize("symbol", ["../../../../escape", "../evil", "btcusdt", "BTC/USDT"])
def test_registering_a_hostile_symbol_is_refused(instance, symbol):
    with pytest.raises(ValueError, match="not a Binance spot symbol"):
        register_symbols(instance, [symbol])
    assert not instance.has_dynamic_partition(SYMBOLS.name, symbol)


def test_a_hostile_symbol_added_as_the_ui_does_fails_its_run_and_writes_nothing(project, instance, tmp_path):
    # the UI's "Add partition" (GraphQL addDynamicPartition) adds the key without our check
    instance.add_dynamic_partitions(SYMBOLS.name, ["../../../../escape"])
    result = run(project, instance, "../../../../escape", "2024-01", now=NOW)
    assert not result.success
    assert "symbol '../../../../escape' is not a Binance spot symbol" in failure_text(result)
    written = [p for p in tmp_path.parent.rglob("*.parquet") if "escape" in str(p)]
    assert written == []
    assert not (project.parent / "wh" / "raw_1m").exists() or not any(
        (project.parent / "wh" / "raw_1m").rglob("*.parquet"))


ADD_PARTITION = """
mutation Add($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on PythonError { message }
  }
}"""


def everything_under(folder: Path) -> set[Path]:
    """Every file and folder under ``folder``."""
    return set(folder.rglob("*"))


def test_hostile_symbols_added_and_launched_through_graphql_fail_in_one_line_and_write_nothing(
        project, instance, tmp_path, monkeypatch):
    # the UI's own mutations, through Dagster's GraphQL layer, against the code location a
    # `dagster dev` of this project serves; the backfill is driven as the daemon would drive it
    monkeypatch.setenv("THREADX_CONFIG", str(project))
    before = everything_under(tmp_path.parent)
    lines = []
    with runs.workspace(instance, tmp_path) as workspace:
        context = workspace.create_request_context()
        selector = {"repositoryLocationName": "threadx", "repositoryName": "__repository__"}
        for hostile in ("../../escape", "../evil"):
            added = execute_dagster_graphql(context, ADD_PARTITION, variables={
                "selector": selector, "name": SYMBOLS.name, "key": hostile}).data["addDynamicPartition"]
            assert added == {"__typename": "AddDynamicPartitionSuccess", "partitionKey": hostile}
        launched = execute_dagster_graphql(context, LAUNCH, variables={"backfillParams": {
            "assetSelection": [{"path": ["raw_1m"]}], "partitionNames": ["2024-01|../evil"]}},
        ).data["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        outcome = runs.follow(instance, launched["backfillId"], drive=workspace, progress=lines.append)
    assert not outcome.success
    (failed,) = outcome.runs
    assert failed.error.startswith("raw_1m ../evil 2024-01: ") and "\n" not in failed.error
    assert "symbol '../evil' is not a Binance spot symbol" in failed.error
    assert any(failed.error in line for line in lines)  # the progress shows the same line
    new = everything_under(tmp_path.parent) - before
    warehouse = project.parent / "wh"
    assert [p for p in new if not p.is_relative_to(warehouse)] == []
    assert [p for p in new if "evil" in str(p) or "escape" in str(p)] == []


def test_the_daily_top_up_leaves_a_hostile_registered_symbol_out_and_names_it(project, instance, capsys):
    # registered directly in the instance, around register_symbols, as a UI user could
    instance.add_dynamic_partitions(SYMBOLS.name, ["../evil", "BTC/USDT"])
    defs = build_definitions(project)
    schedule = defs.resolve_schedule_def("daily_top_up")
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                        scheduled_execution_time=datetime(2024, 3, 5, 0, 15, tzinfo=UTC))
    data = schedule.evaluate_tick(context)
    # the good symbols are topped up as every day; the bad keys get no run
    assert sorted(str(r.partition_key) for r in data.run_requests) == ["2024-03|BTCUSDT", "2024-03|ETHUSDT"]
    logged = capsys.readouterr().err
    for hostile in ("../evil", "BTC/USDT"):
        assert f"partition left out: symbol '{hostile}' is not a Binance spot symbol" in logged


def test_the_daily_top_up_of_only_hostile_symbols_is_skipped_naming_them(project):
    with dg.instance_for_test() as only_hostile:
        only_hostile.add_dynamic_partitions(SYMBOLS.name, ["../evil"])
        defs = build_definitions(project)
        context = dg.build_schedule_context(instance=only_hostile, repository_def=defs.get_repository_def(),
                                            scheduled_execution_time=datetime(2024, 3, 5, 0, 15, tzinfo=UTC))
        data = defs.resolve_schedule_def("daily_top_up").evaluate_tick(context)
    assert not data.run_requests
    assert data.skip_message == "no valid symbol registered: ['../evil'] left out (not Binance spot symbols)"


def test_the_automation_sensor_requests_nothing_for_a_hostile_symbol(project, instance):
    # the sensor requests what follows a stored month: a hostile key's month is never stored
    instance.add_dynamic_partitions(SYMBOLS.name, ["../evil"])
    defs = build_definitions(project, frozen_now=NOW)
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    hostile = run(project, instance, "../evil", "2024-01", now=NOW)
    assert run(project, instance, "BTCUSDT", "2024-01", now=NOW).success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    requested = {str(p) for k in defs.resolve_asset_graph().get_all_asset_keys()
                 for p in after.get_requested_partitions(k)}
    assert requested == {"BTCUSDT"}  # the good symbol's reports, nothing of the bad one
    assert not hostile.success


@pytest.mark.parametrize("report", ["walk_forward", "full_period"])
def test_a_per_symbol_report_of_a_hostile_symbol_fails_in_one_line_and_writes_nothing(
        project, instance, tmp_path, report):
    # the UI's "Materialize" of a per-symbol report (the implicit asset job) for a UI-added key:
    # its inputs load before its body, and that load is where the key is refused
    job = build_definitions(project, frozen_now=NOW).resolve_implicit_global_asset_job_def()
    assert run(project, instance, "BTCUSDT", "2024-01", now=NOW).success  # a stored month beside it
    instance.add_dynamic_partitions(SYMBOLS.name, ["../../escape"])
    before = everything_under(tmp_path.parent)
    result = job.execute_in_process(partition_key="../../escape", instance=instance, raise_on_error=False,
                                    asset_selection=[dg.AssetKey(report)])
    assert not result.success
    line = runs.root_cause(instance, result.run_id)
    assert line.startswith(f"{report} ../../escape: storage key ") and "\n" not in line
    assert "symbol '../../escape' is not a Binance spot symbol" in line
    assert everything_under(tmp_path.parent) == before


def test_force_repairs_a_corrupt_raw_month_and_without_force_the_run_names_the_file(project, instance):
    assert run(project, instance, "BTCUSDT", "2024-01", now=NOW).success
    path = storage.partition_path(project.parent / "wh", "raw_1m", "BTCUSDT", "2024-01")
    good = storage.read_partition(path)
    path.write_bytes(path.read_bytes()[:200])  # truncated: no Parquet footer

    refused = run(project, instance, "BTCUSDT", "2024-01", now=NOW)
    assert not refused.success
    assert str(path) in failure_text(refused) and "corrupt" in failure_text(refused)
    assert path.stat().st_size == 200  # a failed run never replaces the file

    repaired = run(project, instance, "BTCUSDT", "2024-01", now=NOW, force=True)
    assert repaired.success
    fresh = storage.read_partition(path)
    schema.validate_raw_1m(fresh, "test")
    assert fresh.equals(good)
