"""raw_1m and ohlcv_<tf> materialised through Dagster: files, metadata, checks, top-up."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.pipeline.kit import checks, materialization, run, write_project
from threadx_core import schema, storage
from threadx_core.data.gaps import find_gaps
from threadx_core.data.resample import resample
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import key


def test_finished_month_materialises_raw_and_every_timeframe_with_passing_checks(project, instance):
    result = run(project, instance, "BTCUSDT", "2024-01", now="2024-03-01T00:00:00Z")
    assert result.success
    root = project.parent / "wh"
    raw = storage.read_partition(storage.partition_path(root, "raw_1m", "BTCUSDT", "2024-01"))
    schema.validate_raw_1m(raw, "test")
    assert len(raw) == 31 * 1440
    meta = materialization(result, "raw_1m")
    assert meta["rows"] == 31 * 1440 and meta["missing_minutes"] == 0
    assert meta["source"] == "synthetic" and meta["action"] == "fetched"
    assert meta["first"].startswith("2024-01-01 00:00") and meta["last"].startswith("2024-01-31 23:59")
    assert meta["bytes_written"] > 0 and meta["elapsed_s"] >= 0
    for tf in ("15m", "1h", "4h", "1d"):
        stored = storage.read_partition(storage.partition_path(root, f"ohlcv_{tf}", "BTCUSDT", "2024-01"))
        pd.testing.assert_frame_equal(stored, resample(raw, tf))
    assert len(storage.read_partition(storage.partition_path(root, "ohlcv_1d", "BTCUSDT", "2024-01"))) == 31
    evaluations = checks(result)
    assert len(evaluations) == 3 + 2 * 4
    assert all(e.passed for e in evaluations.values())


def test_current_month_is_topped_up_on_the_next_run(project, instance):
    first = run(project, instance, "ETHUSDT", "2024-02", now="2024-02-10T12:00:30Z")
    assert first.success
    assert materialization(first, "raw_1m")["last"].startswith("2024-02-10 11:59")
    second = run(project, instance, "ETHUSDT", "2024-02", now="2024-02-11T00:00:00Z")
    meta = materialization(second, "raw_1m")
    assert meta["action"] == "topped_up"
    assert meta["fetched_rows"] == 12 * 60
    assert meta["rows"] == (9 * 24 + 24) * 60
    path = storage.partition_path(project.parent / "wh", "ohlcv_1h", "ETHUSDT", "2024-02")
    hourly = storage.read_partition(path)
    assert len(hourly) == 10 * 24 and hourly["complete"].all()


def test_complete_month_is_skipped_then_refetched_when_forced(project, instance):
    now = "2024-03-01T00:00:00Z"
    assert run(project, instance, "BTCUSDT", "2024-01", now=now).success
    again = run(project, instance, "BTCUSDT", "2024-01", now=now)
    assert materialization(again, "raw_1m")["action"] == "skipped"
    forced = run(project, instance, "BTCUSDT", "2024-01", now=now, force=True)
    assert materialization(forced, "raw_1m")["action"] == "fetched"


def test_gappy_data_warns_and_every_missing_range_is_stored_where_the_metadata_points(tmp_path, instance):
    path = write_project(tmp_path, source='kind = "synthetic"\ngap_probability = 0.9', derive=("1h",),
                         extra="[gaps]\ncompleteness_warn = 0.9999\n")
    result = run(path, instance, "BTCUSDT", "2024-01", now="2024-03-01T00:00:00Z")
    assert result.success
    completeness = checks(result)[("raw_1m", "completeness")]
    assert not completeness.passed
    assert completeness.severity == dg.AssetCheckSeverity.WARN
    assert completeness.metadata["missing_minutes"].value > 0
    # the full list (DESIGN §4), not only the preview: beside raw_1m, equal to the computed gaps
    root = tmp_path / "wh"
    raw = storage.read_partition(storage.partition_path(root, "raw_1m", "BTCUSDT", "2024-01"))
    expected = find_gaps(raw, "2024-01-01", "2024-02-01")
    assert len(expected.ranges) > 5
    meta = materialization(result, "raw_1m")
    assert Path(meta["gap_list"]) == storage.partition_path(root, "raw_1m_gaps", "BTCUSDT", "2024-01")
    stored = storage.read_partition(meta["gap_list"])
    pd.testing.assert_frame_equal(stored, expected.table())
    assert list(zip(stored["first_missing"], stored["last_missing"], strict=True)) == list(expected.ranges)
    assert meta["gap_ranges"] == len(stored) and meta["missing_minutes"] == stored["minutes"].sum() > 0
    assert meta["first_gaps"].endswith(f"… and {len(expected.ranges) - 5} more")


def test_invalid_frame_is_refused_by_the_io_manager_and_good_data_survives(project, instance):
    assert run(project, instance, "BTCUSDT", "2024-01", now="2024-03-01T00:00:00Z").success
    path = storage.partition_path(project.parent / "wh", "raw_1m", "BTCUSDT", "2024-01")
    before = path.read_bytes()
    defs = build_definitions(project)
    symbol_month = defs.resolve_assets_def("raw_1m").partitions_def

    @dg.asset(name="raw_1m", partitions_def=symbol_month, metadata={"threadx/schema": "raw_1m"})
    def corrupt_raw_1m() -> pd.DataFrame:
        bad = storage.read_partition(path)
        bad.loc[5, "high"] = bad.loc[5, "low"] - 1.0
        return bad

    io_manager = defs.resources["io_manager"]
    with pytest.raises(ValueError, match="OHLC incoherent"):
        dg.materialize([corrupt_raw_1m], partition_key=key("BTCUSDT", "2024-01"), instance=instance,
                       resources={"io_manager": io_manager})
    assert path.read_bytes() == before
