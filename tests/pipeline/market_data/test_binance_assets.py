"""raw_1m materialised through Dagster from the loopback Binance server: top-up, archives, faults."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from tests.pipeline.kit import materialization, write_project
from threadx_core import storage
from threadx_core.testing.candles import FAKE_NOW, toy_candles
from threadx_core.testing.fake_binance import Fault
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import key, register_symbols


def T(text):
    return pd.Timestamp(text, tz="UTC")


def materialize_raw(path, instance, month, now, symbol="BTCUSDT", force=False):
    raw_1m = build_definitions(path, frozen_now=now.isoformat()).resolve_assets_def("raw_1m")
    return dg.materialize([raw_1m], partition_key=key(symbol, month), instance=instance, raise_on_error=False,
                          run_config={"ops": {"raw_1m": {"config": {"force": force}}}})


@pytest.fixture
def rest_project(tmp_path, fake_binance):
    urls = f'rest_url = "{fake_binance.url}"\nvision_url = "{fake_binance.url}"'
    return write_project(tmp_path, source='kind = "binance"', extra=f"[binance]\n{urls}\nmax_retries = 1\n")


def stored(path, month, symbol="BTCUSDT"):
    return storage.read_partition(storage.partition_path(path.parent / "wh", "raw_1m", symbol, month))


def test_half_finished_month_is_topped_up_with_only_the_missing_candles(rest_project, fake_binance, instance):
    first = materialize_raw(rest_project, instance, "2024-03", FAKE_NOW)
    assert first.success
    assert stored(rest_project, "2024-03")["open_time"].iloc[-1] == T("2024-03-15 12:33")

    later = T("2024-03-16 00:00:30")
    fake_binance.now = later
    already = len(fake_binance.klines_requests())
    second = materialize_raw(rest_project, instance, "2024-03", later)
    assert second.success
    asked = fake_binance.klines_requests()[already:]
    assert int(asked[0].params["startTime"]) == T("2024-03-15 12:34").value // 10**6
    meta = materialization(second, "raw_1m")
    assert meta["action"] == "topped_up" and meta["source"] == "binance"
    expected = toy_candles("BTCUSDT", T("2024-03-01"), T("2024-03-16"))
    pd.testing.assert_frame_equal(stored(rest_project, "2024-03"), expected, check_like=False)


def test_archive_source_reads_finished_months_from_checksummed_zips(tmp_path, fake_binance, instance):
    extra = f'[binance]\nrest_url = "{fake_binance.url}"\nvision_url = "{fake_binance.url}"\n'
    path = write_project(tmp_path, source='kind = "binance_vision"', extra=extra)
    result = materialize_raw(path, instance, "2024-02", FAKE_NOW, symbol="ETHUSDT")
    assert result.success
    assert not fake_binance.klines_requests()
    assert any(r.path.endswith("ETHUSDT-1m-2024-02.zip") for r in fake_binance.requests)
    expected = toy_candles("ETHUSDT", T("2024-02-01"), T("2024-03-01"))
    pd.testing.assert_frame_equal(stored(path, "2024-02", "ETHUSDT"), expected)

    fake_binance.inject(Fault.bad_checksum())
    forced = materialize_raw(path, instance, "2024-02", FAKE_NOW, symbol="ETHUSDT", force=True)
    assert not forced.success
    pd.testing.assert_frame_equal(stored(path, "2024-02", "ETHUSDT"), expected)


@pytest.mark.parametrize(("fault", "message"), [
    (Fault.banned(), "banned"),
    (Fault.bad_json(), "BTCUSDT"),
])
def test_exchange_faults_fail_the_run_naming_the_partition_and_store_nothing(rest_project, fake_binance,
                                                                            instance, fault, message):
    fake_binance.inject(fault, times=3)
    result = materialize_raw(rest_project, instance, "2024-01", FAKE_NOW)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    text = str(failure.step_failure_data.error)
    assert "BTCUSDT 2024-01" in text and message in text
    assert not storage.partition_path(rest_project.parent / "wh", "raw_1m", "BTCUSDT", "2024-01").exists()


def test_the_clients_retries_show_in_the_run_log_of_an_instance_with_the_projects_dagster_yaml(
        rest_project, fake_binance):
    project_instance = yaml.safe_load((Path(__file__).parents[3] / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides=project_instance) as instance:
        register_symbols(instance, ["BTCUSDT"])
        fake_binance.inject(Fault.server_error(503))
        result = materialize_raw(rest_project, instance, "2024-01", FAKE_NOW)
        assert result.success
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("BTCUSDT" in m and "HTTP 503" in m and "retry 1/1" in m for m in messages), messages
    assert any("candles in" in m and "pages" in m for m in messages)
