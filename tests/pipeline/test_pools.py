"""Concurrency pools: the contending assets declare them, and an instance with the project's
``dagster.yaml`` makes a step wait for its pool's slot while another run holds it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.pipeline.kit import write_project
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import key, register_symbols

PROJECT_INSTANCE = yaml.safe_load((Path(__file__).parents[2] / "dagster.yaml").read_text())
#: The longest a wait for an event may take before the test gives up (a hang, not a timing rule).
DEADLINE_S = 180.0


@pytest.mark.parametrize(("mode", "sweep_pool"), [("cpu", "cpu"), ("gpu", "gpu"), ("multi-gpu", "gpu")])
@pytest.mark.parametrize(("source", "raw_pool"), [
    ('kind = "binance"', "binance"),
    ('kind = "binance_vision"', "binance"),
    ('kind = "synthetic"', None)])
def test_raw_1m_and_the_sweeps_declare_the_pools_of_what_they_contend_for(tmp_path, mode, sweep_pool,
                                                                           source, raw_pool):
    path = write_project(tmp_path, sweep=("1h", "4h"), source=source, extra=f'[device]\nmode = "{mode}"\n')
    with dg.instance_for_test():
        defs = build_definitions(path)
        pools = {name: defs.resolve_assets_def(name).op.pool
                 for name in ("raw_1m", "sweep_1h", "sweep_4h", "ohlcv_1h")}
    assert pools == {"raw_1m": raw_pool, "sweep_1h": sweep_pool, "sweep_4h": sweep_pool, "ohlcv_1h": None}


def _wait_for(what: str, found):
    """Poll ``found()`` until it returns something truthy; fail naming ``what`` after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_sweep_step_waits_for_the_cpu_slot_another_run_holds(tmp_path):
    path = write_project(tmp_path, derive=("1h",), extra='[device]\nmode = "cpu"\n')
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        register_symbols(instance, ["BTCUSDT"])
        storage = instance.event_log_storage
        # another run's sweep holds the only cpu slot (the project's default_limit)
        storage.initialize_concurrency_limit_to_default("cpu")
        assert storage.get_concurrency_info("cpu").slot_count == 1
        assert storage.claim_concurrency_slot("cpu", "other-run", "sweep_1h").is_claimed

        defs = build_definitions(path, frozen_now="2024-03-15T00:00:00Z")
        job = defs.resolve_implicit_global_asset_job_def()
        selection = [dg.AssetKey(name) for name in ("raw_1m", "ohlcv_1h", "indicators_1h", "sweep_1h")]
        results = []
        worker = threading.Thread(target=lambda: results.append(job.execute_in_process(
            partition_key=key("BTCUSDT", "2024-01"), instance=instance, asset_selection=selection,
            raise_on_error=False)))
        worker.start()
        try:
            (run,) = _wait_for("the run", lambda: instance.get_runs())

            def sweep_events():
                return [e for e in instance.all_logs(run.run_id) if e.step_key == "sweep_1h"]

            blocked = _wait_for("the sweep to be blocked", lambda: [
                e for e in sweep_events() if e.user_message == "Step blocked by limit for pool cpu"])
            assert blocked
            # its inputs were made, the sweep waits in its run: pending on the pool, not started
            info = storage.get_concurrency_info("cpu")
            assert [s.run_id for s in info.claimed_slots] == ["other-run"]
            assert run.run_id in info.pending_run_ids
            assert not [e for e in sweep_events() if e.is_dagster_event
                        and e.dagster_event_type == dg.DagsterEventType.STEP_START]
            done = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
            assert {"raw_1m", "ohlcv", "indicators_1h"} <= {e.step_key for e in done}
        finally:
            storage.free_concurrency_slot_for_step("other-run", "sweep_1h")  # the other run's sweep ends
            worker.join(DEADLINE_S)
        (result,) = results
        assert result.success
        assert storage.get_concurrency_info("cpu").claimed_slots == []
